/**
 * `Hosts`: which {@link HostShape} runs a leaf, by the leaf's `on` (ARCHITECTURE.md "Hosts, leaf
 * processes and run kinds"). CommandGraph asks per leaf; the Supervisor's reaping dispatches on
 * the host recorded in each process identity.
 *
 * pi-actors ran every leaf locally; pi-vers ran remote commands with one `ssh` process each.
 * troupe routes both through this one service.
 */
import { Context, type Effect, type Scope } from "effect"
import type { HostError, HostShape, ProcessIdentity } from "./Host.js"

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
}>() {}
