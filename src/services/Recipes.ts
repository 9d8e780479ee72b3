/**
 * Recipes: find, read and decode recipe files (SPEC-runtime §2).
 *
 * This first version resolves a reference that is a path to a `.json` file (always works), or
 * an id of a packaged recipe under `recipes/`. Discovery across user roots, imports and the
 * registry build on it.
 */
import { FileSystem, Path } from "@effect/platform"
import { Effect, ParseResult, Schema } from "effect"
import { type Recipe, RecipeError, RecipeFile } from "../domain/Recipe.js"
import { strictParse } from "../domain/Template.js"
import { TroupeConfig } from "../layers/Config.js"

/** Largest recipe file read: 1 MiB. */
export const maxRecipeBytes = 1024 * 1024

const recipeId = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/

const decodeRecipe = Schema.decodeUnknown(RecipeFile)

export class Recipes extends Effect.Service<Recipes>()("troupe/Recipes", {
  effect: Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const config = yield* TroupeConfig

    /**
     * Reads and decodes one recipe file.
     * @fails RecipeError `not_found`, `too_large` (> 1 MiB), `invalid`, `rejected` (`tool` or
     *   `script` fields, which pi-actors 0.17 also refused; a `name` that differs from the filename).
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
      return { id, path: abs, dir: path.dirname(abs), source, file: decoded } satisfies Recipe
    })

    /**
     * Resolves a reference: a path (ends in `.json` or contains `/`) or a packaged recipe id.
     * @fails RecipeError (see `load`).
     */
    const resolve = Effect.fn("Recipes.resolve")(function* (ref: string) {
      if (ref.endsWith(".json") || ref.includes("/")) return yield* load(ref, "explicit")
      if (!recipeId.test(ref)) {
        return yield* new RecipeError({ reason: "not_found", recipe: ref, message: `Invalid recipe id: ${ref}` })
      }
      const file = path.join(config.packagedRecipes, `${ref}.json`)
      const exists = yield* fs.exists(file).pipe(Effect.orElseSucceed(() => false))
      if (!exists) {
        return yield* new RecipeError({ reason: "not_found", recipe: ref, message: `Unknown recipe: ${ref} (looked in ${config.packagedRecipes})` })
      }
      return yield* load(file, "packaged")
    })

    return { load, resolve } as const
  })
}) {}
