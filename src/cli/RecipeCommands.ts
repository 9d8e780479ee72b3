/**
 * `troupe recipes list|show|validate|register|delete|doctor`: the recipe roots as the CLI sees them
 * (SPEC-runtime §2). They read the files directly; no daemon is involved. The Recipes service
 * is loaded on demand so other commands start fast.
 */
import { Args, Command, Options } from "@effect/cli"
import * as FileSystem from "@effect/platform/FileSystem"
import { Console, Effect, Either, Option, Stream } from "effect"
import type { CatalogEntry } from "../domain/Recipe.js"
import { compact } from "../domain/Inspect.js"
import { CliExit, templateFromFlag, UsageError } from "./Common.js"

const json = Options.boolean("json").pipe(Options.withDescription("Print stable JSON instead of compact text"))

/** The Registry service with the live configuration, loaded on demand. */
const withRegistry = <A, E>(f: (registry: import("../services/Registry.js").Registry) => Effect.Effect<A, E, FileSystem.FileSystem>) =>
  Effect.flatMap(
    Effect.promise(() => Promise.all([import("../services/Registry.js"), import("../layers/Live.js")])),
    ([mod, live]) => Effect.flatMap(mod.Registry, f).pipe(Effect.provide(live.layer()))
  )

/** The Recipes service with the live configuration, loaded on demand. */
const withRecipes = <A, E>(f: (recipes: import("../services/Recipes.js").Recipes) => Effect.Effect<A, E>) =>
  Effect.flatMap(
    Effect.promise(() => Promise.all([import("../services/Recipes.js"), import("../layers/Live.js")])),
    ([mod, live]) => Effect.flatMap(mod.Recipes, f).pipe(Effect.provide(live.layer()))
  )

const line = (e: CatalogEntry) =>
  `${e.id} status=${e.status} source=${e.source}${e.async === true ? " async" : ""}` +
  (e.status === "active" || e.status === "disabled" ? `  ${(e.description ?? "").slice(0, 100)}` : "") +
  (e.status === "shadowed" ? `  (shadowed by ${e.shadowed_by})` : "") +
  (e.status === "invalid" ? `  ${e.diagnostics[0] ?? ""}` : "")

const printList = (entries: ReadonlyArray<CatalogEntry>, asJson: boolean) =>
  Console.log(asJson ? JSON.stringify(entries) : entries.length === 0 ? "no recipes" : entries.map(line).join("\n"))

const watchOption = Options.boolean("watch").pipe(
  Options.withDescription("Keep running and print the list again after every change under the user root (Ctrl-C stops)")
)

const list = Command.make("list", { json, watch: watchOption }, (input) =>
  withRecipes((recipes) =>
    input.watch
      ? recipes.watch().pipe(
          Stream.zipWithIndex,
          Stream.runForEach(([entries, i]) =>
            Effect.zipRight(input.json || i === 0 ? Effect.void : Console.log("---"), printList(entries, input.json))
          )
        )
      : Effect.flatMap(recipes.list, (entries) => printList(entries, input.json))
  )
).pipe(Command.withDescription("List every recipe file of the user root and the packaged library with its status (active, shadowed, invalid, disabled)."))

const show = Command.make(
  "show",
  { recipe: Args.text({ name: "recipe" }).pipe(Args.withDescription("A recipe id or a recipe file (.json)")), json },
  (input) =>
    withRecipes((recipes) =>
      Effect.gen(function* () {
        const r = yield* recipes.resolve(input.recipe)
        const imports = r.imports.map((i) => ({ alias: i.alias, id: i.id, path: i.path }))
        if (input.json) {
          return yield* Console.log(JSON.stringify({ id: r.id, source: r.source, path: r.path, async: r.async, recipe: r.file, imports, template: r.template }))
        }
        const lines = [`id=${r.id} source=${r.source} async=${r.async} path=${compact(r.path)}`]
        for (const i of imports) lines.push(`import ${i.alias}=${i.id} path=${compact(i.path)}`)
        lines.push(JSON.stringify(r.file, null, 2))
        yield* Console.log(lines.join("\n"))
      })
    )
).pipe(Command.withDescription("Print the recipe an id (or file) resolves to, where it comes from and what it imports (--json adds the linked template that runs)."))

const validate = Command.make(
  "validate",
  { recipes: Args.text({ name: "recipe" }).pipe(Args.withDescription("Recipe ids or files"), Args.atLeast(1)) },
  (input) =>
    withRecipes((recipes) =>
      Effect.gen(function* () {
        let failed = 0
        for (const ref of input.recipes) {
          const r = yield* Effect.either(recipes.resolve(ref))
          if (Either.isRight(r)) yield* Console.log(`ok ${r.right.id} (${r.right.path})`)
          else {
            failed++
            yield* Console.log(`${r.left.reason} ${r.left.recipe}: ${r.left.message}`)
          }
        }
        if (failed > 0) return yield* new CliExit({ code: 1 })
      })
    )
).pipe(Command.withDescription("Check recipes (schema, arguments, defaults, rejected fields); exit 1 if any is not usable."))

