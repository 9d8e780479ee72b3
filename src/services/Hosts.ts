/**
 * `Hosts`: which {@link HostShape} runs a leaf, by the leaf's `on` (ARCHITECTURE.md "Hosts, leaf
 * processes and run kinds"). CommandGraph asks per leaf; the Supervisor's reaping dispatches on
 * the host recorded in each process identity.
 *
 * pi-actors ran every leaf locally; pi-vers ran remote commands with one `ssh` process each.
 * troupe routes both through this one service.
 */
import { Context, Effect, Layer, type Scope } from "effect"
import { Host, HostError, type HostShape, type ProcessIdentity } from "./Host.js"

export class Hosts extends Context.Tag("troupe/Hosts")<Hosts, {
  /**
   * The host named by a leaf's `on` (`"local"`, `"broker"`, `"vm:<id>"`), held for the scope
   * (a host may own a connection or a VM for that long).
   * @fails HostError `unavailable` when no such host is configured, with a sentence naming it.
   */
  readonly acquire: (on: string) => Effect.Effect<HostShape, HostError, Scope.Scope>
  /**
   * Kills what is left of a dead owner's leaf on the host its identity names.
   * @fails HostError `unavailable` when that host is unknown here (reported, never guessed).
   */
  readonly reap: (identity: ProcessIdentity) => Effect.Effect<number, HostError>
}>() {
  /** See {@link layer}: `Hosts.layer({ local: "broker", hosts: { broker } })`. */
  static readonly layer = (options: HostsOptions = {}): Layer.Layer<Hosts, never, Host> => layer(options)
  /** See {@link make}. */
  static readonly make = (local: HostShape, options: HostsOptions = {}) => make(local, options)
}

/**
 * A named host: the host itself, or a scoped acquisition of it (a host that owns a connection
 * or a VM for as long as a leaf holds it).
 */
export type HostEntry = HostShape | Effect.Effect<HostShape, HostError, Scope.Scope>

/** Options of {@link make} / {@link layer}. */
export interface HostsOptions {
  /**
   * Hosts by name besides `local` (`broker`, `vm:<id>`). A layer that builds a host registers
   * it here.
   */
  readonly hosts?: Readonly<Record<string, HostEntry>> | undefined
  /**
   * The name of the host that runs `on: local` leaves (default `"local"`). `"broker"` routes
   * every local leaf through the exec broker (`TROUPE_LOCAL_HOST=broker`). Identities keep the
   * name of the host that really ran the leaf, so reaping still finds it.
   */
  readonly local?: string | undefined
  /**
   * Hosts made on demand, by the part of the name before `:` (or the whole name): `vm` gets
   * `vm:<id>` (a host on that VM), `commit` gets `commit:<id>` and `golden` gets `golden` (a
   * fresh VM for the caller's scope). Checked after `hosts`.
   */
  readonly families?: Readonly<Record<string, HostFamily>> | undefined
}

/** Makes the host `name` (e.g. `vm:<id>`) for the caller's scope. */
export type HostFamily = (name: string) => Effect.Effect<HostShape, HostError, Scope.Scope>

/**
 * Who a host acquired in the current fiber is for: the run executing and its owning session.
 * A family that provisions (a VM restored for `commit:<id>` / `golden`) labels what it makes
 * with them, so the daemon's startup reconciliation finds it again after a crash (a VM whose
 * run is gone is deleted). Empty outside a run (`troupe run` in one process).
 */
export class HostOwner extends Context.Reference<HostOwner>()("troupe/HostOwner", {
  defaultValue: (): { readonly session?: string | undefined; readonly run?: string | undefined } => ({})
}) {}

/** The sentence a missing host fails with, e.g. "Host vm:x is not available: no VM host is configured." */
export const unavailable = (name: string) =>
  new HostError({
    reason: "unavailable",
    code: 1,
    message: `Host ${name} is not available: no ${/^(vm:|commit:|golden$)/.test(name) ? "VM" : name} host is configured.`
  })

/**
 * Builds `Hosts` over `local` (always registered as `"local"`, and under its own name) plus
 * `options.hosts`. `acquire("local")` gives the host named by `options.local`; any other name
 * gives that entry, else the host its family (`options.families`) makes, else fails
 * `unavailable`. `reap(identity)` dispatches on `identity.host` (`"local"` always means
 * `local`, whatever `options.local` routes to).
 */
export const make = (local: HostShape, options: HostsOptions = {}) => {
  const entries = new Map<string, HostEntry>([[local.name, local], ...Object.entries(options.hosts ?? {}), ["local", local]])
  const routed = options.local ?? "local"
  const lookup = (name: string): Effect.Effect<HostShape, HostError, Scope.Scope> => {
    const entry = entries.get(name)
    if (entry === undefined) {
      const family = options.families?.[name.split(":", 1)[0]!]
      return family === undefined ? Effect.fail(unavailable(name)) : family(name)
    }
    return Effect.isEffect(entry) ? entry : Effect.succeed(entry)
  }
  return Hosts.of({
    acquire: (on) => lookup(on === "local" ? routed : on),
    reap: (identity) => Effect.scoped(Effect.flatMap(lookup(identity.host), (host) => host.reap(identity)))
  })
}

/**
 * `Hosts` whose `local` is the {@link Host} service the layer is given (LocalHost in the live
 * wiring, a fake or a BrokerHost in tests), plus `options.hosts`, routed per `options.local`.
 */
export const layer = (options: HostsOptions = {}): Layer.Layer<Hosts, never, Host> =>
  Layer.effect(Hosts, Effect.map(Host, (local) => make(local, options)))
