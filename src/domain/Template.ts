import { Schema } from "effect"

/**
 * Why a command template was rejected. Every reason keeps the user-facing texts of
 * SPEC-runtime §1 (`Missing command template value: name`, `Argument n must be an integer.`,
 * `parallel fanout 65 exceeds limit 64`, …) in `message`.
 *
 * - `syntax`: the template text or node shape cannot be read (unterminated quote, unknown type).
 * - `missing_value`: a placeholder has no value, default or fallback.
 * - `argument`: a value does not match its declared type, or declarations conflict.
 * - `recursion`: values that expand to placeholders nested deeper than 5 levels.
 * - `validation`: a node field is invalid (failure scope, concurrency, fan-out, timeout, …).
 * - `import`: an import node names an unknown recipe import.
 */
export class TemplateError extends Schema.TaggedError<TemplateError>("troupe/TemplateError")("TemplateError", {
  reason: Schema.Literal("syntax", "missing_value", "argument", "recursion", "validation", "import"),
  message: Schema.String
}) {}

/** `failure` scope of a step: see SPEC-runtime §1.5. */
export const FailureScope = Schema.Literal("continue", "branch", "root")
export type FailureScope = typeof FailureScope.Type

/** A numeric node field: a JSON number or text that becomes a number after substitution. */
const NumericField = Schema.Union(Schema.Number, Schema.String)

/**
 * The raw shape of a command template as written in a recipe or passed to `spawn`/`run`:
 * a string (one leaf), an array (a sequence) or an object node.
 *
 * Object node fields (all optional except `template`, or `name` for an import node):
 * `label`, `parallel`, `concurrency`, `min_successful`, `when`, `args`, `defaults`, `timeout` (ms),
 * `delay` (ms), `retry` (attempts in total, the first included; default 1, as pi-actors 0.17),
 * `failure`, `recover`, `repeat`, `output` (a file the node's complete stdout is written to,
 * atomically, when it succeeds), `on` (`"local"` or `"vm:<id>"`). Unknown fields are rejected.
 */
export type TemplateInput = string | ReadonlyArray<TemplateInput> | TemplateNodeInput

export interface TemplateNodeInput {
  readonly template?: TemplateInput | undefined
  readonly name?: string | undefined
  readonly values?: { readonly [k: string]: unknown } | undefined
  readonly label?: string | undefined
  readonly parallel?: boolean | undefined
  readonly concurrency?: number | string | undefined
  readonly min_successful?: number | string | undefined
  readonly when?: boolean | string | undefined
  readonly args?: ReadonlyArray<string> | undefined
  readonly defaults?: { readonly [k: string]: unknown } | undefined
  readonly timeout?: number | string | undefined
  readonly delay?: number | string | undefined
  readonly retry?: number | string | undefined
  readonly failure?: string | undefined
  readonly recover?: TemplateInput | undefined
  readonly repeat?: number | string | undefined
  readonly output?: string | undefined
  readonly on?: HostOn | undefined
}

const ValuesRecord = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/**
 * Where a node's leaves run (`on`, SPEC-vers §4): `"local"`, `"broker"`, `"vm:<id>"` (an
 * existing VM), `{"commit": "<id>"}` (a fresh VM restored from the commit for the run, deleted
 * with it) or `{"golden": true}` (the same from the golden commit). The string forms
 * `"commit:<id>"` and `"golden"` are accepted too. Placeholders are substituted in the strings.
 */
export type HostOn = string | { readonly commit: string } | { readonly golden: true }

export const HostOn: Schema.Schema<HostOn> = Schema.Union(
  Schema.String,
  Schema.Struct({ commit: Schema.String }),
  Schema.Struct({ golden: Schema.Literal(true) })
)

/** The canonical text of an `on` (`{"commit": "c1"}` → `commit:c1`, `{"golden": true}` → `golden`). */
export const hostOnText = (on: HostOn): string => (typeof on === "string" ? on : "commit" in on ? `commit:${on.commit}` : "golden")

/** Hosts that provision a VM for the run when acquired (never acquired just to plan). */
export const provisionsVm = (on: string): boolean => on === "golden" || on.startsWith("commit:")

/** The forms an `on` may take once substituted (local, broker, vm:<id>, commit:<id>, golden). */
export const hostOnPattern = /^(local|broker|golden|(vm|commit):[A-Za-z0-9_.-]+)$/

export const TemplateNodeInput: Schema.Schema<TemplateNodeInput> = Schema.Struct({
  template: Schema.optional(Schema.suspend((): Schema.Schema<TemplateInput> => TemplateInput)),
  name: Schema.optional(Schema.String),
  values: Schema.optional(ValuesRecord),
  label: Schema.optional(Schema.String),
  parallel: Schema.optional(Schema.Boolean),
  concurrency: Schema.optional(NumericField),
  min_successful: Schema.optional(NumericField),
  when: Schema.optional(Schema.Union(Schema.Boolean, Schema.String)),
  args: Schema.optional(Schema.Array(Schema.String)),
  defaults: Schema.optional(ValuesRecord),
  timeout: Schema.optional(NumericField),
  delay: Schema.optional(NumericField),
  retry: Schema.optional(NumericField),
  failure: Schema.optional(Schema.String),
  recover: Schema.optional(Schema.suspend((): Schema.Schema<TemplateInput> => TemplateInput)),
  repeat: Schema.optional(NumericField),
  output: Schema.optional(Schema.String),
  on: Schema.optional(HostOn)
})

export const TemplateInput: Schema.Schema<TemplateInput> = Schema.Union(
  Schema.String,
  Schema.Array(Schema.suspend((): Schema.Schema<TemplateInput> => TemplateInput)),
  TemplateNodeInput
)

/** Decode options used at every boundary: unknown node fields are errors, not silently dropped. */
export const strictParse = { onExcessProperty: "error", errors: "all" } as const

/** A declared argument type (SPEC-runtime §1.4). */
export type ArgType =
  | { readonly _tag: "string" }
  | { readonly _tag: "path" }
  | { readonly _tag: "int" }
  | { readonly _tag: "number" }
  | { readonly _tag: "bool" }
  | { readonly _tag: "array" }
  | { readonly _tag: "enum"; readonly options: ReadonlyArray<string> }

/** One argument declaration: from `args` (`"name:type=default"`) or an inline placeholder. */
export interface ArgDecl {
  readonly name: string
  readonly type: ArgType
  /** Inline or declared default (raw text), if any. */
  readonly default?: string | undefined
  readonly source: "args" | "inline"
}

/** JSON Schema (draft 2020-12 subset) describing a template's arguments. */
export interface ArgsJsonSchema {
  readonly type: "object"
  readonly properties: Record<string, {
    readonly type: "string" | "integer" | "number" | "boolean" | "array"
    readonly enum?: ReadonlyArray<string>
    readonly default?: unknown
    readonly description?: string
  }>
  readonly required: ReadonlyArray<string>
  readonly additionalProperties: boolean
}
