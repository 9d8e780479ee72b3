/**
 * Live wiring: Node platform + LocalHost + the services, for the CLI and embedders.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Effect, Layer } from "effect"
import { CommandGraph } from "../services/CommandGraph.js"
import { LocalHost } from "../services/LocalHost.js"
import { Recipes } from "../services/Recipes.js"
import { Registry } from "../services/Registry.js"
import * as Config from "./Config.js"
import * as LegacyHosts from "./LegacyHosts.js"

/** CommandGraph + Recipes + Registry on LocalHost with the environment's configuration. */
export const layer = (overrides: Partial<Config.TroupeConfigShape> = {}) => {
  const config = Config.layer(overrides)
  const host = Layer.unwrapEffect(
    Effect.map(Config.TroupeConfig, (c) => LocalHost.layer({ graceMs: c.killGraceMs }))
  )
  return Layer.mergeAll(CommandGraph.Default, Recipes.Default, Registry.Default, LegacyHosts.layer).pipe(
    Layer.provideMerge(host),
    Layer.provideMerge(config),
    Layer.provideMerge(NodeContext.layer)
  )
}
