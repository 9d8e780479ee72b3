/**
 * The `pull` delivery adapter (SPEC-messaging §4): nothing is pushed. Messages stay queued
 * (`pull_only`) until the actor reads them with `inbox next` (`claim` to take one
 * exclusively), as pi-actors' pull readers did.
 */
import { Effect } from "effect"
import { type DeliveryAdapter, queued } from "./DeliveryAdapter.js"

export const adapter: DeliveryAdapter = {
  name: "pull",
  deliver: () => Effect.succeed(queued("pull_only")),
  redeliver: Effect.void
}
