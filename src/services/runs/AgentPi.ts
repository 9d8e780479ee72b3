/**
 * Starting the Pi of one `agent` generation (AgentRun.ts), locally or on a VM, as one shape:
 * the session, what identifies the process (for the run's process rows and reaping), and — on
 * a VM — the mark of each event (`PiRpc.StreamMark`) and the role metadata.
 *
 * On a VM (`on: vm:<id>`, docs/agents.md "Agents on VMs"): the environment is written over SFTP
 * to the env file (0600) before Pi starts — `VERS_VM_ID`, role metadata (`VERS_AGENT_ROLE`,
 * `VERS_AGENT_NAME`, `VERS_PARENT_AGENT`), `GIT_EDITOR=true`, the run's `TROUPE_RUN` /
 * `TROUPE_ADDRESS`, and the Vers variables pi-vers passed to its agents when they are set
 * (`VERS_API_KEY`, `LLM_PROXY_KEY`, `VERS_INFRA_URL`, `VERS_GOLDEN_COMMIT_ID`, `PI_VERS_HOME`,
 * `SERVICES_DIR`); then `PiRpc.startRemote` starts the supervisor. Closing the scope stops it
 * (`PiRpc.stopRemote`: TERM, grace, KILL of its process group). Pi's cwd is the login home.
 */
import { Effect } from "effect"
import type { AgentRemote } from "../../domain/AgentStatus.js"
import { PiRpcClosed } from "../../domain/PiRpc.js"
import { VmId } from "../../domain/Vers.js"
import { leafMarkerVariable, readStat } from "../internal/ProcScan.js"
import { agentDir, attachRemote, type PiRpcSession, spawnLocal, startRemote, stopRemote, type StreamMark } from "../PiRpc.js"
import type { AgentVmsShape } from "./AgentVms.js"

/** The Vers variables an agent on a VM gets when they are set (SPEC-vers §5). */
export const agentVersVariables = ["VERS_API_KEY", "LLM_PROXY_KEY", "VERS_INFRA_URL", "VERS_GOLDEN_COMMIT_ID", "PI_VERS_HOME", "SERVICES_DIR"] as const

/** A started Pi, local or remote. */
export interface AgentPi {
  readonly session: PiRpcSession
  /** `local` or `vm:<id>`. */
  readonly host: string
  /** Pi's pid (local) or its supervisor's (VM); also the process group. */
  readonly pid: number
  readonly startTime: number
  readonly argv: ReadonlyArray<string>
  /** On a VM: the mark after each event, taken once per event in order. */
  readonly nextMark?: Effect.Effect<StreamMark> | undefined
  /** Starts the event flow (after the caller subscribed). */
  readonly open: Effect.Effect<void>
  readonly remote?: AgentRemote | undefined
}

/** What one generation asks for. */
export interface AgentPiRequest {
  readonly runId: string
  readonly owner: string
  /** Pi's executable (local) or command line (VM). */
  readonly pi: string
  readonly cwd: string
  /** `vm:<id>`, or undefined for local. */
  readonly on: string | undefined
  readonly env: Readonly<Record<string, string | undefined>>
  readonly marker: string
  readonly graceMs: number
  /**
   * Re-attach to the agent a previous owner started on the VM (a daemon restart), reading its
   * events after `from`, instead of starting one; `streaming` when a task was in progress.
   */
  readonly attach?: { readonly remote: AgentRemote; readonly from: StreamMark; readonly streaming: boolean } | undefined
}

const defined = (env: Readonly<Record<string, string | undefined>>) =>
  Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined))

/** The env file's variables for an agent on VM `vm` (see the module doc). */
export const remoteEnvironment = (req: AgentPiRequest, vm: string, remote: AgentRemote): Record<string, string> => {
  const pick = (names: ReadonlyArray<string>) => defined(Object.fromEntries(names.map((n) => [n, req.env[n]])))
  return {
    ...pick(agentVersVariables),
    ...pick(["TROUPE_RUN", "TROUPE_ADDRESS"]),
    VERS_VM_ID: vm,
    VERS_AGENT_ROLE: remote.role,
    VERS_AGENT_NAME: remote.name,
    VERS_PARENT_AGENT: remote.parent,
    GIT_EDITOR: "true",
    [leafMarkerVariable]: req.marker
  }
}

/**
 * Starts Pi for the scope (see the module doc).
 * @fails PiRpcClosed when it cannot be started (the sentence says why).
 */
export const startAgentPi = (req: AgentPiRequest, vms: AgentVmsShape | undefined) =>
  Effect.gen(function* () {
    if (req.on === undefined || req.on === "local") {
      const pi = yield* spawnLocal({ pi: req.pi, cwd: req.cwd, env: { ...req.env, [leafMarkerVariable]: req.marker }, graceMs: req.graceMs })
      return {
        session: pi,
        host: "local",
        pid: pi.pid,
        startTime: readStat(pi.pid)?.startTime ?? 0,
        argv: [req.pi, "--mode", "rpc", "--no-session"],
        open: Effect.void
      } satisfies AgentPi
    }
    if (vms === undefined) return yield* new PiRpcClosed({ message: `cannot start Pi on ${req.on}: this runtime has no VM access` })
    const ssh = yield* vms.ssh.pipe(Effect.mapError((e) => new PiRpcClosed({ message: `cannot start Pi on ${req.on}: ${e.message}` })))
    const vmId = VmId.make(req.on.slice("vm:".length))
    const remote: AgentRemote = req.attach?.remote ?? { vm: vmId, dir: agentDir(req.runId), pid: 0, role: "agent", name: req.runId, parent: req.owner }
    const agent = yield* Effect.acquireRelease(
      req.attach === undefined
        ? startRemote(ssh, { vmId, dir: remote.dir, pi: req.pi, env: remoteEnvironment(req, vmId, remote), envFile: vms.envFile })
        : Effect.succeed({ vmId, dir: remote.dir, pid: remote.pid, startTime: remote.start_time }),
      (agent) => stopRemote(ssh, agent, req.graceMs)
    )
    const session = yield* attachRemote(ssh, agent, { from: req.attach?.from, streaming: req.attach?.streaming })
    return {
      session,
      host: req.on,
      pid: agent.pid,
      startTime: agent.startTime ?? 0,
      argv: [req.pi, "--mode", "rpc", "--no-session"],
      nextMark: session.nextMark,
      open: session.open,
      remote: { ...remote, pid: agent.pid, ...(agent.startTime === undefined ? {} : { start_time: agent.startTime }) }
    } satisfies AgentPi
  })
