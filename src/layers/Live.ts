/**
 * The execution part of troupe's one layer graph (the rest is in `Runtime.ts`): Node platform +
 * configuration + the local host + CommandGraph, Recipes and Registry. `troupe run` and the
 * `recipes` commands use it alone; the daemon, `Troupe.layer` and the tests get it through
 * `Runtime.layer`.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Effect, Layer } from "effect"
import { CommandGraph } from "../services/CommandGraph.js"
import type { Host } from "../services/Host.js"
import { LocalHost } from "../services/LocalHost.js"
import { Recipes } from "../services/Recipes.js"
import { Registry } from "../services/Registry.js"
import type { TroupeConfig } from "../services/TroupeConfig.js"
import * as Config from "./Config.js"

/**
 * What a caller (a test, an embedder) may put in place of the live pieces of the graph. The
 * `Clock` needs no injection point: TestClock replaces it in the fiber's context.
 */
export interface Injections {
  /**
   * The configuration service instead of reading the environment (tests: a temporary home
   * created and removed by the layer). `overrides` apply only when this is absent.
   */
  readonly config?: Layer.Layer<TroupeConfig> | undefined
  /**
   * The host every local leaf runs on, instead of `LocalHost` with the configured kill grace
   * (tests: a fake host whose leaves run on the `Clock`).
   */
  readonly host?: Layer.Layer<Host> | undefined
}

/** `LocalHost` with `TroupeConfig.killGraceMs` and this process's environment as the leaves' base environment. */
const localHost = Layer.unwrapEffect(
  Effect.map(Config.TroupeConfig, (c) => LocalHost.layer({ graceMs: c.killGraceMs, env: Config.inheritedEnvironment() }))
)

/** CommandGraph + Recipes + Registry on the host, with the configuration and the Node platform. */
export const layer = (overrides: Partial<Config.TroupeConfigShape> = {}, inject: Injections = {}) =>
  Layer.mergeAll(CommandGraph.Default, Recipes.Default, Registry.Default).pipe(
    Layer.provideMerge(inject.host ?? localHost),
    Layer.provideMerge(inject.config ?? Config.layer(overrides)),
    Layer.provideMerge(NodeContext.layer)
  )
