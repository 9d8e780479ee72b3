/**
 * The inspect views of an `agent` run, read from its `{state_dir}/agent.json` (written by
 * AgentRun.ts as its Pi session's events arrive): the agent fields of `status`, `output` (the
 * last assistant text) and `events` (the tail of Pi's events, text deltas left out).
 */
import type { FileSystem, Path } from "@effect/platform"
import { Effect, Option, Schema } from "effect"
import { AgentStatus, agentStatusFile, statusPairs } from "../../domain/AgentStatus.js"
import { compact } from "../../domain/Inspect.js"

const decodeStatus = Schema.decodeUnknownOption(Schema.parseJson(AgentStatus))

/** Whether a stored snapshot is an agent run's. */
export const isAgentSnapshot = (snapshot: unknown): boolean => (snapshot as { kind?: unknown } | null)?.kind === "agent"

/** The run's agent status; none before the run wrote one (or when it does not decode). */
export const readAgentStatus = (fs: FileSystem.FileSystem, path: Path.Path, stateDir: string) =>
  fs.readFileString(path.join(stateDir, agentStatusFile)).pipe(
    Effect.map(decodeStatus),
    Effect.orElseSucceed(() => Option.none<AgentStatus>())
  )

const pairs = (obj: Record<string, unknown>) => Object.entries(obj).map(([k, v]) => `${k}=${compact(v)}`).join(" ")

/** The agent line of `status` (`agent=idle turns=1 …`), or `agent=starting` before any status. */
export const agentStatusLine = (status: Option.Option<AgentStatus>): string =>
  Option.match(status, { onNone: () => "agent=starting", onSome: (s) => pairs(statusPairs(s)) })

/** `output`: the last assistant text. */
export const outputView = (run: string, status: Option.Option<AgentStatus>) => {
  const text = Option.getOrNull(Option.flatMapNullable(status, (s) => s.last_output))
  return { text: "\n" + pairs({ run, turns: Option.getOrUndefined(Option.map(status, (s) => s.turns)) }) + (text === null ? "" : `\n${text}`), data: { run, output: text } }
}

/** `events`: the last `lines` events of the tail. */
export const eventsView = (run: string, status: Option.Option<AgentStatus>, lines: number) => {
  const events = Option.match(status, { onNone: () => [], onSome: (s) => s.events.slice(-lines) })
  return {
    text: "\n" + pairs({ run, events: events.length }) + events.map((e) => `\n${e.type}${e.summary === undefined ? "" : ` ${e.summary}`}`).join(""),
    data: { run, events }
  }
}
