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
 * A recipe could not be found, read or decoded. `reason`: `not_found`, `invalid` (schema or
 * JSON), `too_large` (> 1 MiB), `rejected` (a `tool`/`script` field, a name mismatch).
 */
export class RecipeError extends Schema.TaggedError<RecipeError>("troupe/RecipeError")("RecipeError", {
  reason: Schema.Literal("not_found", "invalid", "too_large", "rejected"),
  recipe: Schema.String,
  message: Schema.String
}) {}
