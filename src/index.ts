/**
 * troupe — an Effect-native actor runtime for coding agents.
 *
 * This entry exports the execution core: the command-template domain, CommandGraph (plan and
 * execute templates), the Host interface with LocalHost (process groups), Recipes, and the
 * live wiring.
 */
export * as Output from "./domain/Output.js"
export type * from "./domain/Plan.js"
export { RecipeError, RecipeFile, type Recipe } from "./domain/Recipe.js"
export { argvRisks, planRisks, riskText } from "./domain/Risk.js"
export { TemplateError, TemplateInput, type ArgDecl, type ArgType, type ArgsJsonSchema, type FailureScope } from "./domain/Template.js"
export * as TemplateText from "./domain/TemplateText.js"
export * as Config from "./layers/Config.js"
export * as Live from "./layers/Live.js"
export {
  CommandGraph,
  failureText,
  flattenPlan,
  incompleteStdinCode,
  maxFanout,
  templateArgsSchema,
  timeoutCode,
  type ExecuteOptions,
  type ImportResolver,
  type PlanOptions
} from "./services/CommandGraph.js"
export { Host, HostError, type LeafResult, type LeafSpec, type LeafStdin, type ProcessIdentity } from "./services/Host.js"
export { LocalHost, type LocalHostOptions } from "./services/LocalHost.js"
export { Recipes } from "./services/Recipes.js"
export { version } from "./version.js"
