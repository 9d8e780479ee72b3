/**
 * Recipe imports (SPEC-runtime §2), the pure part: `{alias.*}` references and import nodes.
 *
 * A recipe declares `imports: { alias: "file.json" | "<id>" | { from, defaults?, values? } }`
 * (a declaration's `defaults` act as the imported recipe's defaults; the imported recipe's
 * own `values` bind above its `defaults`). An imported recipe's template already carries its
 * top-level node fields (`repeat`, `parallel`, `timeout`, … on its root node). Before the
 * template runs, troupe
 *
 * 1. replaces **references** in every string of the template and of `defaults`, textually
 *    (like writing the value into the recipe yourself, before words are split):
 *    `{alias.name}` (the imported recipe's id), `{alias.defaults.key}` (its default, from
 *    `defaults` or an `args` declaration), `{alias.values.key}` (a value of the import
 *    declaration), `{alias.defaults.key=fallback}` (fallback when there is no such key) and
 *    `{alias.values.key?yes:no}` (ternary on truthiness; a missing key is false);
 * 2. inlines **import nodes** `{ "name": "alias", values?, defaults?, ...node flags }`: the node
 *    becomes a node whose `template`, `args` and `defaults` are the imported recipe's, with
 *    values bound in this order (first wins): the node's `values`, the declaration's
 *    `values`, the caller's runtime values, the node's `defaults`, the imported recipe's
 *    `defaults` and declared defaults. `{recipe_dir}` inside it is the imported recipe's
 *    directory.
 *
 * Corresponds to pi-actors 0.17 "recipe-layer imports" (`{ "name": "alias" }` nodes and
 * `{alias.defaults.key}` references read before command-template execution).
 */
import * as Text from "./TemplateText.js"
import type { TemplateInput, TemplateNodeInput } from "./Template.js"

/** An import, linked: the imported recipe with its own imports already inlined. */
export interface LinkedImport {
  /** The imported recipe's id (`{alias.name}`). */
  readonly id: string
  /** Directory of the imported recipe file (its `{recipe_dir}`). */
  readonly dir: string
  readonly template: TemplateInput
  readonly args?: ReadonlyArray<string> | undefined
  /** The imported recipe's `defaults` (after its own references). */
  readonly defaults: Readonly<Record<string, unknown>>
  /** The import declaration's `values` (`{ from, values }`). */
  readonly values: Readonly<Record<string, unknown>>
}

/** A reference or import node that cannot be resolved; `message` is the user-facing text. */
export class ImportProblem {
  readonly _tag = "ImportProblem"
  constructor(readonly message: string) {}
}

const fail = (message: string): never => {
  throw new ImportProblem(message)
}

/** Defaults an import exposes as `{alias.defaults.key}`: `args` declaration defaults, then `defaults`. */
const exposedDefaults = (imp: LinkedImport): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const d of Text.parseArgDecls(imp.args ?? [])) if (d.default !== undefined) out[d.name] = d.default
  return { ...out, ...imp.defaults }
}

// `{alias.name}`, `{alias.defaults.key}`, `{alias.values.key}` with `=fallback` or `?yes:no`;
// not when written as `{{…}}` (literal braces).
const referencePattern =
  /(?<!\{)\{([A-Za-z_][A-Za-z0-9_-]*)\.(name|defaults\.([A-Za-z_][A-Za-z0-9_-]*)|values\.([A-Za-z_][A-Za-z0-9_-]*))(?:=([^{}]*)|\?([^{}:]*):([^{}]*))?\}(?!\})/g

const replaceReferences = (text: string, imports: ReadonlyMap<string, LinkedImport>): string =>
  text.replace(referencePattern, (whole, alias: string, field: string, dkey?: string, vkey?: string, fallback?: string, yes?: string, no?: string) => {
    const imp = imports.get(alias)
    if (imp === undefined) return fail(`Unknown recipe import: ${alias} (in reference ${whole})`)
    if (field === "name") return imp.id
    const source = dkey !== undefined ? exposedDefaults(imp) : imp.values
    const key = (dkey ?? vkey)!
    const value = Object.hasOwn(source, key) ? source[key] : undefined
    if (yes !== undefined) return Text.truthy(value) ? yes : (no ?? "")
    if (value === undefined || value === null) {
      if (fallback !== undefined) return fallback
      return fail(`Unknown recipe import reference: ${whole} (${alias} has no ${dkey !== undefined ? "default" : "value"} ${key})`)
    }
    return Text.valueText(value)
  })

const mapStrings = (v: unknown, f: (s: string) => string): unknown => {
  if (typeof v === "string") return f(v)
  if (Array.isArray(v)) return v.map((c) => mapStrings(c, f))
  if (typeof v === "object" && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([k, c]) => [k, mapStrings(c, f)]))
  }
  return v
}

const isImportNode = (v: unknown): v is TemplateNodeInput & { readonly name: string } =>
  typeof v === "object" && v !== null && !Array.isArray(v) && (v as TemplateNodeInput).template === undefined &&
  typeof (v as TemplateNodeInput).name === "string"

/** The node an import node becomes (see the module docs for the precedence). */
export const importedNode = (imp: LinkedImport, node: TemplateNodeInput = {}): TemplateNodeInput => {
  const { name: _name, values, defaults, ...flags } = node
  return {
    ...flags,
    template: imp.template,
    args: node.args ?? imp.args ?? [],
    defaults: { ...imp.defaults, ...defaults },
    values: { recipe_dir: imp.dir, ...imp.values, ...values }
  }
}

const inline = (t: unknown, imports: ReadonlyMap<string, LinkedImport>): unknown => {
  if (Array.isArray(t)) return t.map((c) => inline(c, imports))
  if (isImportNode(t)) {
    const imp = imports.get(t.name)
    if (imp === undefined) {
      return fail(`Unknown recipe import: ${t.name}${imports.size === 0 ? " (the recipe declares no imports)" : ` (declared: ${[...imports.keys()].join(", ")})`}`)
    }
    return importedNode(imp, t)
  }
  if (typeof t === "object" && t !== null) {
    const n = t as TemplateNodeInput
    return {
      ...n,
      ...(n.template === undefined ? {} : { template: inline(n.template, imports) }),
      ...(n.recover === undefined ? {} : { recover: inline(n.recover, imports) })
    }
  }
  return t
}

/**
 * Resolves the references of a recipe's template and defaults and inlines its import nodes.
 * @throws ImportProblem `Unknown recipe import: x`, `Unknown recipe import reference: {…}`.
 */
export const link = (
  template: TemplateInput,
  defaults: Readonly<Record<string, unknown>> | undefined,
  imports: ReadonlyMap<string, LinkedImport>
): { readonly template: TemplateInput; readonly defaults: Record<string, unknown> | undefined } => {
  const resolved = mapStrings(template, (s) => replaceReferences(s, imports))
  return {
    template: inline(resolved, imports) as TemplateInput,
    defaults: defaults === undefined ? undefined : (mapStrings(defaults, (s) => replaceReferences(s, imports)) as Record<string, unknown>)
  }
}

/**
 * A recipe whose whole `template` is a recipe file reference (`"subagent-prompt.json"`) — a
 * registered tool pointing at another recipe. Returns the reference, or undefined.
 */
export const recipePointer = (template: TemplateInput): string | undefined =>
  typeof template === "string" && /^[^\s{}'"]+\.json$/.test(template.trim()) ? template.trim() : undefined
