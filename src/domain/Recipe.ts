import { Schema } from "effect"
import { TemplateInput } from "./Template.js"

/**
 * A recipe file (SPEC-runtime §2) in the pi-actors 0.17 shape: `description`, `async`, `args`,
 * `defaults`, `mailbox`, `artifacts`, `imports`, `disabled`, `template`, optional `name`.
 * Identity is the filename; unknown fields are rejected.
 */
export class RecipeFile extends Schema.Class<RecipeFile>("troupe/RecipeFile")({
  name: Schema.optional(Schema.String),
  description: Schema.String,
  async: Schema.optional(Schema.Boolean),
  args: Schema.optional(Schema.Array(Schema.String)),
  defaults: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
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
      value: Schema.Union(Schema.String, Schema.Struct({ from: Schema.String, values: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })) }))
    })
  ),
  disabled: Schema.optional(Schema.Boolean),
  template: TemplateInput
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
  shadowed_by: Schema.optional(Schema.String),
  /** sha256 (hex) of the file, when it could be read and decoded. */
  fingerprint: Schema.optional(Schema.String)
}) {}
