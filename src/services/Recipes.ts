/**
 * Recipes: find, read, validate and resolve recipe files (SPEC-runtime §2).
 *
 * Roots, highest priority first: the user root (`TROUPE_RECIPES`, else
 * `$PI_CODING_AGENT_DIR/recipes`, else `~/.pi/agent/recipes` — pi-actors' root, so an existing
 * recipe folder works unchanged), explicitly referenced files (a path), and the packaged
 * `recipes/` of this package. For one id, the highest-priority file decides: an invalid or
 * disabled one blocks the lower ones instead of silently falling back to them.
 */
import { FileSystem, Path } from "@effect/platform"
import { Effect, Either, ParseResult, Schema } from "effect"
import { CatalogEntry, type Recipe, RecipeError, RecipeFile } from "../domain/Recipe.js"
import { strictParse } from "../domain/Template.js"
import * as Text from "../domain/TemplateText.js"
import { TroupeConfig } from "../layers/Config.js"
import { injectedNames, templateArgsSchema } from "./CommandGraph.js"

/** Largest recipe file read: 1 MiB. */
export const maxRecipeBytes = 1024 * 1024

/** Recipe ids (= file names without `.json`). */
export const recipeId = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/

const decodeRecipe = Schema.decodeUnknown(RecipeFile)

/**
 * Checks a decoded recipe beyond its schema: argument declarations, inline placeholders that
 * conflict with them, defaults naming unknown arguments (`Unknown Recipe default argument: x`),
 * and typed defaults (ints, enums) that do not fit their declaration.
 * @returns every problem found (empty when valid).
 */
export const validateRecipe = (file: RecipeFile): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const schema = Text.attempt(() => templateArgsSchema(file.template, file.args ?? [], file.defaults ?? {}))
  if (Either.isLeft(schema)) return [schema.left.message]
  const known = schema.right.properties
  for (const key of Object.keys(file.defaults ?? {})) {
    if (!(key in known) && !injectedNames.has(key)) problems.push(`Unknown Recipe default argument: ${key}`)
  }
  const decls = Text.attempt(() => Text.parseArgDecls(file.args ?? []))
  if (Either.isRight(decls)) {
    for (const d of decls.right) {
      const v = file.defaults?.[d.name] ?? d.default
      if (v === undefined) continue
      const checked = Text.attempt(() => Text.normalizeTyped(d.name, d.type, v))
      if (Either.isLeft(checked)) problems.push(checked.left.message)
    }
  }
  return problems
}

