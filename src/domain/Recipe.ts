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
      emits: Schema.optional(Schema.Array(Schema.String))
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

/** A recipe resolved to a file: its identity, location and decoded content. */
export interface Recipe {
  /** Identity = filename without `.json`. */
  readonly id: string
  /** Absolute path of the recipe file. */
  readonly path: string
  /** Directory of the recipe file (injected as `{recipe_dir}`). */
  readonly dir: string
  readonly source: "user" | "explicit" | "packaged"
  readonly file: RecipeFile
}

/**
 * A recipe could not be found, read or decoded. `reason`: `not_found`, `invalid` (schema,
 * JSON or argument declarations), `too_large` (> 1 MiB), `rejected` (a `tool`/`script` field,
 * a name mismatch), `disabled` (`"disabled": true` on the deciding recipe).
 */
export class RecipeError extends Schema.TaggedError<RecipeError>("troupe/RecipeError")("RecipeError", {
  reason: Schema.Literal("not_found", "invalid", "too_large", "rejected", "disabled"),
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
  shadowed_by: Schema.optional(Schema.String)
}) {}
