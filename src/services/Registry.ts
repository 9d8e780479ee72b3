/**
 * The tool registry (SPEC-runtime §2 `register_tool`): create, update, delete and list the
 * recipe files of the user root — the agent's tools by location.
 *
 * Every write is checked first exactly as discovery would load the file (schema, arguments,
 * defaults, imports), then written atomically (temp file + fsync + rename, with
 * `write-file-atomic`), under an inter-process lock on the user root (`proper-lockfile`), so a
 * crash leaves the old or the new file and concurrent registrations all land. Usage metadata
 * never touches these files (it lives in the store).
 *
 * Corresponds to pi-actors 0.17 `register_tool name=… description=… template=… args=…`,
 * `update=true` and `template=null` (delete).
 */
import { FileSystem, Path } from "@effect/platform"
import { Effect, Schema } from "effect"
import type { CatalogEntry, Recipe } from "../domain/Recipe.js"
import { describeParseError } from "../domain/Diagnostic.js"
import { RecipeError, recipeNodeFields } from "../domain/Recipe.js"
import { TemplateInput } from "../domain/Template.js"
import { TroupeConfig } from "./TroupeConfig.js"
import { maxRecipeBytes, Recipes } from "./Recipes.js"
import { readRegularFile } from "./internal/RegularFile.js"
import { deeperThan, maxRecipeDepth } from "../domain/JsonDepth.js"

/** Tool names (= user-root file names): `^[a-z][a-z0-9_]*$`. */
export const toolName = /^[a-z][a-z0-9_]*$/

/**
 * Names a registered tool may not take: troupe's own tools, Pi's core tools and the tool
 * families troupe adds (`bg_*`, `vers_*`).
 */
export const reservedNames: ReadonlySet<string> = new Set([
  "spawn",
  "message",
  "inspect",
  "register_tool",
  "read",
  "bash",
  "edit",
  "write",
  "grep",
  "find",
  "ls",
  "bg_start",
  "bg_stop",
  "bg_list",
  "bg_logs",
  "troupe"
])

/** Name prefixes reserved for tool families (`vers_*`). */
export const reservedPrefixes: ReadonlyArray<string> = ["vers_"]

/** Whether `name` is reserved for a core or Pi tool (a name in {@link reservedNames} or a `vers_*` name). */
export const isReservedName = (name: string): boolean =>
  reservedNames.has(name) || reservedPrefixes.some((p) => name.startsWith(p))

const ValuesRecord = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/** A field `update` may set (a value), remove (`null`) or leave alone (absent). */
const replaceable = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.NullOr(schema))

/**
 * `register_tool` parameters (pi-actors 0.17 shape). `name` is required; every other field is
 * a recipe field that replaces the stored one on `update` (`null` removes it). `template: null`
 * deletes the tool. `args` is an array of declarations or one comma-separated string
 * (`"scope:path,mode:enum(fast,slow)"` — commas inside parentheses stay).
 */
export class RegisterInput extends Schema.Class<RegisterInput>("RegisterInput")({
  name: Schema.String,
  description: replaceable(Schema.String),
  template: replaceable(TemplateInput),
  args: replaceable(Schema.Union(Schema.String, Schema.Array(Schema.String))),
  defaults: replaceable(ValuesRecord),
  async: replaceable(Schema.Boolean),
  mailbox: replaceable(Schema.Unknown),
  artifacts: replaceable(Schema.Unknown),
  imports: replaceable(Schema.Unknown),
  disabled: replaceable(Schema.Boolean),
  values: replaceable(ValuesRecord),
  // Root-node fields (pi-actors 0.17: a recipe is also a template node); the recipe check
  // validates them.
  parallel: replaceable(Schema.Unknown),
  concurrency: replaceable(Schema.Unknown),
  min_successful: replaceable(Schema.Unknown),
  when: replaceable(Schema.Unknown),
  label: replaceable(Schema.Unknown),
  timeout: replaceable(Schema.Unknown),
  delay: replaceable(Schema.Unknown),
  output: replaceable(Schema.Unknown),
  retry: replaceable(Schema.Unknown),
  failure: replaceable(Schema.Unknown),
  recover: replaceable(Schema.Unknown),
  repeat: replaceable(Schema.Unknown),
  on: replaceable(Schema.Unknown),
  update: Schema.optional(Schema.Boolean)
}) {}

/** What a registration did. */
export class RegisterResult extends Schema.Class<RegisterResult>("RegisterResult")({
  action: Schema.Literal("created", "updated", "deleted"),
  name: Schema.String,
  path: Schema.String,
  description: Schema.optional(Schema.String),
  async: Schema.optional(Schema.Boolean)
}) {}

