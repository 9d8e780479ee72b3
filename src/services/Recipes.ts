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
import { Duration, Effect, Either, Schedule, Schema, Stream } from "effect"
import { createHash } from "node:crypto"
import { describeParseError, jsonProblem } from "../domain/Diagnostic.js"
import { deeperThan, maxRecipeDepth, maxTemplateDepth } from "../domain/JsonDepth.js"
import { CatalogEntry, type Recipe, RecipeError, RecipeFile, type RecipeImport } from "../domain/Recipe.js"
import * as Check from "../domain/RecipeCheck.js"
import * as Imports from "../domain/RecipeImports.js"
import { strictParse, type TemplateInput } from "../domain/Template.js"
import * as Text from "../domain/TemplateText.js"
import { TroupeConfig } from "./TroupeConfig.js"
import { injectedNames, templateArgsSchema } from "./CommandGraph.js"
import { readRegularFile } from "./internal/RegularFile.js"

/** Largest recipe file read: 1 MiB. */
export const maxRecipeBytes = 1024 * 1024

/** Recipe ids (= file names without `.json`). */
export const recipeId = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/

const decodeRecipe = Schema.decodeUnknown(RecipeFile)

/** Deepest chain of imports followed (`Recipe import depth exceeds 32: …`). */
export const maxImportDepth = 32

/**
 * Checks a recipe's template beyond its schema: argument declarations, inline placeholders
 * that conflict with them, and defaults of declared typed arguments (ints, enums, …) that do
 * not fit their declaration. `defaults` is a free map of values (pi-actors 0.17): a default
 * that names no declared argument is a derived value, not an error, and a typed default
 * holding a placeholder (`"n": "{lenses.length}"`) is checked only once expanded, at run time.
 * @returns every problem found (empty when valid).
 */
export const validateRecipe = (recipe: {
  readonly template: TemplateInput
  readonly args?: ReadonlyArray<string> | undefined
  readonly defaults?: Readonly<Record<string, unknown>> | undefined
}): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const schema = Text.attempt(() => templateArgsSchema(recipe.template, recipe.args ?? [], recipe.defaults ?? {}))
  if (Either.isLeft(schema)) return [schema.left.message]
  const decls = Text.attempt(() => Text.parseArgDecls(recipe.args ?? []))
  if (Either.isRight(decls)) {
    for (const d of decls.right) {
      const v = recipe.defaults?.[d.name] ?? d.default
      if (v === undefined || v === null || Check.hasPlaceholder(v)) continue
      const checked = Text.attempt(() => Text.normalizeTyped(d.name, d.type, v))
      if (Either.isLeft(checked)) problems.push(`default of ${d.name}: ${checked.left.message}`)
    }
  }
  return problems
}

/**
 * What `recipes doctor` reports about a valid recipe without blocking it: tolerated
 * pi-actors 0.17 fields and defaults no placeholder uses.
 */
export const recipeWarnings = (recipe: Pick<Recipe, "file" | "template" | "defaults" | "values" | "artifacts">): ReadonlyArray<string> => [
  ...Check.toleratedWarnings(recipe.file),
  ...Check.unusedDefaults(recipe, injectedNames).map((k) => `default "${k}" is not used by any placeholder`)
]

/**
 * Decodes a recipe file's text: JSON, the nesting depth (at most `maxRecipeDepth`, 64 levels),
 * the `tool`/`script` guidance, the schema, and `name` equal to the id.
 * @fails RecipeError `invalid` (JSON, `Recipe x is nested deeper than 64 levels`, schema), `rejected` (`tool`, `script`, name mismatch).
 */
