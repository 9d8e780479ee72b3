/**
 * The supervisor of a Pi on a VM (SPEC-vers §5 "Remote agent process"; docs/agents.md "Agents
 * on VMs"): a small POSIX `sh` script, uploaded over SFTP like the exec broker (vmhost/Install.ts)
 * to `.troupe/agents/supervisor-<12 hex>.sh` under the login home, and started under `setsid` so
 * it outlives the SSH connection that started it. In the agent directory
 * (`.troupe/agents/<run>/`) it keeps:
 *
 * | file | what |
 * | --- | --- |
 * | `in.fifo` | Pi's stdin (the supervisor holds it open read-write, so Pi never sees EOF between writers) |
 * | `events.jsonl` | Pi's stdout, appended (responses and events; troupe reads it from a byte offset) |
 * | `stderr.log` | Pi's stderr |
 * | `pid` | the supervisor's pid = its process group and session id (written first) |
 * | `exit` | Pi's exit status, written when Pi ends (then the supervisor exits) |
 *
 * Pi's environment comes from the env file (`/etc/profile.d/troupe-agent.sh` by default), which
 * the supervisor sources: secrets never appear on a command line.
 */
import { createHash } from "node:crypto"

/** The script: `sh <script> <dir> <env file> <cwd> <pi command line>`. */
export const supervisorScript = `#!/bin/sh
# troupe agent supervisor: sh <this> <agent dir> <env file> <cwd> <pi command line>
# Runs "<pi> --mode rpc --no-session" with stdin from <dir>/in.fifo and stdout appended to
# <dir>/events.jsonl; start it under setsid so it survives the SSH connection.
dir=$1 envfile=$2 cwd=$3 pi=$4
if [ -r "$envfile" ]; then . "$envfile"; fi
cd "$dir" || exit 1
dir=$(pwd)
rm -f in.fifo exit exit.tmp && mkfifo -m 600 in.fifo || exit 1
: >events.jsonl
: >stderr.log
echo $$ >pid.tmp && mv pid.tmp pid
trap '' HUP
if ! cd "$cwd"; then echo 126 >"$dir/exit"; exit 1; fi
exec 3<>"$dir/in.fifo"
sh -c "exec $pi --mode rpc --no-session" <&3 >>"$dir/events.jsonl" 2>>"$dir/stderr.log"
echo $? >"$dir/exit.tmp" && mv "$dir/exit.tmp" "$dir/exit"
`

/** Where the script goes on a VM, relative to the login home: `.troupe/agents/supervisor-<first 12 hex of its sha256>.sh`. */
export const supervisorPath = `.troupe/agents/supervisor-${createHash("sha256").update(supervisorScript).digest("hex").slice(0, 12)}.sh`

/** The agent directory of run `runId` on a VM, relative to the login home. */
export const agentDir = (runId: string) => `.troupe/agents/${runId}`

/** Where the agent's environment goes on a VM (SPEC-vers §5), unless configured otherwise. */
export const defaultEnvFile = "/etc/profile.d/troupe-agent.sh"
