/**
 * Pure checks of a recipe's shape (SPEC-runtime §2) beyond its schema, for `recipes doctor`
 * and for the tool a recipe becomes:
 *
 * - the **root node**: top-level node fields (`timeout`, `repeat`, `parallel`, …) applied to
 *   the template, as pi-actors 0.17 did;
 * - **generated descriptions** for recipes without one (most of pi-actors 0.17.1's packaged
 *   recipes have none; pi-actors said `Execute template recipe: <id>`);
 * - **warnings** that never stop a recipe: tolerated 0.17 fields and defaults that no
 *   placeholder uses (pi-actors 0.45+ rejected those as `Unknown Recipe default argument`;
 *   0.17 did not).
 */
import { type RecipeFile, recipeNodeFields, toleratedFields } from "./Recipe.js"
import type { TemplateInput, TemplateNodeInput } from "./Template.js"
import * as Text from "./TemplateText.js"

const isPlainNode = (t: TemplateInput): t is TemplateNodeInput => typeof t === "object" && t !== null && !Array.isArray(t)

/**
 * The recipe's top-level node fields (those present), in `recipeNodeFields` order.
 */
export const rootFlags = (file: RecipeFile): Partial<TemplateNodeInput> => {
  const out: Record<string, unknown> = {}
  for (const k of recipeNodeFields) if (file[k] !== undefined) out[k] = file[k]
  return out as Partial<TemplateNodeInput>
}

/**
 * The template with the recipe's top-level node fields applied to its root: merged into an
 * object template (the template's own fields win, as in pi-actors 0.17), else a node wrapping
 * a string or array template. Without top-level node fields the template is returned as is.
 */
export const withRootFlags = (template: TemplateInput, flags: Partial<TemplateNodeInput>): TemplateInput => {
  if (Object.keys(flags).length === 0) return template
  return isPlainNode(template) ? { ...flags, ...template } : { ...flags, template }
}

/**
 * The description a tool gets when its recipe has none: `Run recipe <id> (a, b).` or, for an
 * async recipe, `Start recipe <id> as a background run (a, b).` — `args` are the names of its
 * arguments in declaration order.
 */
export const generatedDescription = (id: string, async: boolean, args: ReadonlyArray<string>): string =>
  `${async ? "Start" : "Run"} recipe ${id}${async ? " as a background run" : ""}${args.length === 0 ? "" : ` (${args.join(", ")})`}.`

const namesIn = (text: string, into: Set<string>) => {
  for (const seg of Text.segmentText(text, false)) {
    if (seg._tag === "Ph") for (const n of Text.placeholderNames(seg.ph)) into.add(n)
  }
}

/** Every name a placeholder reads anywhere in `v` (strings, arrays, objects), plus bare `when`/`repeat` names. */
const collectNames = (v: unknown, into: Set<string>): void => {
  if (typeof v === "string") namesIn(v, into)
  else if (Array.isArray(v)) for (const c of v) collectNames(c, into)
  else if (typeof v === "object" && v !== null) {
    const node = v as Record<string, unknown>
    // `when: "flag"` / `"!flag"` and `repeat: "items.length"` name a value without braces.
    if (typeof node.when === "string") {
      const bare = /^!?([A-Za-z_][A-Za-z0-9_-]*)$/.exec(node.when.trim())
      if (bare !== null) into.add(bare[1]!)
    }
    if (typeof node.repeat === "string") {
      const bare = /^([A-Za-z_][A-Za-z0-9_-]*)\.length$/.exec(node.repeat.trim())
      if (bare !== null) into.add(bare[1]!)
    }
    for (const c of Object.values(node)) collectNames(c, into)
  }
}

/**
 * Defaults of the recipe that no placeholder uses: not in the (linked) template — nested
 * nodes, import-node values and node defaults included — nor in another default, an
 * artifact path or a `values` entry. Names the runtime injects are never reported.
 */
export const unusedDefaults = (recipe: {
  readonly template: TemplateInput
  readonly defaults?: Readonly<Record<string, unknown>> | undefined
  readonly values?: Readonly<Record<string, unknown>> | undefined
  readonly artifacts?: Readonly<Record<string, string>> | undefined
}, injected: ReadonlySet<string>): ReadonlyArray<string> => {
  const used = new Set<string>()
  collectNames(recipe.template, used)
  collectNames(recipe.artifacts ?? {}, used)
  collectNames(recipe.values ?? {}, used)
  const defaults = recipe.defaults ?? {}
  for (const [k, v] of Object.entries(defaults)) {
    const inOther = new Set<string>()
    collectNames(v, inOther)
    inOther.delete(k)
    for (const n of inOther) used.add(n)
  }
  return Object.keys(defaults).filter((k) => !used.has(k) && !injected.has(k))
}

const toleratedWhy: Record<(typeof toleratedFields)[number], string> = {
  usage: "troupe records usage in its store (inspect tool:<id>), never in the file",
  state_dir: "every run gets its own state directory ({state_dir})",
  actor_context: "troupe does not use it",
  retire_when: "troupe does not act on it; stop a run with troupe kill or a control message"
}

/** `recipes doctor` warnings for the tolerated pi-actors 0.17 fields the file carries. */
export const toleratedWarnings = (file: RecipeFile): ReadonlyArray<string> =>
  toleratedFields.filter((k) => file[k] !== undefined).map((k) => `field "${k}" (pi-actors 0.17) is ignored: ${toleratedWhy[k]}`)

/** A string that holds a placeholder (checked only after expansion). */
export const hasPlaceholder = (v: unknown): boolean =>
  typeof v === "string" && Text.segmentText(v, false).some((s) => s._tag === "Ph")
