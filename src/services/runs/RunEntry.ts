/**
 * The in-memory state of an active run, shared by the Supervisor's parts (lifecycle, access,
 * logs, retention), and the view of a run that messaging needs ({@link RunBrief}).
 */
import type { ReportingPersistence } from "../internal/ReportPersistence.js"
import type { Store } from "../Store.js"
import type { Deferred } from "effect"
import type { ActorsError, RunInfo, RunState } from "../../domain/Run.js"
import type { DeliveryRegistration } from "../delivery/DeliveryAdapter.js"
import type { PreparedRun } from "./RunKind.js"

/** In-memory state of an active run. */
export interface Entry {
  readonly id: string
  readonly owner: string
  generation: string
  /** Set by kill/cancel before the fiber is interrupted: the stop is intentional. */
  intent: "kill" | "cancel" | undefined
  /** Set once the terminal state is being written: later kills and interrupts change nothing. */
  finished: boolean
  /** Completes with the final record once the run is terminal (across restarts). */
  readonly done: Deferred.Deferred<RunInfo, ActorsError>
  progress: { phase: string; active: number; completed: number; failures: Array<string> }
  /** The run's state directory. */
  readonly stateDir: string
  /** The run that spawned this one (token callers), if any. */
  readonly parent: string | undefined
  /** The recipe's mailbox contract, if any. */
  readonly mailbox: unknown
  /** What the run's kind prepared: its executor, delivery registration and live input. */
  readonly prepared: PreparedRun
}

/** Active runs by id. */
export type Entries = Map<string, Entry>

/** A run as messaging sees it (see `Supervisor.brief`). */
export interface RunBrief {
  readonly id: string
  readonly owner: string
  readonly parent: string | undefined
  readonly state: RunState
  readonly stateDir: string
  readonly generation: string
  readonly mailbox: unknown
  /** The delivery adapter the run's kind registered for its inbox messages. */
  readonly delivery: DeliveryRegistration
}

/** The store as the Supervisor's parts see it: persistence faults reported as `ActorsError` `persistence`. */
export type RunStore = ReportingPersistence<Store>