/** Splits `"a:int,mode:enum(x,y)"` on the commas outside parentheses. */
export const splitArgs = (text: string): ReadonlyArray<string> => {
  const out: Array<string> = []
  let depth = 0
  let current = ""
  for (const ch of text) {
    if (ch === "(") depth++
    if (ch === ")") depth = Math.max(0, depth - 1)
    if (ch === "," && depth === 0) {
      out.push(current)
      current = ""
    } else current += ch
  }
  out.push(current)
  return out.map((s) => s.trim()).filter((s) => s.length > 0)
}

/** Field order when writing: metadata first, `template` last (SPEC-runtime §2). */
const fieldOrder = [
  "description",
  "async",
  "disabled",
  "args",
  "defaults",
  "values",
  "mailbox",
  "artifacts",
  "imports",
  ...recipeNodeFields,
  "template"
] as const

export class Registry extends Effect.Service<Registry>()("troupe/Registry", {
  effect: Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const config = yield* TroupeConfig
    const recipes = yield* Recipes
    const root = config.userRecipes

    const fail = (reason: RecipeError["reason"], name: string, message: string) => new RecipeError({ reason, recipe: name, message })
    const io = (name: string, what: string) => (e: unknown) =>
      fail("io", name, `Cannot ${what} in ${root}: ${e instanceof Error ? e.message : String(e)}`)

    /** Checks a tool name: the pattern and the reserved names. */
    const checkName = (name: string) =>
      Effect.gen(function* () {
        if (!toolName.test(name)) return yield* fail("rejected", name, `Tool name ${JSON.stringify(name)} is invalid: tool names match ^[a-z][a-z0-9_]*$`)
        if (isReservedName(name)) {
          return yield* fail("rejected", name, `Tool name ${name} is reserved (it would shadow a built-in or core tool)`)
        }
      })

    // In-process writers queue here, so only other processes contend for the file lock.
    const mutex = yield* Effect.makeSemaphore(1)

    // Loaded on first use, not at startup: both libraries install signal-exit handlers, and a
    // signal-exit handler that finds itself the last SIGTERM listener re-raises the signal —
    // which would kill a long-running process (the daemon) in the middle of its own orderly
    // shutdown. Only processes that actually write the registry load them.
    const libs = yield* Effect.cached(
      Effect.promise(async () => {
        const [lock, atomic] = await Promise.all([import("proper-lockfile"), import("write-file-atomic")])
        return { lock: lock.default ?? lock, writeFileAtomic: atomic.default }
      })
    )

    /** Runs `body` holding the registry lock (in-process, then inter-process; stale after 10 s). */
    const locked = <A, E>(name: string, body: Effect.Effect<A, E>) =>
      mutex.withPermits(1)(Effect.acquireUseRelease(
        Effect.gen(function* () {
          yield* fs.makeDirectory(root, { recursive: true }).pipe(Effect.mapError(io(name, "create the recipe root")))
          const { lock } = yield* libs
          return yield* Effect.tryPromise({
            try: () =>
              lock.lock(root, {
                lockfilePath: path.join(root, ".troupe-registry.lock"),
                stale: 10_000,
                retries: { retries: 200, minTimeout: 5, maxTimeout: 100 }
              }),
            catch: io(name, "lock the registry")
          })
        }),
        () => body,
        (release) =>
          Effect.tryPromise(() => release()).pipe(
            Effect.catchAll((e) => Effect.logWarning(`registry lock in ${root} not released cleanly (it goes stale after 10 s): ${e.message}`))
          )
      ))

    const readExisting = (name: string, file: string) =>
      Effect.gen(function* () {
        if (!(yield* fs.exists(file).pipe(Effect.orElseSucceed(() => false)))) return undefined
        // Regular files only, bounded: a FIFO or a /dev/zero symlink must not hang or fill memory.
        const bytes = yield* readRegularFile(file, maxRecipeBytes).pipe(
          Effect.mapError((e) => (e.reason === "missing" ? io(name, `read ${file}`)(e) : fail("invalid", name, `Cannot update ${name}: ${e.message}`)))
        )
        const json = yield* Effect.try({
          try: () => JSON.parse(new TextDecoder().decode(bytes)) as unknown,
          catch: () => fail("invalid", name, `Cannot update ${name}: ${file} is not valid JSON; fix it or delete the tool first`)
        })
        if (typeof json !== "object" || json === null || Array.isArray(json)) {
          return yield* fail("invalid", name, `Cannot update ${name}: ${file} does not hold a JSON object`)
        }
        return json as Record<string, unknown>
      })

    /**
     * Deletes a user-root tool (its recipe file).
     * @fails RecipeError `rejected` (bad or reserved name), `conflict` (no such tool), `io`.
     */
    const remove = Effect.fn("Registry.remove")(function* (name: string) {
      yield* checkName(name)
      const file = path.join(root, `${name}.json`)
      return yield* locked(
        name,
        Effect.gen(function* () {
          if (!(yield* fs.exists(file).pipe(Effect.orElseSucceed(() => false)))) {
            return yield* fail("conflict", name, `Tool ${name} is not registered (no ${file})`)
          }
          yield* fs.remove(file).pipe(Effect.mapError(io(name, `delete ${file}`)))
          return new RegisterResult({ action: "deleted", name, path: file })
        })
      )
    })

    /**
     * Creates (or with `update: true` changes) a user-root tool, or deletes it
     * (`template: null`). The composed file is validated like discovery would (a broken
     * registration writes nothing) and written atomically.
     * @fails RecipeError `rejected` (bad or reserved name, `tool`/`script` fields), `conflict`
     *   (exists without `update`; missing with `update`), `invalid` / `import` (the result is
     *   not a valid recipe), `io`.
     */
    const register = Effect.fn("Registry.register")(function* (input: RegisterInput) {
      yield* checkName(input.name)
      if (input.template === null) return yield* remove(input.name)
      const name = input.name
      const file = path.join(root, `${name}.json`)
      return yield* locked(
        name,
        Effect.gen(function* () {
          const existing = yield* readExisting(name, file)
          if (existing !== undefined && input.update !== true) {
            return yield* fail("conflict", name, `Tool ${name} already exists (${file}); pass update=true to change it`)
          }
          if (existing === undefined && input.update === true) {
            return yield* fail("conflict", name, `Tool ${name} is not registered; omit update to create it`)
          }
          const merged: Record<string, unknown> = { ...existing }
          delete merged.name
          for (const key of fieldOrder) {
            const v = input[key]
            if (v === undefined) continue
            if (v === null) delete merged[key]
            else merged[key] = key === "args" && typeof v === "string" ? splitArgs(v) : v
          }
          const ordered: Record<string, unknown> = {}
          for (const key of fieldOrder) if (merged[key] !== undefined) ordered[key] = merged[key]
          for (const [k, v] of Object.entries(merged)) if (!(k in ordered)) ordered[k] = v
          if (ordered.template !== undefined) {
            const t = ordered.template
            delete ordered.template
            ordered.template = t
          }
          const text = JSON.stringify(ordered, null, 2) + "\n"
          const recipe: Recipe = yield* recipes.check(file, text, "user")
          const { writeFileAtomic } = yield* libs
          yield* Effect.tryPromise({ try: () => writeFileAtomic(file, text, { fsync: true }), catch: io(name, `write ${file}`) })
          return new RegisterResult({
            action: existing === undefined ? "created" : "updated",
            name,
            path: file,
            description: recipe.description,
            async: recipe.async
          })
        })
      )
    })

    /** The user root's recipes (the tools) with their status. */
    const list = Effect.map(recipes.list, (all): ReadonlyArray<CatalogEntry> => all.filter((e) => e.source === "user"))

    return { register, remove, list, checkName } as const
  }),
  dependencies: [Recipes.Default]
}) {}

