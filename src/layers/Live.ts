/**
 * Live wiring: Node platform + Hosts (LocalHost as `local`) + the services, for the CLI and
 * embedders.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Effect, Layer } from "effect"
import { CommandGraph } from "../services/CommandGraph.js"
import { Hosts } from "../services/Hosts.js"
import { LocalHost } from "../services/LocalHost.js"
import { Recipes } from "../services/Recipes.js"
import { Registry } from "../services/Registry.js"
import * as Config from "./Config.js"

/**
 * CommandGraph + Recipes + Registry on `Hosts` with the environment's configuration. `Hosts`
 * serves LocalHost as `local` (SIGTERM → SIGKILL grace `killGraceMs`); other hosts (`broker`)
 * are registered through `Hosts.layer({ hosts, local })`.
 */
export const layer = (overrides: Partial<Config.TroupeConfigShape> = {}) => {
  const config = Config.layer(overrides)
  const host = Hosts.layer().pipe(
    Layer.provideMerge(Layer.unwrapEffect(Effect.map(Config.TroupeConfig, (c) => LocalHost.layer({ graceMs: c.killGraceMs }))))
  )
  return Layer.mergeAll(CommandGraph.Default, Recipes.Default, Registry.Default).pipe(
    Layer.provideMerge(host),
    Layer.provideMerge(config),
    Layer.provideMerge(NodeContext.layer)
  )
}
