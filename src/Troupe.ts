/**
 * `Troupe`: the two ways an Effect program gets `Actors` (SPEC-adapters §4).
 *
 * ```ts
 * const program = Effect.gen(function* () {
 *   const actors = yield* Actors
 *   const run = yield* actors.spawn({ template: ["git ls-files", "wc -l"], as: "count" })
 *   const result = yield* actors.wait(run.address)
 *   yield* Console.log(result.stdout)
 * })
 * program.pipe(Effect.provide(Troupe.layer({ home: "/tmp/troupe" })), NodeRuntime.runMain)
 * ```
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Effect, Layer } from "effect"
import * as Client from "./daemon/Client.js"
import type { ActorsError } from "./domain/Run.js"
import * as Config from "./layers/Config.js"
import * as Runtime from "./layers/Runtime.js"
import { Actors } from "./services/Actors.js"

export interface TroupeLayerOptions extends Partial<Config.TroupeConfigShape> {
  /** Session the handle acts as (default `cli`). */
  readonly session?: string | undefined
  /** Act across every session (operator). */
  readonly all?: boolean | undefined
}

export const Troupe = {
  /**
   * The in-process runtime (`Actors.local`): this program owns the runs, their processes and
   * the store under `home` (default `TROUPE_HOME` or `~/.troupe`). Building it migrates the
   * store and reaps runs a dead owner left behind; releasing it kills every run.
   * @fails ActorsError `unavailable` when a daemon (or another program) owns that home.
   */
  layer: (options: TroupeLayerOptions = {}): Layer.Layer<Actors, ActorsError> => {
    const { all, session, ...config } = options
    return Actors.local({ session, all }).pipe(Layer.provide(Runtime.layer(config)))
  },
  /**
   * The RPC client of the daemon for `home` (auto-started when absent, like the CLI does).
   * Runs it spawns get this program's environment (`process.env`, or `options.env`; minus the
   * deny-list of docs/daemon.md "Environment"), never the daemon's. Disposing it never waits
   * for the daemon, even a dead one.
   * @fails ActorsError `unavailable` when no daemon answers and none could be started.
   */
  client: (options: Client.ClientOptions = {}): Layer.Layer<Actors, ActorsError> =>
    Layer.scoped(Actors, Effect.map(Client.makeRemote(options), (r) => r.actors)).pipe(
      Layer.provide(Config.layer(options.home === undefined ? {} : { home: options.home })),
      Layer.provide(NodeContext.layer)
    )
} as const
