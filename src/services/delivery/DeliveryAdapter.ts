/**
 * Delivery adapters (SPEC-messaging §4): how a message stored in a run's inbox reaches the
 * running process. One interface, one implementation per way of pushing: `fifo` (a line on
 * `{state_dir}/control.fifo`), `stdin-jsonl` (a JSON line on the first leaf's stdin), `pull`
 * (nothing is pushed; the actor reads with `inbox next`), and `pi-rpc` (a Pi agent's RPC
 * command channel, PiRpcDelivery.ts), which `agent` runs register.
 *
 * A run's kind registers which adapter its inbox messages use ({@link DeliveryRegistration});
 * the Router looks the adapter up per run. pi-actors had only the FIFO (and called branch
 * messages "hints, not guarantees"); pi-vers spoke to agents over RPC only.
 */
import type { Effect } from "effect"
import type { Envelope } from "../../domain/Envelope.js"
import type { ActorsError } from "../../domain/Run.js"

/** The adapters a run may register; `pi-rpc` reaches agent runs only. */
export type DeliveryName = "fifo" | "stdin-jsonl" | "pull" | "pi-rpc"

/** A recipe's declared mailbox contract (from the run's recipe snapshot). */
export interface MailboxContract {
  readonly accepts?: ReadonlyArray<string> | undefined
  readonly emits?: ReadonlyArray<string> | undefined
  readonly delivery?: "fifo" | "stdin-jsonl" | "pi-rpc" | undefined
}

/**
 * Which adapter a run's inbox messages use, as its kind registered it. `declared: false` when
 * the recipe declared no `mailbox.delivery` and the kind chose a default: for `fifo` that
 * means "FIFO when the run made `control.fifo`, else pull" (pi-actors scripts make the FIFO
 * themselves; others read with `inbox next`).
 */
export interface DeliveryRegistration {
  readonly adapter: DeliveryName
  readonly declared: boolean
}

/** Where one stored inbox message goes: its inbox address and run, and the run's registration. */
export interface DeliveryTarget {
  /** `run:<id>` or `branch:<run>/<label>`. */
  readonly address: string
  readonly runId: string
  readonly registration: DeliveryRegistration
}

/**
 * How a push went. `delivered`: the process has it (or its pipe does) and the record is marked
 * `delivered`. Otherwise the message stays `queued` in the store with a reason:
 * `no_live_reader` (retried by the adapter's redelivery while the run is active), `pull_only`
 * (nothing pushes; `inbox next` reads it), `run_not_running`, `delivery_unavailable` (the run
 * registered an adapter that is not provided for it, e.g. `pi-rpc` declared by a template run).
 */
export type DeliveryOutcome =
  | { readonly _tag: "Delivered" }
  | { readonly _tag: "Queued"; readonly reason: "no_live_reader" | "pull_only" | "run_not_running" | "delivery_unavailable" }

export const delivered: DeliveryOutcome = { _tag: "Delivered" }
export const queued = (reason: Extract<DeliveryOutcome, { _tag: "Queued" }>["reason"]): DeliveryOutcome => ({ _tag: "Queued", reason })

/** One way of pushing inbox messages to a running process. */
export interface DeliveryAdapter {
  readonly name: DeliveryName
  /**
   * Pushes `envelope`, already stored `queued` in `target.address`, to the run; marks the
   * record delivered when it was.
   * @fails ActorsError from the store or the run lookup.
   */
  readonly deliver: (envelope: Envelope, target: DeliveryTarget) => Effect.Effect<DeliveryOutcome, ActorsError>
  /**
   * Redelivery hook, run every {@link redeliveryMs}: retries what this adapter left queued with
   * `no_live_reader`, and forgets addresses whose run ended (their records stay queued in the
   * store, visible in `inbox`). Never fails.
   */
  readonly redeliver: Effect.Effect<void>
}

/** Retry period for queued pushes of active runs: 250 ms. */
export const redeliveryMs = 250
