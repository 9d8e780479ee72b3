import { Schema } from "effect"
import { HostOn, TemplateInput } from "./Template.js"
import { Isolation } from "./Worktree.js"

const NumericField = Schema.Union(Schema.Number, Schema.String)
const ValuesRecord = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/**
 * The node fields of SPEC-runtime §1.5 that may stand at a recipe's top level beside
 * `template` (pi-actors 0.17: "a recipe is also a template node"); they apply to the root node.
 */
export const recipeNodeFields = [
  "parallel",
  "concurrency",
  "min_successful",
  "when",
  "label",
  "timeout",
  "delay",
  "output",
  "retry",
  "failure",
  "recover",
  "repeat",
  "on"
] as const

/**
 * pi-actors 0.17 fields troupe accepts and ignores (`recipes doctor` names them): `usage`
 * (troupe records usage in its store, never in the file), `state_dir` (every run gets its
 * own), `actor_context` and `retire_when` (lifecycle hints troupe does not act on).
 */
export const toleratedFields = ["usage", "state_dir", "actor_context", "retire_when"] as const

/**
 * A recipe file (SPEC-runtime §2) in the pi-actors 0.17 shape. Only `template` is required.
 * Contract fields: `name` (must equal the filename), `description`, `async`, `args`,
 * `defaults` (a free map of values), `values` (composition binding, above `defaults`),
 * `mailbox`, `artifacts`, `imports`, `disabled`, `isolation`. Node fields (`parallel`, `concurrency`,
 * `min_successful`, `when`, `label`, `timeout` ms, `delay` ms, `output`, `retry`, `failure`,
 * `recover`, `repeat`, `on`) apply to the root node. `usage`, `state_dir`, `actor_context`,
 * `retire_when` are tolerated. Any other field is rejected.
 */
export class RecipeFile extends Schema.Class<RecipeFile>("troupe/RecipeFile")({
  name: Schema.optional(Schema.String),
  description: Schema.optional(Schema.String),
  async: Schema.optional(Schema.Boolean),
  args: Schema.optional(Schema.Array(Schema.String)),
  defaults: Schema.optional(ValuesRecord),
  values: Schema.optional(ValuesRecord),
  mailbox: Schema.optional(
    Schema.Struct({
      accepts: Schema.optional(Schema.Array(Schema.String)),
      emits: Schema.optional(Schema.Array(Schema.String)),
      /** How inbox messages reach the process (SPEC-messaging §4); absent = FIFO when `control.fifo` exists, else pull. */
      delivery: Schema.optional(Schema.Literal("fifo", "stdin-jsonl", "pi-rpc"))
    })
  ),
  artifacts: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  imports: Schema.optional(
    Schema.Record({
      key: Schema.String,
      value: Schema.Union(
        Schema.String,
        Schema.Struct({ from: Schema.String, defaults: Schema.optional(ValuesRecord), values: Schema.optional(ValuesRecord) })
      )
    })
  ),
  disabled: Schema.optional(Schema.Boolean),
  /** `"worktree"` / `"worktree-clean"`: runs of this recipe get their own git worktree (`domain/Worktree.ts`). */
  isolation: Schema.optional(Isolation),
  parallel: Schema.optional(Schema.Boolean),
  concurrency: Schema.optional(NumericField),
  min_successful: Schema.optional(NumericField),
  when: Schema.optional(Schema.Union(Schema.Boolean, Schema.String)),
  label: Schema.optional(Schema.String),
  timeout: Schema.optional(NumericField),
  delay: Schema.optional(NumericField),
  output: Schema.optional(Schema.String),
  retry: Schema.optional(NumericField),
  failure: Schema.optional(Schema.String),
  recover: Schema.optional(TemplateInput),
  repeat: Schema.optional(NumericField),
  on: Schema.optional(HostOn),
  usage: Schema.optional(Schema.Unknown),
  state_dir: Schema.optional(Schema.Unknown),
  actor_context: Schema.optional(Schema.Unknown),
  retire_when: Schema.optional(Schema.Unknown),
  kind: Schema.optional(Schema.Literal("template", "agent")),
  task: Schema.optional(Schema.String),
  model: Schema.optional(Schema.String),
  template: Schema.optional(TemplateInput)
}) {}