const doctor = Command.make(
  "doctor",
  { recipe: Args.text({ name: "id" }), json },
  (input) =>
    withRecipes((recipes) =>
      Effect.gen(function* () {
        const entries = (yield* recipes.list).filter((e) => e.id === input.recipe)
        if (input.json) return yield* Console.log(JSON.stringify(entries))
        if (entries.length === 0) {
          yield* Console.log(`no recipe file is named ${input.recipe}.json in the user root or the packaged library`)
          return yield* new CliExit({ code: 1 })
        }
        const top = entries[0]!
        const verdict = {
          active: `${top.id} is usable: ${top.path} (${top.source}) decides.`,
          invalid: `${top.id} is blocked: the highest-priority file ${top.path} (${top.source}) is invalid, so no lower-priority file is used.`,
          disabled: `${top.id} is disabled by ${top.path} (${top.source}); lower-priority files are not used.`,
          shadowed: ""
        }[top.status]
        const rows = entries.map((e) =>
          [`- ${e.source} ${e.path}: ${e.status}`, ...e.diagnostics.map((d) => `    ${d}`), ...(e.warnings ?? []).map((w) => `    warning: ${w}`)].join("\n")
        )
        yield* Console.log([verdict, ...rows].join("\n"))
        if (top.status !== "active") return yield* new CliExit({ code: 1 })
      })
    )
).pipe(Command.withDescription("Explain how an id resolves: which file decides, what it shadows, every diagnostic, and warnings (tolerated pi-actors 0.17 fields, unused defaults)."))

const resultLine = (r: { action: string; name: string; path: string; async?: boolean | undefined }) =>
  `${r.name} ${r.action} path=${compact(r.path)}${r.async === true ? " async" : ""}`

const register = Command.make(
  "register",
  {
    name: Args.text({ name: "name" }).pipe(Args.withDescription("Tool name: ^[a-z][a-z0-9_]*$, not a built-in tool")),
    description: Options.text("description").pipe(Options.optional, Options.withDescription("One-line description")),
    template: Options.text("template").pipe(
      Options.optional,
      Options.withDescription("Command template: text, a JSON array/object, or a recipe file (\"subagent-prompt.json\")")
    ),
    args: Options.text("args").pipe(Options.optional, Options.withDescription("Argument declarations, comma-separated: \"scope:path,mode:enum(a,b)=a\"")),
    defaults: Options.keyValueMap("default").pipe(Options.optional, Options.withDescription("A default value (repeatable): --default model=m1")),
    from: Options.file("from").pipe(Options.optional, Options.withDescription("A JSON file with recipe fields to register (flags override it)")),
    async: Options.boolean("async").pipe(Options.withDescription("Mark the tool async (starts an actor)")),
    sync: Options.boolean("sync").pipe(Options.withDescription("Mark the tool foreground (async: false)")),
    update: Options.boolean("update").pipe(Options.withDescription("Change an existing tool; only the given fields change")),
    json
  },
  (input) =>
    withRegistry((registry) =>
      Effect.gen(function* () {
        const mod = yield* Effect.promise(() => import("../services/Registry.js"))
        const params: Record<string, unknown> = {}
        if (Option.isSome(input.from)) {
          const parsed = yield* mod.readRegisterFrom(input.from.value)
          Object.assign(params, parsed)
        }
        params.name = input.name
        if (Option.isSome(input.description)) params.description = input.description.value
        if (Option.isSome(input.template)) params.template = templateFromFlag(input.template.value)
        if (Option.isSome(input.args)) params.args = input.args.value
        if (Option.isSome(input.defaults)) params.defaults = Object.fromEntries(input.defaults.value)
        if (input.async) params.async = true
        if (input.sync) params.async = false
        if (input.update) params.update = true
        const result = yield* registry.register(yield* mod.decodeRegisterInput(params))
        yield* Console.log(input.json ? JSON.stringify(result) : resultLine(result))
      })
    )
).pipe(
  Command.withDescription(
    "Create (or with --update change) a tool in the user root: a recipe file written atomically after validation.\n" +
      "Examples:\n  troupe recipes register word_count --description 'Count words' --template 'wc -w {file:path}'\n" +
      "  troupe recipes register ask --description 'Ask a sub-agent' --template subagent-prompt.json --default model=m1"
  )
)

const deleteTool = Command.make(
  "delete",
  { name: Args.text({ name: "name" }), json },
  (input) =>
    withRegistry((registry) =>
      Effect.gen(function* () {
        const result = yield* registry.remove(input.name)
        yield* Console.log(input.json ? JSON.stringify(result) : resultLine(result))
      })
    )
).pipe(Command.withDescription("Delete a tool (its recipe file) from the user root."))

/** `troupe recipes …`. */
export const recipesCommand = Command.make("recipes").pipe(
  Command.withDescription(
    "Recipe files: the user root (TROUPE_RECIPES, else $PI_CODING_AGENT_DIR/recipes, else ~/.pi/agent/recipes) shadows the packaged library.\n" +
      "Examples:\n  troupe recipes list\n  troupe recipes show repo-health\n  troupe recipes validate ./my.json\n  troupe recipes register greet --description 'Greet' --template 'echo hi {who}'\n  troupe recipes delete greet\n  troupe recipes doctor review"
  ),
  Command.withSubcommands([list, show, validate, register, deleteTool, doctor])
)