/** Decodes unknown `register_tool` parameters. @fails RecipeError `invalid` naming the bad field. */
export const decodeRegisterInput = (input: unknown): Effect.Effect<RegisterInput, RecipeError> =>
  Schema.decodeUnknown(RegisterInput)(input, { onExcessProperty: "error", errors: "all" }).pipe(
    Effect.mapError((e) =>
      new RecipeError({
        reason: "invalid",
        recipe: typeof input === "object" && input !== null && typeof (input as { name?: unknown }).name === "string" ? (input as { name: string }).name : "",
        message: `Invalid register_tool parameters: ${describeParseError(e, input)}`
      })
    )
  )

/**
 * Reads `troupe recipes register --from <file>`: a regular file only (never a FIFO, a device
 * or a symlink to one), at most {@link maxRecipeBytes} bytes, holding one JSON object nested at
 * most {@link maxRecipeDepth} deep — the same bounds as recipe discovery.
 * @fails RecipeError `invalid` with one sentence naming `--from <file>`.
 */
export const readRegisterFrom = (file: string): Effect.Effect<Record<string, unknown>, RecipeError> =>
  Effect.gen(function* () {
    const invalid = (message: string) => new RecipeError({ reason: "invalid", recipe: "", message })
    const bytes = yield* readRegularFile(file, maxRecipeBytes).pipe(Effect.mapError((e) => invalid(`Cannot read --from ${file}: ${e.message}`)))
    const parsed = yield* Effect.try({
      try: () => JSON.parse(new TextDecoder().decode(bytes)) as unknown,
      catch: (e) => invalid(`--from ${file} is not valid JSON: ${(e as Error).message}`)
    })
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      return yield* invalid(`--from ${file} must hold a JSON object of recipe fields`)
    }
    if (deeperThan(parsed, maxRecipeDepth)) return yield* invalid(`--from ${file} is nested more than ${maxRecipeDepth} levels deep`)
    return parsed as Record<string, unknown>
  })
