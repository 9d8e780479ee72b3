/**
 * `troupe recipes list|show|validate|doctor`: the recipe roots as the CLI sees them
 * (SPEC-runtime §2). They read the files directly; no daemon is involved. The Recipes service
 * is loaded on demand so other commands start fast.
 */
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Either } from "effect"
import type { CatalogEntry } from "../domain/Recipe.js"
import { compact } from "../domain/Inspect.js"
import { CliExit } from "./Common.js"

const json = Options.boolean("json").pipe(Options.withDescription("Print stable JSON instead of compact text"))

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

const list = Command.make("list", { json }, (input) =>
  withRecipes((recipes) =>
    Effect.gen(function* () {
      const entries = yield* recipes.list
      if (input.json) return yield* Console.log(JSON.stringify(entries))
      if (entries.length === 0) return yield* Console.log("no recipes")
      yield* Console.log(entries.map(line).join("\n"))
    })
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
          [`- ${e.source} ${e.path}: ${e.status}`, ...e.diagnostics.map((d) => `    ${d}`)].join("\n")
        )
        yield* Console.log([verdict, ...rows].join("\n"))
        if (top.status !== "active") return yield* new CliExit({ code: 1 })
      })
    )
).pipe(Command.withDescription("Explain how an id resolves: which file decides, what it shadows, and every diagnostic."))

/** `troupe recipes …`. */
export const recipesCommand = Command.make("recipes").pipe(
  Command.withDescription(
    "Recipe files: the user root (TROUPE_RECIPES, else $PI_CODING_AGENT_DIR/recipes, else ~/.pi/agent/recipes) shadows the packaged library.\n" +
      "Examples:\n  troupe recipes list\n  troupe recipes show repo-health\n  troupe recipes validate ./my.json\n  troupe recipes doctor review"
  ),
  Command.withSubcommands([list, show, validate, doctor])
)
