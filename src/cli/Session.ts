/**
 * What every CLI command over the daemon shares: the identity options (`--session`, `--all`),
 * `--json`, the connection to the daemon as this invocation's caller, printing, and the
 * parsers of durations and status filters, the compact `ps` line and the exit code of a
 * finished run. Free of the runtime, like the whole CLI start.
 *
 * Identity: `--session`, else `TROUPE_SESSION`, else `cli`; inside an actor process its run
 * (`TROUPE_TOKEN`, which wins). `--all` acts across sessions (operator).
 */
import { Options } from "@effect/cli"
import { Console, Effect, Option, Schema } from "effect"
import * as Client from "../daemon/Client.js"
import { compact } from "../domain/Inspect.js"
import { type RunInfo, StatusFilter } from "../domain/Run.js"
import { callerEnvironment, UsageError } from "./Common.js"

export const session = Options.text("session").pipe(
  Options.withDescription("Act as this session (default: $TROUPE_SESSION or cli)"),
  Options.optional
)
export const all = Options.boolean("all").pipe(Options.withDescription("Operator: act across every session"))
export const json = Options.boolean("json").pipe(Options.withDescription("Print stable JSON instead of compact text"))

/** The options of a command that acts as a caller and prints a result: `--session`, `--all`, `--json`. */
export const callerOptions = { session, all, json } as const

/** `--follow` / `-f`: stay open on a stream. */
export const followOption = (description: string) =>
  Options.boolean("follow").pipe(Options.withAlias("f"), Options.withDescription(description))

/** An optional integer cursor (`--since`, `--after`): only entries past it. */
export const cursorOption = (name: string, description: string) =>
  Options.integer(name).pipe(Options.withDescription(description), Options.optional)

export interface Identity {
  readonly session: Option.Option<string>
  readonly all: boolean
}

/** The daemon client for this invocation's identity (auto-starts the daemon). */
export const connect = (id: Identity, autoStart = true) =>
  Effect.gen(function* () {
    const env = yield* callerEnvironment
    return yield* Client.makeRemote({
      autoStart,
      session: Option.getOrElse(Option.orElse(id.session, () => env.session), () => "cli"),
      token: Option.getOrUndefined(env.token),
      all: id.all
    })
  })

export const print = (text: string) => Console.log(text)
export const printJson = (value: unknown) => Console.log(JSON.stringify(value))

/** Prints a command's result: its JSON with `--json`, else `text` of it. */
export const printResult = <A>(asJson: boolean, value: A, text: (value: A) => string) =>
  asJson ? printJson(value) : print(text(value))

const decodeFilter = Schema.decodeUnknown(StatusFilter)
export const statusFilter = (raw: Option.Option<string>) =>
  Option.match(raw, {
    onNone: () => Effect.succeed<StatusFilter>("all"),
    onSome: (s) => decodeFilter(s).pipe(Effect.mapError(() => new UsageError({ message: `--status must be one of: ${StatusFilter.literals.join(", ")}` })))
  })

const age = (r: RunInfo, now: number) => {
  const ms = (r.ended_at ?? now) - r.created_at
  return ms < 1000 ? `${ms}ms` : ms < 60_000 ? `${Math.round(ms / 1000)}s` : `${Math.round(ms / 60_000)}m`
}

/** One compact `ps` line. */
export const psLine = (r: RunInfo, now: number) =>
  `run=${r.id} status=${r.state} recipe=${compact(r.recipe)} code=${compact(r.code)} active=${r.progress.active} pid=${compact(r.processes[0]?.pid)} age=${age(r, now)}${r.owner === "cli" ? "" : ` owner=${compact(r.owner)}`}`

/** Exit code of a finished run for `wait`: its code, else 1 for failed/lost and 130 for kills. */
export const exitCodeOfRun = (r: RunInfo): number =>
  r.code !== null ? r.code : r.state === "done" ? 0 : r.state === "killed" || r.state === "cancelled" ? 130 : 1

export const parseDuration = (text: string) =>
  Effect.gen(function* () {
    const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(text.trim())
    if (m === null) return yield* new UsageError({ message: `Invalid duration ${text} (examples: 500ms, 30s, 5m, 1h, 7d)` })
    const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const
    return Math.round(Number(m[1]) * unitMs[(m[2] ?? "s") as keyof typeof unitMs])
  })

export const withExamples = (text: string, examples: ReadonlyArray<string>) =>
  `${text}\nExamples:\n${examples.map((e) => `  ${e}`).join("\n")}`

export const optText = (name: string, description: string) => Options.text(name).pipe(Options.withDescription(description), Options.optional)
