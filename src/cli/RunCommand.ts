/**
 * `troupe run`: execute a recipe or inline template in the foreground, in-process, with no
 * daemon (SPEC-adapters §2). Final stdout goes to stdout, failure text to stderr, and the
 * process exits with the run's code. `--json` prints one result object; `--dry-run` prints
 * the planned leaves with their argv.
 */
import { FileSystem, Path } from "@effect/platform"
import { Effect, Option } from "effect"
import { tmpdir } from "node:os"
import * as Output from "../domain/Output.js"
import type { GraphResult } from "../domain/Plan.js"
import { planTree } from "../domain/PlanTree.js"
import { planRisks, riskText } from "../domain/Risk.js"
import { TroupeConfig } from "../layers/Config.js"
import { CommandGraph, failureText, flattenPlan } from "../services/CommandGraph.js"
import { Recipes } from "../services/Recipes.js"
import { CliExit, pairForm, parsePairs, parseValuesJson, templateFromFlag, UsageError, vmCwd } from "./Common.js"

export interface RunInput {
  readonly positionals: ReadonlyArray<string>
  readonly template: Option.Option<string>
  readonly values: Option.Option<string>
  readonly cwd: Option.Option<string>
  /** `--on`: where leaves without their own `on` run (`vm:<id>`, `commit:<id>`, `golden`). */
  readonly on: Option.Option<string>
  readonly json: boolean
  readonly dryRun: boolean
}

const write = (stream: NodeJS.WriteStream, text: string | Uint8Array) => Effect.sync(() => void stream.write(text))

const stdoutText = (r: GraphResult) => Output.decodeUtf8(r.stdout.bytes)

export const runCommand = Effect.fn("cli.run")(function* (input: RunInput) {
  const graph = yield* CommandGraph
  const recipes = yield* Recipes
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const config = yield* TroupeConfig

  const [first, ...rest] = input.positionals
  const useTemplate = Option.isSome(input.template)
  const recipeRef = useTemplate ? undefined : first
  const pairs = useTemplate ? input.positionals : rest
  if (!useTemplate && recipeRef === undefined) {
    return yield* new UsageError({ message: "troupe run needs a recipe id, a recipe file or --template" })
  }
  if (recipeRef !== undefined && pairForm.test(recipeRef) && !recipeRef.endsWith(".json")) {
    return yield* new UsageError({ message: `Expected a recipe before values, got ${recipeRef}` })
  }
  const values: Record<string, unknown> = { ...(yield* parsePairs(pairs)) }
  if (Option.isSome(input.values)) Object.assign(values, yield* parseValuesJson(input.values.value))
  const cwd = vmCwd(input.on, input.cwd) ?? path.resolve(Option.getOrElse(input.cwd, () => process.cwd()))

  const recipe = recipeRef === undefined ? undefined : yield* recipes.resolve(recipeRef)
  if (recipe?.file.kind === "agent") {
    return yield* new UsageError({ message: `${recipe.id} is an agent recipe: start it as an actor with troupe spawn ${recipeRef}` })
  }
  const template = recipe === undefined ? templateFromFlag(Option.getOrThrow(input.template)) : recipe.template
  if (recipe !== undefined && values.recipe_dir === undefined) values.recipe_dir = recipe.dir
  // A recipe's `values` bind above its defaults and below the caller's values.
  for (const [k, v] of Object.entries(recipe?.values ?? {})) if (!Object.hasOwn(values, k)) values[k] = v

  const plan = yield* graph.plan(template, {
    values,
    args: recipe?.args,
    defaults: recipe?.defaults,
    cwd,
    home: config.userHome,
    on: Option.getOrUndefined(input.on)
  })

  if (input.dryRun) {
    // A tree for people; the leaves as JSON with --json.
    yield* write(process.stdout, input.json ? JSON.stringify(flattenPlan(plan), null, 2) + "\n" : planTree(plan) + "\n")
    return
  }

  if (!input.json) for (const w of planRisks(plan)) yield* write(process.stderr, `warning: ${riskText(w)}\n`)

  const outputDir = yield* fs.makeTempDirectory({ directory: tmpdir(), prefix: "troupe-run-" })
  const result = yield* graph.execute(plan, { outputDir })
  const kept = yield* fs.readDirectory(outputDir).pipe(Effect.orElseSucceed(() => [] as Array<string>))
  if (kept.length === 0) yield* fs.remove(outputDir, { recursive: true }).pipe(Effect.ignore)

  const ok = result.status !== "failed" && result.status !== "timeout"
  const status = ok ? "done" : "failed"
  if (input.json) {
    const tail = Output.boundedTail(stdoutText(result), Output.tailMaxBytes, Output.tailMaxLines, result.stdout.size)
    const stdout = result.stdout.spill === undefined ? stdoutText(result) : `${Output.truncationNotice(tail, result.stdout.spill)}\n${tail.text}`
    const obj = {
      status,
      code: result.code,
      stdout,
      stderr_tail: result.message ?? Output.boundedTail(Output.decodeUtf8(result.stderr.bytes), 2000, 50).text,
      duration_ms: result.durationMs,
      failures: result.failures,
      ...(result.softQuorum !== undefined ? { soft_quorum: result.softQuorum } : {})
    }
    yield* write(process.stdout, JSON.stringify(obj) + "\n")
  } else {
    if (ok) {
      if (result.stdout.spill !== undefined) {
        const all = yield* graph.readAll(result.stdout)
        yield* write(process.stdout, all)
      } else yield* write(process.stdout, result.stdout.bytes)
    } else yield* write(process.stderr, failureText(result) + "\n")
  }
  if (result.code !== 0 || !ok) return yield* new CliExit({ code: result.code === 0 ? 1 : result.code })
})