/** One import of a recipe, linked to the file it resolved to. */
export interface RecipeImport {
  readonly alias: string
  /** The imported recipe's id. */
  readonly id: string
  /** Absolute path of the imported file. */
  readonly path: string
}

/**
 * A recipe resolved to a file, with its imports linked. `file` is the file as written;
 * `template`, `args`, `defaults`, `async`, `mailbox`, `artifacts` are what runs: import nodes
 * inlined, `{alias.*}` references resolved, and — for a recipe whose template is a recipe file
 * reference (`"template": "subagent-prompt.json"`, a registered tool pointing at a recipe) —
 * the referenced recipe's template, arguments, defaults and `async` mode under this id.
 */
export interface Recipe {
  /** Identity = filename without `.json`. */
  readonly id: string
  /** Absolute path of the recipe file. */
  readonly path: string
  /** Directory of the recipe file (injected as `{recipe_dir}`). */
  readonly dir: string
  readonly source: "user" | "explicit" | "packaged"
  readonly file: RecipeFile
  /**
   * The file's `description`, or — when it has none, as most of pi-actors 0.17.1's packaged
   * recipes — one generated from the id and the arguments (`generatedDescription`).
   */
  readonly description: string
  /** The file's `values` (bound above `defaults`, below the caller's values), if any. */
  readonly values?: Readonly<Record<string, unknown>> | undefined
  readonly template: TemplateInput
  readonly args?: ReadonlyArray<string> | undefined
  readonly defaults?: Readonly<Record<string, unknown>> | undefined
  readonly async: boolean
  readonly mailbox?: RecipeFile["mailbox"]
  readonly artifacts?: RecipeFile["artifacts"]
  /** Every import, transitively, in link order. */
  readonly imports: ReadonlyArray<RecipeImport>
  /** sha256 (hex) of the file's bytes: the usage fingerprint (an edit resets usage). */
  readonly fingerprint: string
}

/**
 * A recipe could not be found, read or decoded. `reason`: `not_found`, `invalid` (schema,
 * JSON or argument declarations), `too_large` (> 1 MiB), `rejected` (a `tool`/`script` field,
 * a name mismatch, a reserved or malformed tool name), `disabled` (`"disabled": true` on the
 * deciding recipe), `import` (an unknown, missing, broken or cyclic import, or import depth
 * over 32), `conflict` (registering a tool that exists without `update`, or updating or
 * deleting one that does not), `io` (the user root cannot be written).
 */
export class RecipeError extends Schema.TaggedError<RecipeError>("troupe/RecipeError")("RecipeError", {
  reason: Schema.Literal("not_found", "invalid", "too_large", "rejected", "disabled", "import", "conflict", "io"),
  recipe: Schema.String,
  message: Schema.String
}) {}

/**
 * Where a discovered recipe stands (SPEC-runtime §2):
 * - `active`: valid, enabled and the highest-priority file for its id;
 * - `shadowed`: a higher-priority file has the same id (`shadowed_by`);
 * - `invalid`: the highest-priority file does not load or validate — it stays visible and
 *   blocks lower-priority files with the same id (`diagnostics` say why);
 * - `disabled`: the highest-priority file says `"disabled": true` — the id is off.
 */
export const RecipeStatus = Schema.Literal("active", "shadowed", "invalid", "disabled")
export type RecipeStatus = typeof RecipeStatus.Type

/** One recipe file found by discovery (`troupe recipes list --json`). */
export class CatalogEntry extends Schema.Class<CatalogEntry>("CatalogEntry")({
  id: Schema.String,
  source: Schema.Literal("user", "packaged"),
  path: Schema.String,
  status: RecipeStatus,
  description: Schema.optional(Schema.String),
  async: Schema.optional(Schema.Boolean),
  /** Every problem found with the file (empty when valid). */
  diagnostics: Schema.Array(Schema.String),
  /**
   * Things worth knowing that do not stop the recipe (shown by `recipes doctor`): tolerated
   * pi-actors 0.17 fields, defaults no placeholder uses.
   */
  warnings: Schema.optional(Schema.Array(Schema.String)),
  shadowed_by: Schema.optional(Schema.String),
  /** sha256 (hex) of the file, when it could be read and decoded. */
  fingerprint: Schema.optional(Schema.String)
}) {}
