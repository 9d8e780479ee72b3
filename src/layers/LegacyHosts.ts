/**
 * TRANSITIONAL (issue 13, until the core part's `Hosts` layer is merged): a `Hosts` over the
 * single v1 `Host` tag, so reaping can dispatch through `Hosts.reap` before Host v2 exists.
 * Only `"local"` is known: `reap` delegates to `Host.reap` for local identities and reports
 * any other host as `unavailable`; `acquire` reports every host as `unavailable` (nothing asks
 * it yet: CommandGraph still runs leaves through `Host`). Replace with the real layer on merge.
 */
import { Effect, Layer } from "effect"
import { Host, HostError } from "../services/Host.js"
import { Hosts } from "../services/Hosts.js"

const unknown = (name: string, what: string) =>
  new HostError({ reason: "unavailable", message: `No host "${name}" is configured in this troupe, so ${what}.`, code: 1 })

/** `Hosts` with only the local host, over the v1 `Host`. */
export const layer: Layer.Layer<Hosts, never, Host> = Layer.effect(
  Hosts,
  Effect.map(Host, (host) => ({
    acquire: (on: string) => Effect.fail(unknown(on, "a leaf cannot run there")),
    reap: (identity) => (identity.host === "local" ? host.reap(identity) : Effect.fail(unknown(identity.host, "its leftover processes cannot be reaped")))
  }))
)
