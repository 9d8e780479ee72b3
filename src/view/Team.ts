/**
 * Swarm workers and lieutenants of a run list, pure: which runs are workers (`values` key
 * `troupe_swarm_worker`: swarm, label) or lieutenants (`troupe_lieutenant`: name), and one
 * status each — `streaming` / `idle` from the agent's own status when the caller read it
 * (`inspect run:<id> status` → `agent.state`), else from the run: `starting`, `failed` (failed
 * or lost), `stopped` (any other end). Corresponds to pi-vers' swarm and lieutenant widgets.
 */
import { Option, Schema } from "effect"
import { isTerminal, type RunInfo } from "../domain/Run.js"
import { LieutenantMeta, lieutenantKey, WorkerMeta, workerKey } from "../domain/Swarm.js"

export type TeamStatus = "starting" | "idle" | "streaming" | "failed" | "stopped"

/** One worker (`group`: its swarm) or lieutenant (`group`: empty). */
export interface TeamMember {
  readonly kind: "worker" | "lieutenant"
  readonly group: string
  readonly name: string
  readonly run: string
  readonly status: TeamStatus
}

const decodeWorker = Schema.decodeUnknownOption(WorkerMeta)
const decodeLieutenant = Schema.decodeUnknownOption(LieutenantMeta)

/** Whether `run` is a swarm worker or a lieutenant (its agent status is worth reading). */
export const isTeamRun = (run: RunInfo): boolean => run.values[workerKey] !== undefined || run.values[lieutenantKey] !== undefined

const statusOf = (run: RunInfo, agent: string | undefined): TeamStatus => {
  if (isTerminal(run.state)) return run.state === "failed" || run.state === "lost" ? "failed" : "stopped"
  if (agent === "streaming" || agent === "idle") return agent
  return agent === "exited" ? "stopped" : run.state === "running" && agent !== "starting" ? "idle" : "starting"
}

/**
 * The workers and lieutenants among `runs`, swarm by swarm (labels sorted), lieutenants last.
 * `agents`: run id → the agent's state (`idle`, `streaming`, …) where known.
 */
export const teamOf = (runs: ReadonlyArray<RunInfo>, agents: ReadonlyMap<string, string> = new Map()): ReadonlyArray<TeamMember> => {
  const members: Array<TeamMember> = []
  for (const run of runs) {
    const worker = decodeWorker(run.values[workerKey])
    if (Option.isSome(worker)) {
      members.push({ kind: "worker", group: worker.value.swarm, name: worker.value.label, run: run.id, status: statusOf(run, agents.get(run.id)) })
      continue
    }
    const lieutenant = decodeLieutenant(run.values[lieutenantKey])
    if (Option.isSome(lieutenant)) {
      members.push({ kind: "lieutenant", group: "", name: lieutenant.value.name, run: run.id, status: statusOf(run, agents.get(run.id)) })
    }
  }
  const rank = (m: TeamMember) => (m.kind === "worker" ? 0 : 1)
  return members.sort((a, b) => rank(a) - rank(b) || a.group.localeCompare(b.group) || a.name.localeCompare(b.name))
}

const glyph: Record<TeamStatus, string> = { starting: "…", idle: "▷", streaming: "▶", failed: "✗", stopped: "■" }

/** `▶w1 streaming` */
const memberText = (m: TeamMember) => `${glyph[m.status]}${m.name} ${m.status}`

/**
 * One line per swarm (`swarm <name>: ▶w1 streaming · ▷w2 idle`) and one for the lieutenants
 * (`lieutenants: ▷scout idle`); empty without any.
 */
export const teamLines = (members: ReadonlyArray<TeamMember>): ReadonlyArray<string> => {
  const swarms = new Map<string, Array<TeamMember>>()
  const lieutenants: Array<TeamMember> = []
  for (const m of members) {
    if (m.kind === "lieutenant") lieutenants.push(m)
    else swarms.set(m.group, [...(swarms.get(m.group) ?? []), m])
  }
  return [
    ...[...swarms].map(([name, ws]) => `swarm ${name}: ${ws.map(memberText).join(" · ")}`),
    ...(lieutenants.length === 0 ? [] : [`lieutenants: ${lieutenants.map(memberText).join(" · ")}`])
  ]
}