export class Recipes extends Effect.Service<Recipes>()("troupe/Recipes", {
  effect: Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const config = yield* TroupeConfig

    /**
     * Reads, decodes and validates one recipe file.
     * @fails RecipeError `not_found`, `too_large` (> 1 MiB), `invalid` (JSON, schema,
     *   argument declarations, defaults), `rejected` (`tool` or `script` fields, which
     *   pi-actors 0.17 also refused; a `name` that differs from the filename).
     */
    const load = Effect.fn("Recipes.load")(function* (file: string, source: Recipe["source"]) {
      const abs = path.resolve(file)
      const id = path.basename(abs).replace(/\.json$/, "")
      const info = yield* fs.stat(abs).pipe(
        Effect.mapError(() => new RecipeError({ reason: "not_found", recipe: id, message: `Recipe file not found: ${abs}` }))
      )
      if (Number(info.size) > maxRecipeBytes) {
        return yield* new RecipeError({ reason: "too_large", recipe: id, message: `Recipe ${id} is larger than 1 MiB: ${abs}` })
      }
      if (!recipeId.test(id)) {
        return yield* new RecipeError({ reason: "invalid", recipe: id, message: `Invalid recipe file name ${path.basename(abs)}: ids match ^[A-Za-z0-9_][A-Za-z0-9_.-]*$` })
      }
      const text = yield* fs.readFileString(abs).pipe(
        Effect.mapError((e) => new RecipeError({ reason: "not_found", recipe: id, message: `Cannot read recipe ${abs}: ${e.message}` }))
      )
      const json = yield* Effect.try({
        try: () => JSON.parse(text) as unknown,
        catch: (e) => new RecipeError({ reason: "invalid", recipe: id, message: `Recipe ${id} is not valid JSON: ${(e as Error).message}` })
      })
      if (typeof json === "object" && json !== null && !Array.isArray(json)) {
        if ("tool" in json) {
          return yield* new RecipeError({ reason: "rejected", recipe: id, message: `Recipe ${id} has a "tool" field; the filename is the tool name. Remove "tool" and name the file ${id}.json.` })
        }
        if ("script" in json) {
          return yield* new RecipeError({ reason: "rejected", recipe: id, message: `Recipe ${id} has a "script" field; put the command in "template" (a script file runs as the first word, e.g. "./scripts/x.sh {arg}").` })
        }
      }
      const decoded = yield* decodeRecipe(json, strictParse).pipe(
        Effect.mapError((e) => new RecipeError({ reason: "invalid", recipe: id, message: `Recipe ${id} is invalid: ${ParseResult.TreeFormatter.formatErrorSync(e)}` }))
      )
      if (decoded.name !== undefined && decoded.name !== id) {
        return yield* new RecipeError({ reason: "rejected", recipe: id, message: `Recipe ${id} has name "${decoded.name}"; the name must equal the filename (${id}).` })
      }
      const problems = validateRecipe(decoded)
      if (problems.length > 0) {
        return yield* new RecipeError({ reason: "invalid", recipe: id, message: `Recipe ${id} is invalid: ${problems.join("; ")}` })
      }
      return { id, path: abs, dir: path.dirname(abs), source, file: decoded } satisfies Recipe
    })

    /** The `.json` files of a root, sorted; a missing or unreadable root has none. */
    const listRoot = (dir: string) =>
      fs.readDirectory(dir).pipe(
        Effect.map((names) => names.filter((n) => n.endsWith(".json")).sort().map((n) => path.join(dir, n))),
        Effect.orElseSucceed((): ReadonlyArray<string> => [])
      )

    /**
     * Reads both roots. Every file yields an entry — a malformed file is an `invalid` entry
     * with its diagnostic and never hides the others. Entries come per id in priority order
     * (user before packaged), ids sorted.
     */
    const discover = Effect.fn("Recipes.discover")(function* () {
      const roots: ReadonlyArray<readonly ["user" | "packaged", string]> = [
        ["user", config.userRecipes],
        ["packaged", config.packagedRecipes]
      ]
      const found: Array<{ entry: Omit<CatalogEntry, "status" | "shadowed_by">; recipe: Recipe | undefined; disabled: boolean }> = []
      for (const [source, dir] of roots) {
        for (const file of yield* listRoot(dir)) {
          const id = path.basename(file).replace(/\.json$/, "")
          const loaded = yield* Effect.either(load(file, source))
          if (Either.isRight(loaded)) {
            const r = loaded.right
            found.push({
              entry: { id, source, path: file, description: r.file.description, async: r.file.async, diagnostics: [] },
              recipe: r,
              disabled: r.file.disabled === true
            })
          } else {
            found.push({ entry: { id, source, path: file, diagnostics: [loaded.left.message] }, recipe: undefined, disabled: false })
          }
        }
      }
      const ids = [...new Set(found.map((f) => f.entry.id))].sort()
      const entries: Array<CatalogEntry> = []
      const active = new Map<string, Recipe>()
      for (const id of ids) {
        const group = found.filter((f) => f.entry.id === id)
        const top = group[0]!
        const status = top.recipe === undefined ? "invalid" : top.disabled ? "disabled" : "active"
        if (status === "active") active.set(id, top.recipe!)
        entries.push(new CatalogEntry({ ...top.entry, status }))
        for (const lower of group.slice(1)) {
          entries.push(new CatalogEntry({ ...lower.entry, status: "shadowed", shadowed_by: top.entry.path }))
        }
      }
      return { entries, active } as const
    })

    /**
     * Resolves a reference: a path (ends in `.json` or contains `/`) loads that file; an id
     * goes through the roots, where the highest-priority file decides.
     * @fails RecipeError `not_found` (no file for the id), `invalid` / `rejected` /
     *   `too_large` (the deciding file is broken — it blocks lower-priority files), `disabled`.
     */
    const resolve = Effect.fn("Recipes.resolve")(function* (ref: string) {
      if (ref.endsWith(".json") || ref.includes("/")) return yield* load(ref, "explicit")
      if (!recipeId.test(ref)) {
        return yield* new RecipeError({ reason: "not_found", recipe: ref, message: `Invalid recipe id: ${ref}` })
      }
      const catalog = yield* discover()
      const deciding = catalog.entries.find((e) => e.id === ref && e.status !== "shadowed")
      if (deciding === undefined) {
        return yield* new RecipeError({
          reason: "not_found",
          recipe: ref,
          message: `Unknown recipe: ${ref} (looked in ${config.userRecipes} and ${config.packagedRecipes})`
        })
      }
      if (deciding.status === "disabled") {
        return yield* new RecipeError({ reason: "disabled", recipe: ref, message: `Recipe ${ref} is disabled (${deciding.path})` })
      }
      const recipe = catalog.active.get(ref)
      if (recipe === undefined) {
        const blocked = catalog.entries.some((e) => e.id === ref && e.status === "shadowed")
        return yield* new RecipeError({
          reason: "invalid",
          recipe: ref,
          message: `${deciding.diagnostics.join("; ")} (${deciding.path}${blocked ? "; it blocks the lower-priority recipe with the same id" : ""})`
        })
      }
      return recipe
    })

    /** Every discovered recipe file with its status, per id in priority order. */
    const list = Effect.map(discover(), (c): ReadonlyArray<CatalogEntry> => c.entries)

    return { load, resolve, discover, list } as const
  })
}) {}
