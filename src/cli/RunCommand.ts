/**
 * `troupe run`: execute a recipe or inline template in the foreground, in-process, with no
 * daemon (SPEC-adapters §2). Final stdout goes to stdout, failure text to stderr, and the
 * process exits with the run's code. `--json` prints one result object; `--dry-run` prints
 * the planned leaves with their argv.
 */
import { FileSystem, Path } from "@effect/platform"
import { Data, Effect, Option, Schema } from "effect"
import { tmpdir } from "node:os"
import * as Output from "../domain/Output.js"
import type { GraphResult } from "../domain/Plan.js"
import { ActorsError } from "../domain/Run.js"
import { planRisks, riskText } from "../domain/Risk.js"
import { TemplateError } from "../domain/Template.js"
import { TroupeConfig } from "../layers/Config.js"
import { CommandGraph, failureText, flattenPlan } from "../services/CommandGraph.js"
import { Recipes } from "../services/Recipes.js"

/** Ends the CLI with an exit code after output was already written. */
export class CliExit extends Data.TaggedError("CliExit")<{ readonly code: number }> {}

/** Bad command-line input (exit code 2). */
export class UsageError extends Schema.TaggedError<UsageError>("troupe/UsageError")("UsageError", {
  message: Schema.String
}) {}

export interface RunInput {
  readonly positionals: ReadonlyArray<string>
  readonly template: Option.Option<string>
  readonly values: Option.Option<string>
  readonly cwd: Option.Option<string>
  readonly json: boolean
  readonly dryRun: boolean
}

const pairForm = /^([A-Za-z_][A-Za-z0-9_-]*)=([\s\S]*)$/

/**
 * Parses `k=v` pairs: a value that parses as a JSON array or object is used as such;
 * everything else is text.
 * @fails UsageError for a word that is not `key=value`.
 */
export const parsePairs = (pairs: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const out: Record<string, unknown> = {}
    for (const p of pairs) {
      const m = pairForm.exec(p)
      if (m === null) return yield* new UsageError({ message: `Invalid value argument: ${p} (expected key=value)` })
      const raw = m[2]!
      let value: unknown = raw
      if (/^\s*[[{]/.test(raw)) {
        try {
          const parsed: unknown = JSON.parse(raw)
          if (typeof parsed === "object" && parsed !== null) value = parsed
        } catch {
          // plain text
        }
      }
      out[m[1]!] = value
    }
    return out
  })

/** `--values` must be a JSON object. */
export const parseValuesJson = (text: string) =>
  Effect.try({
    try: () => JSON.parse(text) as unknown,
    catch: () => new UsageError({ message: "--values must be a JSON object" })
  }).pipe(
    Effect.filterOrFail(
      (v): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v),
      () => new UsageError({ message: "--values must be a JSON object" })
    )
  )

/** `--template T`: JSON (array/object) when it parses as such, otherwise one leaf command. */
export const templateFromFlag = (t: string): unknown => {
  if (/^\s*[[{]/.test(t)) {
    try {
      const parsed: unknown = JSON.parse(t)
      if (typeof parsed === "object" && parsed !== null) return parsed
    } catch {
      // a leaf command that starts with a placeholder
    }
  }
  return t
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
  const cwd = path.resolve(Option.getOrElse(input.cwd, () => process.cwd()))

  const recipe = recipeRef === undefined ? undefined : yield* recipes.resolve(recipeRef)
  const template = recipe === undefined ? templateFromFlag(Option.getOrThrow(input.template)) : recipe.file.template
  if (recipe !== undefined && values.recipe_dir === undefined) values.recipe_dir = recipe.dir

  const plan = yield* graph.plan(template, {
    values,
    args: recipe?.file.args,
    defaults: recipe?.file.defaults,
    cwd,
    home: config.userHome
  })

  if (input.dryRun) {
    yield* write(process.stdout, JSON.stringify(flattenPlan(plan), null, 2) + "\n")
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

/** Exit code for an error that reached the CLI edge. */
export const exitCodeOf = (e: unknown): number =>
  e instanceof CliExit
    ? e.code
    : e instanceof UsageError || e instanceof TemplateError || (e instanceof ActorsError && e.reason === "invalid")
      ? 2
      : 1