export const decodeText = (id: string, text: string): Effect.Effect<RecipeFile, RecipeError> =>
  Effect.gen(function* () {
    const fail = (reason: RecipeError["reason"], message: string) => new RecipeError({ reason, recipe: id, message })
    if (!recipeId.test(id)) return yield* fail("invalid", `Invalid recipe file name ${id}.json: ids match ^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
    const json = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (e) => fail("invalid", `Recipe ${id} is not valid JSON: ${jsonProblem(e)}`)
    })
    if (deeperThan(json, maxRecipeDepth)) {
      return yield* fail("invalid", `Recipe ${id} is nested deeper than ${maxRecipeDepth} levels`)
    }
    if (typeof json === "object" && json !== null && !Array.isArray(json)) {
      if ("tool" in json) {
        return yield* fail("rejected", `Recipe ${id} has a "tool" field; the filename is the tool name. Remove "tool" and name the file ${id}.json.`)
      }
      if ("script" in json) {
        return yield* fail("rejected", `Recipe ${id} has a "script" field; put the command in "template" (a script file runs as the first word, e.g. "./scripts/x.sh {arg}").`)
      }
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      return yield* fail("invalid", `Recipe ${id} must be a JSON object with a "template" field, not ${Array.isArray(json) ? "an array" : json === null ? "null" : `a ${typeof json}`}`)
    }
    const decoded = yield* decodeRecipe(json, strictParse).pipe(
      Effect.mapError((e) => fail("invalid", `Recipe ${id}: ${describeParseError(e, json)}`))
    )
    // Only an agent recipe (`"kind": "agent"`) goes without a template.
    if (decoded.template === undefined && decoded.kind !== "agent") return yield* fail("invalid", `Recipe ${id}: missing field "template"`)
    if (decoded.name !== undefined && decoded.name !== id) {
      return yield* fail("rejected", `Recipe ${id} has name "${decoded.name}"; the name must equal the filename (${id}).`)
    }
    return decoded
  })

export class Recipes extends Effect.Service<Recipes>()("troupe/Recipes", {
  effect: Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const config = yield* TroupeConfig

    interface Raw {
      readonly id: string
      readonly path: string
      readonly dir: string
      readonly file: RecipeFile
      readonly fingerprint: string
    }

    const err = (reason: RecipeError["reason"], recipe: string, message: string) => new RecipeError({ reason, recipe, message })

    /**
     * Reads and decodes one recipe file (no import linking, no argument validation).
     * @fails RecipeError `not_found`, `too_large`, `invalid`, `rejected`.
     */
    const readFile = Effect.fn("Recipes.readFile")(function* (location: string) {
      const abs = path.resolve(location)
      const id = path.basename(abs).replace(/\.json$/, "")
      // Regular files only, bounded on the bytes read: a FIFO, a device or a symlink to one
      // is one diagnostic, never a hang or an unbounded read (internal/RegularFile.ts).
      const bytes = yield* readRegularFile(abs, maxRecipeBytes).pipe(
        Effect.mapError((e) =>
          e.reason === "too_large"
            ? err("too_large", id, `Recipe ${id} is larger than 1 MiB: ${abs}`)
            : e.reason === "not_regular"
              ? err("invalid", id, `Recipe ${id} is skipped: ${e.message}`)
              : (e.message.includes("ENOENT") ? err("not_found", id, `Recipe file not found: ${abs}`) : err("not_found", id, `Cannot read recipe ${abs}: ${e.message}`))
        )
      )
      return yield* fromBytes(abs, bytes)
    })

    const fromBytes = (abs: string, bytes: Uint8Array) =>
      Effect.gen(function* () {
        const id = path.basename(abs).replace(/\.json$/, "")
        if (bytes.length > maxRecipeBytes) return yield* err("too_large", id, `Recipe ${id} is larger than 1 MiB: ${abs}`)
        const file = yield* decodeText(id, new TextDecoder().decode(bytes))
        return { id, path: abs, dir: path.dirname(abs), file, fingerprint: createHash("sha256").update(bytes).digest("hex") } satisfies Raw
      })

    /** Where an import or a recipe-file reference points: a path relative to `dir`, else an id through the roots. */
    const locate = (dir: string, ref: string) =>
      Effect.gen(function* () {
        const relative = path.resolve(dir, ref.endsWith(".json") ? ref : `${ref}.json`)
        if (ref.includes("/") || (yield* fs.exists(relative).pipe(Effect.orElseSucceed(() => false)))) return relative
        const id = ref.replace(/\.json$/, "")
        for (const root of [config.userRecipes, config.packagedRecipes]) {
          const candidate = path.join(root, `${id}.json`)
          if (yield* fs.exists(candidate).pipe(Effect.orElseSucceed(() => false))) return candidate
        }
        return relative
      })

    /**
     * Links a read recipe: resolves each import (transitively, cycle- and depth-checked),
     * replaces `{alias.*}` references, inlines import nodes, follows a recipe-file template
     * reference, then validates the arguments of the result.
     * @fails RecipeError `import` (`Unknown recipe import: x`, `Cyclic recipe import: a -> b -> a`,
     *   `Recipe import depth exceeds 32: …`, a broken or disabled import), `invalid`.
     */
    const link = (raw: Raw, source: Recipe["source"], chain: ReadonlyArray<Raw>): Effect.Effect<Recipe, RecipeError> =>
      Effect.gen(function* () {
        const trail = [...chain, raw]
        if (chain.length > maxImportDepth) {
          return yield* err("import", trail[0]!.id, `Recipe import depth exceeds ${maxImportDepth}: ${trail.map((r) => r.id).join(" -> ")}`)
        }
        const loadImport = (alias: string, ref: string) =>
          Effect.gen(function* () {
            const target = yield* locate(raw.dir, ref)
            const cycle = trail.findIndex((r) => r.path === target)
            if (cycle >= 0) {
              const ids = [...trail.slice(cycle).map((r) => r.id), trail[cycle]!.id]
              return yield* err("import", raw.id, `Cyclic recipe import: ${ids.join(" -> ")}`)
            }
            const imported = yield* readFile(target).pipe(
              Effect.mapError((e) =>
                e.reason === "not_found"
                  ? err("import", raw.id, `Recipe ${raw.id}: Unknown recipe import: ${alias} (${ref} not found; looked at ${target})`)
                  : err("import", raw.id, `Recipe ${raw.id} imports ${alias} (${target}): ${e.message}`)
              )
            )
            if (imported.file.disabled === true) {
              return yield* err("import", raw.id, `Recipe ${raw.id} imports ${alias}, which is disabled (${target})`)
            }
            return yield* link(imported, source, trail).pipe(
              Effect.mapError((e) => (e.reason === "import" ? e : err("import", raw.id, `Recipe ${raw.id} imports ${alias} (${target}): ${e.message}`)))
            )
          })

        const linked = new Map<string, Imports.LinkedImport>()
        const imports: Array<RecipeImport> = []
        for (const [alias, spec] of Object.entries(raw.file.imports ?? {})) {
          if (!Text.isIdentifier(alias)) return yield* err("invalid", raw.id, `Recipe ${raw.id} has an invalid import alias: ${alias}`)
          const ref = typeof spec === "string" ? spec : spec.from
          const r = yield* loadImport(alias, ref)
          // The imported recipe's own `values` bind above its defaults; the declaration's
          // `defaults` (pi-actors 0.17 `{ from, defaults }`) above both.
          const defaults = { ...r.defaults, ...r.values, ...(typeof spec === "string" ? {} : spec.defaults) }
          linked.set(alias, { id: r.id, dir: r.dir, template: r.template, args: r.args, defaults, values: typeof spec === "string" ? {} : spec.values ?? {} })
          imports.push({ alias, id: r.id, path: r.path }, ...r.imports)
        }

        // An agent recipe (docs/agents.md "Agent runs"): Pi with a task and a model, no template.
        if (raw.file.kind === "agent") {
          if (raw.file.template !== undefined) {
            return yield* err("invalid", raw.id, `Recipe ${raw.id} is an agent recipe ("kind": "agent"): it takes task and model, not a template`)
          }
          const async = true
          return {
            id: raw.id, path: raw.path, dir: raw.dir, source, file: raw.file, fingerprint: raw.fingerprint, imports, template: [], args: undefined,
            defaults: raw.file.defaults, values: raw.file.values, async, mailbox: raw.file.mailbox, artifacts: raw.file.artifacts,
            description: raw.file.description ?? Check.generatedDescription(raw.id, async, [])
          } satisfies Recipe
        }
        const template = raw.file.template
        if (template === undefined) return yield* err("invalid", raw.id, `Recipe ${raw.id}: missing field "template"`)
        const pointer = Imports.recipePointer(template)
        // Top-level node fields (`timeout`, `repeat`, `parallel`, …) apply to the root node.
        const flags = Check.rootFlags(raw.file)
        let base: Pick<Recipe, "template" | "args" | "defaults" | "values" | "async" | "mailbox" | "artifacts"> & { readonly description?: string | undefined }
        if (pointer !== undefined) {
          const r = yield* loadImport(pointer.replace(/\.json$/, ""), pointer)
          imports.push({ alias: "template", id: r.id, path: r.path }, ...r.imports)
          base = {
            template: Imports.importedNode(
              { id: r.id, dir: r.dir, template: r.template, args: raw.file.args ?? r.args, defaults: { ...r.defaults, ...raw.file.defaults }, values: {} },
              flags
            ),
            args: undefined,
            defaults: undefined,
            values: r.values === undefined && raw.file.values === undefined ? undefined : { ...r.values, ...raw.file.values },
            async: raw.file.async ?? r.async,
            mailbox: raw.file.mailbox ?? r.mailbox,
            artifacts: raw.file.artifacts ?? r.artifacts,
            description: raw.file.description ?? r.file.description
          }
        } else {
          const out = yield* Effect.try({
            try: () => Imports.link(Check.withRootFlags(template, flags), raw.file.defaults, linked),
            catch: (e) => err("import", raw.id, e instanceof Imports.ImportProblem ? `Recipe ${raw.id}: ${e.message}` : String(e))
          })
          base = {
            template: out.template,
            args: raw.file.args,
            defaults: out.defaults,
            values: raw.file.values,
            async: raw.file.async === true,
            mailbox: raw.file.mailbox,
            artifacts: raw.file.artifacts,
            description: raw.file.description
          }
        }
        if (deeperThan(base.template, maxTemplateDepth)) {
          return yield* err("invalid", raw.id, `Recipe ${raw.id} with its imports is nested deeper than ${maxTemplateDepth} levels`)
        }
        const problems = validateRecipe({ template: base.template, args: base.args, defaults: base.defaults })
        if (problems.length > 0) return yield* err("invalid", raw.id, `Recipe ${raw.id}: ${problems.join("; ")}`)
        const description = base.description ?? Check.generatedDescription(raw.id, base.async, argNames(base))
        return { id: raw.id, path: raw.path, dir: raw.dir, source, file: raw.file, fingerprint: raw.fingerprint, imports, ...base, description } satisfies Recipe
      })

    /**
     * Argument names of a linked recipe, for generated descriptions: its `args` declarations,
     * else the properties of its JSON Schema (inline-first recipes).
     */
    const argNames = (r: Pick<Recipe, "template" | "args" | "defaults">): ReadonlyArray<string> =>
      r.args !== undefined && r.args.length > 0
        ? Either.getOrElse(Either.map(Text.attempt(() => Text.parseArgDecls(r.args ?? [])), (ds) => ds.map((d) => d.name)), () => [])
        : Either.match(Text.attempt(() => templateArgsSchema(r.template, r.args ?? [], r.defaults ?? {})), {
        onLeft: () => [],
        onRight: (schema) => Object.keys(schema.properties)
      })

    /**
     * Reads, decodes, links and validates one recipe file.
     * @fails RecipeError `not_found`, `too_large` (> 1 MiB), `invalid` (JSON, schema,
     *   argument declarations, defaults), `rejected` (`tool` or `script` fields, which
     *   pi-actors 0.17 also refused; a `name` that differs from the filename), `import`.
     */
    const load = Effect.fn("Recipes.load")(function* (file: string, source: Recipe["source"]) {
      return yield* link(yield* readFile(file), source, [])
    })

    /**
     * Checks recipe text as if it were the file `file` (which need not exist): decoding,
     * imports (relative to the file's directory) and argument validation — what `load` would
     * report, before anything is written.
     * @fails RecipeError like `load`.
     */
    const check = Effect.fn("Recipes.check")(function* (file: string, text: string, source: Recipe["source"]) {
      return yield* link(yield* fromBytes(path.resolve(file), new TextEncoder().encode(text)), source, [])
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
              entry: { id, source, path: file, description: r.description, async: r.async, diagnostics: [], warnings: recipeWarnings(r), fingerprint: r.fingerprint },
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
     * The highest-priority file for an id decides, even when it is broken (it blocks the
     * lower-priority files instead of silently falling back to them).
     * @fails RecipeError `not_found` (no file for the id), `invalid` / `rejected` /
     *   `too_large` / `import` (the deciding file is broken), `disabled`.
     */
    const resolve = Effect.fn("Recipes.resolve")(function* (ref: string) {
      if (ref.endsWith(".json") || ref.includes("/")) return yield* load(ref, "explicit")
      if (!recipeId.test(ref)) {
        return yield* new RecipeError({ reason: "not_found", recipe: ref, message: `Invalid recipe id: ${ref}` })
      }
      const exists = (file: string) => fs.exists(file).pipe(Effect.orElseSucceed(() => false))
      const candidates: ReadonlyArray<readonly ["user" | "packaged", string]> = [
        ["user", path.join(config.userRecipes, `${ref}.json`)],
        ["packaged", path.join(config.packagedRecipes, `${ref}.json`)]
      ]
      for (const [i, [source, file]] of candidates.entries()) {
        if (!(yield* exists(file))) continue
        const blocks = (message: string) =>
          Effect.gen(function* () {
            const lower = candidates.slice(i + 1)
            for (const [, other] of lower) if (yield* exists(other)) return `${message} (${file}; it blocks the lower-priority recipe with the same id)`
            return `${message} (${file})`
          })
        const recipe = yield* load(file, source).pipe(
          Effect.catchAll((e) => Effect.flatMap(blocks(e.message), (message) => new RecipeError({ reason: e.reason, recipe: ref, message })))
        )
        if (recipe.file.disabled === true) {
          return yield* new RecipeError({ reason: "disabled", recipe: ref, message: yield* blocks(`Recipe ${ref} is disabled`) })
        }
        return recipe
      }
      return yield* new RecipeError({
        reason: "not_found",
        recipe: ref,
        message: `Unknown recipe: ${ref} (looked in ${config.userRecipes} and ${config.packagedRecipes})`
      })
    })

    /** Every discovered recipe file with its status, per id in priority order. */
    const list = Effect.map(discover(), (c): ReadonlyArray<CatalogEntry> => c.entries)

    /**
     * The catalog now and after every change under the user root (a watcher, debounced by
     * `debounceMs`, default 150 ms): each element is the full `list`, emitted only when it
     * differs from the previous one. When the root is missing or the watch fails, it retries
     * every second, so a root created later is picked up. Never fails; runs until interrupted.
     * Used by adapters to re-register tools (pi-actors re-read its recipe root on reload).
     */
    const watch = (debounceMs = 150): Stream.Stream<ReadonlyArray<CatalogEntry>> =>
      // Each (re)start of the watch re-reads the catalog: files written while no watch ran
      // (the root did not exist yet) are seen too.
      Stream.concat(Stream.make(undefined), fs.watch(config.userRecipes, { recursive: true })).pipe(
        Stream.tapError((e) => Effect.logDebug(`recipe root watch: ${e.message}; retrying in 1 s`)),
        // Retried forever: the error channel is empty in practice.
        Stream.retry(Schedule.spaced(Duration.seconds(1))),
        Stream.orDie,
        Stream.debounce(Duration.millis(debounceMs)),
        Stream.mapEffect(() => list),
        Stream.changesWith((a, b) => JSON.stringify(a) === JSON.stringify(b))
      )

    return { load, check, resolve, discover, list, watch } as const
  })
}) {}
