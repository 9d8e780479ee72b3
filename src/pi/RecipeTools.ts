/**
 * One Pi tool per active recipe in the user root (pi-actors: "every recipe in
 * `~/.pi/agent/recipes/*.json` is an agent tool"). The tool name is the file name normalized
 * the pi-actors way (lowercase, `[^a-z0-9_]` → `_`); its parameters are the recipe's
 * arguments. An `async` recipe's tool spawns a run and returns at once (plus an optional
 * `run_id`); a foreground recipe's tool spawns a run, streams its output through `onUpdate`
 * (at most every 250 ms), waits, and returns the output — a failed run is a failed tool call,
 * and aborting the call kills the run.
 */
import { Chunk, Effect, Stream } from "effect"
import type { Recipe } from "../domain/Recipe.js"
import type { ArgsJsonSchema } from "../domain/Template.js"
import { Actors } from "../services/Actors.js"
import { templateArgsSchema } from "../services/CommandGraph.js"
import { isReservedName } from "../services/Registry.js"
import type { Connect } from "./Tools.js"
import { result, spawnText } from "./Tools.js"
import type { JsonSchema, PiTool } from "./PiHost.js"

/** pi-actors' tool-name normalization of a recipe file name (`docs-review` → `docs_review`). */
export const toolNameOf = (id: string): string => {
  let name = id.trim().toLowerCase().replace(/[^a-z0-9_]/g, "_").replace(/_+/g, "_").replace(/^_+|_+$/g, "")
  if (name === "") return ""
  if (/^[0-9]/.test(name)) name = `tool_${name}`
  return name.slice(0, 64).replace(/_+$/g, "")
}

/** Why `name` cannot be a recipe tool, if it cannot. */
export const toolNameProblem = (name: string): string | undefined =>
  name === ""
    ? "its file name has no letters or digits"
    : isReservedName(name)
      ? `${name} is a reserved tool name`
      : undefined

/** Largest tool output returned to the model: the last 50 KiB (the full log stays in the run). */
export const maxOutputChars = 50 * 1024

const clip = (s: string, run: string): string =>
  s.length <= maxOutputChars ? s : `[… ${s.length - maxOutputChars} earlier characters; inspect target=run:${run} view=tail]\n${s.slice(-maxOutputChars)}`

/** Pause between two `onUpdate` calls of a foreground recipe tool: 250 ms. */
export const updateEveryMs = 250

/** The tool of `recipe` (named `name`). */
export const recipeTool = (name: string, recipe: Recipe, connect: Connect): PiTool => {
  const args: ArgsJsonSchema = templateArgsSchema(recipe.template, recipe.args ?? [], recipe.defaults ?? {})
  const parameters: JsonSchema = recipe.async
    ? { ...args, properties: { ...args.properties, run_id: { type: "string", description: "Run id for this invocation (generated when absent)." } } }
    : { ...args }
  // The file's description, or one generated from the id and the arguments.
  const description = recipe.description
  return {
    name,
    label: name,
    description,
    promptSnippet: `${name}: ${recipe.async ? "spawns" : "runs"} recipe ${recipe.id}${recipe.async ? " as a background run (completion arrives as a follow-up)" : ""}`,
    parameters,
    execute: async (_id, params, signal, onUpdate, ctx) => {
      const { run_id: runId, ...values } = params
      const conn = await connect(ctx)
      if (recipe.async) {
        const info = await conn.run(
          Effect.flatMap(Actors, (actors) =>
            actors.spawn({ recipe: recipe.path, values, as: typeof runId === "string" && runId !== "" ? runId : undefined, cwd: ctx.cwd })
          ),
          signal
        )
        return result(spawnText(info, ctx.mode), info)
      }
      const outcome = await conn.run(
        Effect.gen(function* () {
          const actors = yield* Actors
          const info = yield* actors.spawn({ recipe: recipe.path, values, cwd: ctx.cwd })
          conn.foreground.add(info.id)
          const stream = onUpdate === undefined
            ? Effect.void
            : actors.logs(info.id, { follow: true }).pipe(
                Stream.decodeText(),
                Stream.groupedWithin(4096, `${updateEveryMs} millis`),
                Stream.runFoldEffect("", (acc, chunk) => {
                  const next = (acc + Chunk.join(chunk, "")).slice(-maxOutputChars)
                  return Effect.as(Effect.sync(() => onUpdate({ content: [{ type: "text", text: next }], details: { run: `run:${info.id}`, state: "running" } })), next)
                })
              )
          return yield* Effect.zipRight(
            Effect.fork(Effect.ignore(stream)),
            actors.wait(info.id)
          ).pipe(Effect.onInterrupt(() => Effect.ignore(actors.kill(info.id))))
        }),
        signal
      )
      const run = outcome.run
      if (run.state !== "done") {
        const reason = outcome.stderr_tail.trim().split("\n").pop() ?? ""
        throw new Error(`${name}: run:${run.id} ${run.state}${run.code === null ? "" : ` with exit code ${run.code}`}${reason === "" ? "" : `: ${reason}`}`)
      }
      return result(clip(outcome.stdout, run.id) || "(no output)", { run: `run:${run.id}`, state: run.state, code: run.code, stderr_tail: outcome.stderr_tail })
    }
  }
}
