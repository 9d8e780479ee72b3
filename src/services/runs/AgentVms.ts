/**
 * `AgentVms`: what the `agent` run kind needs to run Pi on a Vers VM (`spawn --agent --on
 * vm:<id>`; docs/agents.md "Agents on VMs"): the SSH service, built on first use (so local
 * runs never load Vers or ssh2), and where the agent's environment goes on the VM. Optional:
 * without it, agent runs are local only and `--on vm:` is refused with a sentence.
 */
import { Context, type Effect } from "effect"
import type { HostError } from "../Host.js"
import type { SshShape } from "../Ssh.js"

export interface AgentVmsShape {
  /** The SSH service. @fails HostError `unavailable` when Vers is not configured (the sentence says what to set). */
  readonly ssh: Effect.Effect<SshShape, HostError>
  /** The env file on a VM (default `/etc/profile.d/troupe-agent.sh`; a relative path is under the login home). */
  readonly envFile: string
}

export class AgentVms extends Context.Tag("troupe/AgentVms")<AgentVms, AgentVmsShape>() {}
