/**
 * Helpers shared by the CLI commands: exit-code errors, `key=value` parsing, and the exit code
 * of an error that reached the CLI edge. Kept free of the runtime so the CLI loads fast.
 */
import { Config, Data, Effect, Option, Schema } from "effect"
import { ActorsError, valuesProblem } from "../domain/Run.js"
import { TemplateError } from "../domain/Template.js"

/** Ends the CLI with an exit code after output was already written. */
export class CliExit extends Data.TaggedError("CliExit")<{ readonly code: number }> {}

/** Bad command-line input (exit code 2). */
export class UsageError extends Schema.TaggedError<UsageError>("troupe/UsageError")("UsageError", {
  message: Schema.String
}) {}

export const pairForm = /^([A-Za-z_][A-Za-z0-9_-]*)=([\s\S]*)$/

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
    ),
    Effect.filterOrFail(
      (v) => valuesProblem(v) === undefined,
      (v) => new UsageError({ message: `--values: ${valuesProblem(v)}` })
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

/** Exit code for an error that reached the CLI edge. */
export const exitCodeOf = (e: unknown): number =>
  e instanceof CliExit
    ? e.code
    : e instanceof UsageError || e instanceof TemplateError || (e instanceof ActorsError && e.reason === "invalid")
      ? 2
      : 1

/** An environment variable through effect's `Config`; unset and empty are both None. */
const optionalVariable = (name: string) =>
  Config.option(Config.string(name)).pipe(
    Effect.map(Option.filter((v) => v !== "")),
    // A string variable cannot be malformed.
    Effect.orDie
  )

/**
 * Who this invocation acts as, from the environment: `TROUPE_TOKEN` (set inside an actor
 * process: act as that run; it wins over any session), `TROUPE_RUN` (that run's id) and
 * `TROUPE_SESSION` (the session a command acts as without `--session`; default `cli`).
 */
export const callerEnvironment = Effect.all({
  token: optionalVariable("TROUPE_TOKEN"),
  run: optionalVariable("TROUPE_RUN"),
  session: optionalVariable("TROUPE_SESSION")
})

/**
 * The cwd of a run on a VM (`--on vm:<id>`, `commit:<id>`, `golden`; docs/templates.md): the
 * VM user's home (`~`) without `--cwd` (the local directory means nothing there); an absolute
 * `--cwd` is a VM path, a relative one is under the VM home. Undefined for local runs.
 */
export const vmCwd = (on: Option.Option<string>, cwd: Option.Option<string>): string | undefined => {
  if (!Option.exists(on, (o) => /^(vm:|commit:|golden$)/.test(o))) return undefined
  return Option.match(cwd, {
    onNone: () => "~",
    onSome: (c) => (c.startsWith("/") || c === "~" || c.startsWith("~/") ? c : `~/${c}`)
  })
}
