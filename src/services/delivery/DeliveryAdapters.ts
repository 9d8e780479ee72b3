/**
 * The delivery adapters this runtime provides, by name, and the per-run dispatch: a stored
 * inbox message goes to the adapter its run registered. `pi-rpc` reaches an agent run's Pi
 * session (PiRpcDelivery.ts); a template run declaring it, or any run registering an adapter that is not here
 * gets an explicit outcome — the message stays queued with `delivery_unavailable` (readable
 * with `inbox next`) — never a silent fall-through to pull.
 */
import type { FileSystem, Path } from "@effect/platform"
import { Effect } from "effect"
import type { Envelope } from "../../domain/Envelope.js"
import type { ActorsError } from "../../domain/Run.js"
import type { Mailbox } from "../Mailbox.js"
import type { RunBrief } from "../runs/RunEntry.js"
import { type DeliveryAdapter, type DeliveryName, type DeliveryOutcome, type DeliveryTarget, queued } from "./DeliveryAdapter.js"
import * as FifoDelivery from "./FifoDelivery.js"
import * as PiRpcDelivery from "./PiRpcDelivery.js"
import * as PullDelivery from "./PullDelivery.js"
import * as StdinJsonlDelivery from "./StdinJsonlDelivery.js"

export interface DeliveryAdaptersDeps {
  readonly mailbox: Mailbox
  readonly fs: FileSystem.FileSystem
  readonly path: Path.Path
  /** The run as messaging sees it (the runtime's view: every session). */
  readonly brief: (runId: string) => Effect.Effect<RunBrief, ActorsError>
  /** Offers bytes to a run's live input; false when it has none. */
  readonly writeInput: (runId: string, bytes: Uint8Array) => Effect.Effect<boolean>
}

/** `fifo`, `stdin-jsonl`, `pi-rpc` and `pull`, with a dispatcher and one redelivery pass over all of them. */
export const make = (deps: DeliveryAdaptersDeps) =>
  Effect.gen(function* () {
    const list: ReadonlyArray<DeliveryAdapter> = [
      yield* FifoDelivery.make(deps),
      StdinJsonlDelivery.make(deps),
      PiRpcDelivery.make(deps),
      PullDelivery.adapter
    ]
    const byName = new Map<DeliveryName, DeliveryAdapter>(list.map((a) => [a.name, a]))

    /**
     * Pushes a stored, queued message through the adapter its run registered.
     * @fails ActorsError from the adapter (store, run lookup).
     */
    const deliver = (envelope: Envelope, target: DeliveryTarget): Effect.Effect<DeliveryOutcome, ActorsError> => {
      const adapter = byName.get(target.registration.adapter)
      // Only the agent kind provides `pi-rpc` (registered as its own choice, not declared):
      // a recipe declaring it on a template run has no Pi session to reach.
      const unavailable = adapter === undefined || (adapter.name === "pi-rpc" && target.registration.declared)
      return unavailable ? Effect.succeed(queued("delivery_unavailable")) : adapter.deliver(envelope, target)
    }

    /** Every adapter's redelivery hook, one after another. */
    const redeliver = Effect.forEach(list, (a) => a.redeliver, { discard: true })

    return { deliver, redeliver, names: [...byName.keys()] } as const
  })
