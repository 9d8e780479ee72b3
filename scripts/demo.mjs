// `npm run demo`: the main job on real input, through the bundled CLI.
// 1. Runs the packaged repo-health recipe over this repository in the foreground.
// 2. Starts the daemon on a fresh TROUPE_HOME, spawns two actors (the repo-health pipeline and
//    a long-running ticker), lists and inspects them, kills the ticker, waits for the pipeline
//    and prints where its logs and artifacts are; then stops the daemon.
import { spawnSync } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const bin = join(root, "dist/bin/troupe.js")
const home = process.env.TROUPE_DEMO_HOME ?? mkdtempSync(join(tmpdir(), "troupe-demo-"))
const env = { ...process.env, TROUPE_HOME: home, TROUPE_SESSION: "demo" }

const step = (title, args, { allow = [0] } = {}) => {
  process.stderr.write(`\n$ troupe ${args.join(" ")}    # ${title}\n`)
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, stdio: "inherit", env })
  if (!allow.includes(r.status)) {
    spawnSync(process.execPath, [bin, "daemon", "stop"], { env, stdio: "inherit" })
    process.exit(r.status ?? 1)
  }
}

step("the planned leaves of the pipeline", ["run", "repo-health", "--dry-run"])
step("run it in the foreground: a parallel fan-out over git, then a merge step", ["run", "repo-health", "top=8"])

process.stderr.write(`\n# Actors: TROUPE_HOME=${home}\n`)
step("start the daemon that owns the runs", ["daemon", "start"])
step("spawn the pipeline as an actor", ["spawn", "repo-health", "top=5", "--as", "health"])
step("spawn a long-running actor", ["spawn", "--template", "sh -c {script}", "script=while true; do date +%T; sleep 0.2; done", "--as", "ticker"])
step("list this session's runs", ["ps"])
step("inspect the ticker: state, pid, progress", ["inspect", "run:ticker"])
step("kill it: SIGTERM to its process group, grace, SIGKILL", ["kill", "run:ticker"])
step("wait for the pipeline: its report, and its exit code", ["wait", "run:health"])
step("where its logs and artifacts are", ["inspect", "run:health", "artifacts"])
step("every file of its state directory", ["inspect", "run:health", "files"])
step("the session's event stream (the pipeline's terminal event)", ["events"])
step("stop the daemon", ["daemon", "stop"])
