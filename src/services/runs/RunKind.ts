/**
 * Run kinds (ARCHITECTURE.md "Hosts, leaf processes and run kinds"): the Supervisor owns a
 * run's lifecycle — ids, generations, states, restart policy, events, retention, reaping —
 * and a {@link RunKind} says what the run executes. `template` runs a CommandGraph plan (what
 * pi-actors' detached runner did); `agent` runs a Pi session in RPC mode (AgentRun.ts) (a long-lived
 * process, stdin = command channel, stdout = event stream; SPEC-vers §5), as pi-vers'
 * lieutenants and swarm workers did. A kind plugs in by being listed in `RunKinds.ts`.
 */
import type { Effect, Stream } from "effect"
import type { AgentStatus } from "../../domain/AgentStatus.js"
import type { GraphEvent } from "../../domain/Plan.js"
import type { Recipe } from "../../domain/Recipe.js"
import type { ActorsError } from "../../domain/Run.js"
import type { WorktreeRecord } from "../../domain/Worktree.js"
import type { DeliveryRegistration, MailboxContract } from "../delivery/DeliveryAdapter.js"

/** What a spawn hands a kind to check and prepare, before anything is written or started. */
export interface RunSetup {
  readonly id: string
  /** The recipe, when spawned from one. */
  readonly recipe: Recipe | undefined
  /** What to run: the recipe's template, or the request's inline template. */
  readonly template: unknown
  /** Values with the runtime's injected names (`run_id`, `state_dir`, …) already bound. */
  readonly values: Readonly<Record<string, unknown>>
  /** Absolute working directory of the run. */
  readonly cwd: string
  /** The user's home directory (`~`). */
  readonly home: string
  /** Where leaves without their own `on` run (canonical text, e.g. `vm:<id>`); undefined = local. */
  readonly on?: string | undefined
  readonly mailbox: MailboxContract | undefined
  /**
   * The run's git worktree when it is isolated (`isolation`; `cwd` is then inside it): made
   * once the spawn is accepted, after `prepare`. Undefined for a run without isolation.
   */
  readonly worktree?: WorktreeRecord | undefined
  /**
   * Set when a restarted owner re-attaches to a run it did not start (an agent on a VM, whose
   * Pi outlived the daemon): what the run persisted (the agent's status). The first generation
   * re-attaches instead of starting; other kinds are never resumed.
   */
  readonly resume?: AgentStatus | undefined
  /** What an `agent` spawn asked for (`task`, `model`, `pi`); other kinds ignore it. */
  readonly agent?: { readonly task?: string | undefined; readonly model?: string | undefined; readonly pi?: string | undefined } | undefined
}

/**
 * Something a running generation reports to its owner while it runs (an agent's settled task):
 * recorded as a run event, published on the owner's session stream (a follow-up) with `text`,
 * and posted to the run's room `room:<id>` as `roomType` with `data` as body.
 */
export interface RunReport {
  readonly type: string
  readonly text: string
  readonly summary: string
  readonly data: Record<string, unknown>
  readonly roomType: string
}

/**
 * Process-level events of a run (`command.start` with the process identity, `command.done`):
 * the Supervisor records processes for reaping, progress and lifecycle events from them.
 */
export type RunEvent = GraphEvent

/** One generation of a started run, as its kind executes it. */
export interface StartedRun {
  readonly id: string
  readonly owner: string
  /** The generation being executed (changes on restart). */
  readonly generation: string
  /** The run's state directory. */
  readonly stateDir: string
  /** Environment for every process of the run (`TROUPE_RUN`, `TROUPE_TOKEN`, …). */
  readonly env: Readonly<Record<string, string>>
  /** The run's live log files (`stdout.log`, `stderr.log`) and their size limit in bytes (default 64 MiB). */
  readonly logs: { readonly stdout: string; readonly stderr: string; readonly maxBytes?: number | undefined }
  /** Directory for spill files. */
  readonly spillDir: string
  /** Sink of process events; never fails (store faults are logged by the Supervisor). */
  readonly onEvent: (event: RunEvent) => Effect.Effect<void>
  /** Reports to the owner and the run's room (see {@link RunReport}); never fails (faults are logged). */
  readonly report: (report: RunReport) => Effect.Effect<void>
}

/** How one generation ended: `done` or `failed`, the exit code and the tails of its output. */
export interface GenerationResult {
  readonly state: "done" | "failed"
  readonly code: number
  /** One line on why it failed (when `failed`). */
  readonly error?: string | undefined
  /** Tail of the final stdout / stderr (at most 64 KiB each, UTF-8 safe). */
  readonly stdout: string
  readonly stderr: string
}

/**
 * A live input channel into a running process (`stdin-jsonl`; `pi-rpc`: one envelope per offer): bytes
 * offered here reach the process in order while it runs.
 */
export interface RunInput {
  /** False when the channel is closed (the run ended). */
  readonly offer: (bytes: Uint8Array) => Effect.Effect<boolean>
  /** What the process reads; consumed by the kind's `execute`. */
  readonly source: Stream.Stream<Uint8Array>
  /** Closes the channel; called once when the run's fiber ends. */
  readonly close: Effect.Effect<void>
}

/** A run a kind accepted: what it executes per generation, and how messages reach it. */
export interface PreparedRun {
  /** The delivery adapter this run registers for its inbox messages. */
  readonly delivery: DeliveryRegistration
  /** The run's live input, when its delivery writes into the running process. */
  readonly input?: RunInput | undefined
  /**
   * Executes one generation to its end. Interrupting it stops every process it started before
   * the interruption completes. Failures are results (`failed`), not errors.
   */
  readonly execute: (run: StartedRun) => Effect.Effect<GenerationResult>
}

/** One kind of run. */
export interface RunKind {
  /** The name spawn requests use (`kind`), e.g. `"template"`. */
  readonly name: string
  /**
   * Checks and prepares a run: everything that can be validated is, before the Supervisor
   * writes or starts anything. Acquires nothing that needs releasing (the spawn may still
   * fail afterwards, e.g. a duplicate id): processes start in `execute`.
   * @fails ActorsError `invalid` with a sentence naming what to fix.
   */
  readonly prepare: (setup: RunSetup) => Effect.Effect<PreparedRun, ActorsError>
  /**
   * The delivery a run of this kind registers for a mailbox contract (also for runs read back
   * from the store, which keep no prepared state).
   */
  readonly delivery: (mailbox: MailboxContract | undefined) => DeliveryRegistration
}
