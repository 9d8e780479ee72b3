/**
 * The `stdin-jsonl` delivery adapter (SPEC-messaging §4): each envelope as one JSON line on
 * the run's live input (for a `template` run, the first leaf's stdin), in order.
 * `delivered` once queued for the pipe (its buffer holds what the process has not read yet);
 * `run_not_running` when the run has no live input any more. Nothing to redeliver: a line is
 * either queued for the pipe or the run is gone.
 */
import { Effect } from "effect"
import type { Mailbox } from "../Mailbox.js"
import { type DeliveryAdapter, delivered, queued } from "./DeliveryAdapter.js"

const utf8 = new TextEncoder()

export interface StdinJsonlDeliveryDeps {
  readonly mailbox: Mailbox
  /** Offers bytes to the run's live input; false when it has none (run not active). */
  readonly writeInput: (runId: string, bytes: Uint8Array) => Effect.Effect<boolean>
}

export const make = ({ mailbox, writeInput }: StdinJsonlDeliveryDeps): DeliveryAdapter => ({
  name: "stdin-jsonl",
  deliver: (envelope, { runId }) =>
    Effect.gen(function* () {
      const written = yield* writeInput(runId, utf8.encode(JSON.stringify(envelope) + "\n"))
      if (!written) return queued("run_not_running")
      // Let the run's stdin feeder write the line before the store update, so the actor
      // reads it a store round trip sooner.
      yield* Effect.yieldNow()
      yield* mailbox.markDelivered(envelope.id, "stdin-jsonl")
      return delivered
    }),
  redeliver: Effect.void
})
