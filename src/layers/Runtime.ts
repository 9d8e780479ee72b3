/**
 * troupe's layer graph, declared once: store (SQLite under `TROUPE_HOME`), events, mailbox,
 * rooms, supervisor, inspector and router over the execution part (`Live.ts`: CommandGraph,
 * Recipes, Registry, the host, configuration, Node platform). The daemon serves it over RPC,
 * `Troupe.layer` embeds it in any Effect program, and the tests build it with their
 * injections (`test/support/runtime.ts`: a fake host, a temporary home).
 */
import { Effect, Layer } from "effect"
import { MessageIds } from "../services/MessageIds.js"
import { Events } from "../services/Events.js"
import { Inspector } from "../services/Inspector.js"
import { Mailbox } from "../services/Mailbox.js"
import { MessageKeys } from "../services/MessageKeys.js"
import { Rooms } from "../services/Rooms.js"
import { Router } from "../services/Router.js"
import { Store } from "../services/Store.js"
import { Supervisor } from "../services/Supervisor.js"
import * as Config from "./Config.js"
import * as Home from "./Home.js"
import * as Live from "./Live.js"

/**
 * Creates `TROUPE_HOME` (mode 0700) if missing; refuses an existing one that is not a private
 * directory of this user, never chmodding it (`Home.prepareHome`).
 */
const homeDirectory = Layer.effectDiscard(Effect.flatMap(Config.TroupeConfig, (config) => Home.prepareHome(config.home)))

const store = Layer.unwrapEffect(Effect.map(Config.TroupeConfig, (c) => Store.sqlite(Config.homePaths(c.home).database)))

/**
 * Router + Supervisor + Inspector + Events + Mailbox + Rooms + MessageKeys + Store + the live services, for `TROUPE_HOME` (or
 * `overrides.home`), with `inject`'s pieces in place of the live ones. Building it migrates
 * the store and reaps runs left by a dead owner; releasing it kills every run's process groups.
 * @fails ActorsError `unavailable` when another owner holds the store, `internal` otherwise.
 */
export const layer = (overrides: Partial<Config.TroupeConfigShape> = {}, inject: Live.Injections = {}) => {
  const base = Live.layer(overrides, inject)
  const persistence = Layer.mergeAll(Events.Default, Mailbox.Default, Rooms.Default, MessageKeys.Default, MessageIds.Default).pipe(
    Layer.provideMerge(store),
    Layer.provideMerge(homeDirectory)
  )
  return Router.Default.pipe(
    Layer.provideMerge(Inspector.Default),
    Layer.provideMerge(inject.kinds === undefined ? Supervisor.Default : Supervisor.DefaultWithoutDependencies.pipe(Layer.provide(inject.kinds))),
    Layer.provideMerge(persistence),
    Layer.provideMerge(base)
  )
}
