/**
 * What swarms and lieutenants read of an `agent` run through `Actors` (so they work the same
 * in-process and over the daemon): its status with the agent fold (`inspect … status`), when
 * its last task arrived (its inbox), whether a task is in flight, and readiness. Also the VM
 * port they provision through ({@link SwarmVms}: the daemon's VM client satisfies it).
 */
import { Clock, Duration, Effect, Option, Schema } from "effect"
import type { AgentStatus } from "../../domain/AgentStatus.js"
import type { ActorsError } from "../../domain/Run.js"
import { AgentRunStatus, SwarmError, type WorkerState } from "../../domain/Swarm.js"
import type { VmTargetState } from "../../domain/Vers.js"
import type { VmCreateHow, VmEntry, VmRecord, VmsError } from "../../domain/Vms.js"
import type { ActorsShape } from "../Actors.js"

/**
 * The VM operations a swarm or lieutenant needs (the daemon client's `VmsClient` has this
 * shape). `create` with `run`: the VM is owned by that run and deleted when it ends.
 */
export interface SwarmVms {
  readonly create: (request: { readonly how: VmCreateHow; readonly run?: string | undefined; readonly keep?: boolean | undefined; readonly wait?: boolean | undefined }) => Effect.Effect<VmRecord, VmsError>
  readonly delete: (vmId: string) => Effect.Effect<unknown, VmsError>
  readonly setState: (vmId: string, state: VmTargetState) => Effect.Effect<VmEntry, VmsError>
}

/** An `Actors` failure as a swarm error (its sentence kept). */
export const fromActors = (e: ActorsError): SwarmError =>
  new SwarmError({ reason: e.reason === "not_found" ? "not_found" : e.reason === "unavailable" ? "unavailable" : e.reason === "invalid" ? "invalid" : "failed", message: e.message })

/** A VM failure as a swarm error, naming the step. */
export const fromVms = (what: string) => (e: VmsError): SwarmError => new SwarmError({ reason: "failed", message: `${what}: ${e.message.replace(/[.\s]+$/, "")}` })

const decodeStatus = Schema.decodeUnknownOption(AgentRunStatus)

/** The run's status with its agent fold; none when the run does not exist (or is not visible). */
export const readStatus = (actors: ActorsShape, run: string): Effect.Effect<Option.Option<AgentRunStatus>, SwarmError> =>
  actors.inspect(`run:${run}`, "status").pipe(
    Effect.map((view) => decodeStatus(view.data)),
    Effect.catchTag("ActorsError", (e) => (e.reason === "not_found" ? Effect.succeed(Option.none()) : Effect.fail(fromActors(e))))
  )

/** Message types that start or extend a task. */
const taskTypes: ReadonlySet<string> = new Set(["task.prompt", "agent.follow_up"])

/** When the run's newest task message was stored (epoch ms), 0 when none. */
export const lastTaskAt = (actors: ActorsShape, run: string): Effect.Effect<number, SwarmError> =>
  actors.inboxList(`run:${run}`, { limit: 20 }).pipe(
    Effect.map((records) => records.reduce((at, r) => (taskTypes.has(r.envelope.type) && r.created_at > at ? r.created_at : at), 0)),
    Effect.catchTag("ActorsError", (e) => (e.reason === "not_found" ? Effect.succeed(0) : Effect.fail(fromActors(e))))
  )

/** When the agent last settled a task (epoch ms, daemon clock), 0 when never (in this generation). */
export const lastSettledAt = (agent: AgentStatus): number =>
  agent.events.reduce((at, e) => (e.type === "agent_settled" && e.at > at ? e.at : at), 0)

const terminal: ReadonlySet<string> = new Set(["done", "failed", "killed", "cancelled", "lost", "timeout"])

/** Whether the run has ended. */
export const isTerminal = (state: string) => terminal.has(state)

/**
 * A task is in flight when the run is up and its agent streams, or a task message arrived after
 * its last settled task (sent, not yet started: `wait` right after `task` must not miss it).
 */
export const inFlight = (status: AgentRunStatus, taskAt: number): boolean => {
  if (isTerminal(status.state) || status.agent === null || status.agent.state === "exited") return false
  return status.agent.state === "streaming" || taskAt > lastSettledAt(status.agent)
}

/** The state a swarm shows for a worker (or a lieutenant, `paused` aside). */
export const workerState = (status: AgentRunStatus, working: boolean): WorkerState => {
  if (status.state === "killed" || status.state === "cancelled" || status.state === "done") return "stopped"
  if (isTerminal(status.state)) return "failed"
  if (status.agent === null || status.agent.state === "starting") return "starting"
  if (status.agent.state === "exited") return "failed"
  return working ? "working" : "idle"
}


/** How often readiness and `Swarms.wait` look at an agent again (a look reads its small status file). */
export const probeInterval = Duration.millis(100)

/**
 * Waits until the agent run is ready (Pi answered `get_state`, and `set_model` when a model was
 * asked: the agent's state leaves `starting`), within `timeoutMs`.
 * @fails SwarmError `failed` with the run's own sentence when it ended first, or a timeout sentence.
 */
export const awaitReady = (actors: ActorsShape, run: string, timeoutMs: number): Effect.Effect<void, SwarmError> =>
  Effect.gen(function* () {
    const deadline = (yield* Clock.currentTimeMillis) + timeoutMs
    for (;;) {
      const status = yield* readStatus(actors, run)
      if (Option.isSome(status)) {
        const s = status.value
        if (isTerminal(s.state) || s.agent?.state === "exited") {
          return yield* new SwarmError({ reason: "failed", message: `run:${run} ended before it was ready: ${s.error ?? s.agent?.error ?? s.state}` })
        }
        if (s.agent !== null && s.agent.state !== "starting") return
      }
      if ((yield* Clock.currentTimeMillis) >= deadline) {
        return yield* new SwarmError({ reason: "failed", message: `run:${run} was not ready within ${timeoutMs} ms (Pi never answered get_state)` })
      }
      yield* Effect.sleep(probeInterval)
    }
  })
