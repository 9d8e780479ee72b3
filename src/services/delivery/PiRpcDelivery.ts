/**
 * The `pi-rpc` delivery adapter (SPEC-messaging §4, SPEC-vers §5): an `agent` run's inbox
 * messages reach its Pi session. Each envelope goes whole, in order, onto the run's live input;
 * the agent kind (runs/AgentRun.ts) turns it into Pi's RPC command — `task.prompt` → `prompt`
 * (a follow-up while a task streams), `agent.steer` → `steer`, `agent.follow_up` →
 * `follow_up`, `agent.abort` → `abort`, any other type → a prompt naming it. `delivered` once
 * queued for the session (messages wait there while Pi restarts); `run_not_running` when the
 * run has no live input any more. Nothing to redeliver.
 */
import { Effect } from "effect"
import type { Mailbox } from "../Mailbox.js"
import { type DeliveryAdapter, delivered, queued } from "./DeliveryAdapter.js"

const utf8 = new TextEncoder()

export interface PiRpcDeliveryDeps {
  readonly mailbox: Mailbox
  /** Offers bytes to the run's live input; false when it has none (run not active). */
  readonly writeInput: (runId: string, bytes: Uint8Array) => Effect.Effect<boolean>
}

export const make = ({ mailbox, writeInput }: PiRpcDeliveryDeps): DeliveryAdapter => ({
  name: "pi-rpc",
  deliver: (envelope, { runId }) =>
    Effect.gen(function* () {
      const written = yield* writeInput(runId, utf8.encode(JSON.stringify(envelope)))
      if (!written) return queued("run_not_running")
      yield* mailbox.markDelivered(envelope.id, "pi-rpc")
      return delivered
    }),
  redeliver: Effect.void
})
