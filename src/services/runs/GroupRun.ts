/**
 * The `group` run kind: a run that executes nothing and stays `running` until it is killed or
 * stopped. It anchors a group of other runs — a swarm (docs/swarms.md): its id names the
 * swarm, `room:<id>` carries the workers' posts, and VMs it owns (`troupe vm create --run`)
 * are deleted when it ends. Messages to it stay queued for `inbox next` (`pull`).
 */
import { Effect } from "effect"
import { ActorsError } from "../../domain/Run.js"
import type { DeliveryRegistration } from "../delivery/DeliveryAdapter.js"
import type { RunKind } from "./RunKind.js"

const groupDelivery = (): DeliveryRegistration => ({ adapter: "pull", declared: false })

/** The `group` kind: no template, no task; `execute` waits until the run is interrupted. */
export const make = (): RunKind => ({
  name: "group",
  delivery: groupDelivery,
  prepare: (setup) =>
    setup.template !== undefined || setup.on !== undefined
      ? Effect.fail(new ActorsError({ reason: "invalid", message: "a group run executes nothing: drop the template and --on" }))
      : Effect.succeed({ delivery: groupDelivery(), execute: () => Effect.never })
})
