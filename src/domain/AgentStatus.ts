/**
 * What an `agent` run's Pi session looks like from outside (docs/agents.md "Agent runs"): its
 * events folded into a status (idle/streaming, turns, tool calls, tokens and cost when Pi
 * reports them), the last assistant text and a bounded tail of events. The run writes it to
 * `{state_dir}/agent.json` as it changes, so `inspect run:<id> status|output|events` reads it
 * from the store's side (the daemon owns the session) and it survives the run.
 */
import { Schema } from "effect"
import type { PiEvent, PiSessionStats } from "./PiRpc.js"

/** How many events the tail keeps (oldest dropped first). */
export const agentEventTail = 200

/** The file name of the status under the run's state directory. */
export const agentStatusFile = "agent.json"

/** One event of the tail: Pi's event type and a one-line summary (at most 200 characters). */
export const AgentEventLine = Schema.Struct({
  at: Schema.Number,
  type: Schema.String,
  summary: Schema.optional(Schema.String)
})
export type AgentEventLine = typeof AgentEventLine.Type

/**
 * Where an agent on a VM runs (docs/agents.md "Agents on VMs"): the VM, its agent directory
 * (relative to the login home), the supervisor's pid (= its process group), and the role
 * metadata written to its env file (`VERS_AGENT_ROLE`, `VERS_AGENT_NAME`, `VERS_PARENT_AGENT`).
 */
export const AgentRemote = Schema.Struct({
  vm: Schema.String,
  dir: Schema.String,
  pid: Schema.Number,
  /** The supervisor's start time (clock ticks since boot; 0 unknown): with `pid`, its verified identity. */
  start_time: Schema.optional(Schema.Number),
  role: Schema.String,
  name: Schema.String,
  parent: Schema.String
})
export type AgentRemote = typeof AgentRemote.Type

/**
 * How far the events of an agent on a VM are folded into this status: the byte offset in its
 * `events.jsonl`, the events folded, and a sha256 chain over their lines (`PiRpc.StreamMark`).
 * Written in the same file as the fold, so a reader resuming here neither loses nor repeats one.
 */
export const AgentStreamMark = Schema.Struct({
  offset: Schema.Number,
  events: Schema.Number,
  digest: Schema.String
})

/**
 * The status of an agent run:
 * - `state`: `starting` (Pi not up yet), `idle` (between tasks), `streaming` (a task runs),
 *   `exited` (Pi is gone: the generation ended).
 * - `turns`: settled tasks (one per prompt Pi ran to `agent_settled`, follow-ups queued
 *   during a task included in it); `model_turns`: Pi's `turn_end`s (one per LLM response).
 * - `tool_calls`: `tool_execution_start`s; `tokens`/`cost` (USD) from `get_session_stats`
 *   after each settled task, absent when Pi does not report them.
 * - `last_output`: the last assistant text (`get_last_assistant_text`), null before any.
 */
export const AgentStatus = Schema.Struct({
  state: Schema.Literal("starting", "idle", "streaming", "exited"),
  generation: Schema.String,
  pid: Schema.NullOr(Schema.Number),
  model: Schema.NullOr(Schema.String),
  turns: Schema.Number,
  model_turns: Schema.Number,
  tool_calls: Schema.Number,
  aborted: Schema.Number,
  tokens: Schema.optional(Schema.Struct({ input: Schema.Number, output: Schema.Number, total: Schema.Number })),
  cost: Schema.optional(Schema.Number),
  last_output: Schema.NullOr(Schema.String),
  error: Schema.optional(Schema.String),
  events: Schema.Array(AgentEventLine),
  /** Set for an agent on a VM. */
  remote: Schema.optional(AgentRemote),
  /** Set for an agent on a VM: what of its event file is folded here. */
  stream: Schema.optional(AgentStreamMark)
})
export type AgentStatus = typeof AgentStatus.Type

/** A fresh status for a generation. */
export const initialStatus = (generation: string): AgentStatus => ({
  state: "starting",
  generation,
  pid: null,
  model: null,
  turns: 0,
  model_turns: 0,
  tool_calls: 0,
  aborted: 0,
  last_output: null,
  events: []
})

const oneLine = (text: string) => {
  const flat = text.replace(/\s+/g, " ").trim()
  return flat.length <= 200 ? flat : `${flat.slice(0, 199)}…`
}

/** The text parts of a message's `content` (a string, or parts with `type: "text"`). */
export const messageText = (content: unknown): string => {
  if (typeof content === "string") return content
  if (!Array.isArray(content)) return ""
  return content
    .flatMap((part) => (typeof part === "object" && part !== null && (part as { type?: unknown }).type === "text" && typeof (part as { text?: unknown }).text === "string" ? [(part as { text: string }).text] : []))
    .join("")
}

/** A one-line summary of an event for the tail; undefined for events the tail skips (text deltas). */
export const eventSummary = (event: PiEvent): { readonly keep: boolean; readonly summary?: string | undefined } => {
  switch (event.type) {
    case "message_update":
      return { keep: false }
    case "message_start":
    case "message_end": {
      const text = messageText(event.message.content)
      return { keep: true, summary: oneLine(`${event.message.role}${text === "" ? "" : `: ${text}`}`) }
    }
    case "tool_execution_start":
      return { keep: true, summary: oneLine(`${event.toolName} ${JSON.stringify(event.args ?? {})}`) }
    case "tool_execution_end":
      return { keep: true, summary: `${event.toolName}${event.isError === true ? " failed" : ""}` }
    case "tool_execution_update":
      return { keep: false }
    case "agent_settled":
      return { keep: true, summary: event.aborted === true ? "aborted" : undefined }
    case "extension_error":
      return { keep: true, summary: oneLine(event.error) }
    case "auto_retry_start":
      return { keep: true, summary: oneLine(event.errorMessage ?? `attempt ${event.attempt}`) }
    case "unknown":
      return { keep: true, summary: event.name }
    default:
      return { keep: true }
  }
}

/** The status after one of Pi's events (counts, streaming state, the tail). */
export const foldEvent = (status: AgentStatus, event: PiEvent, at: number): AgentStatus => {
  const { keep, summary } = eventSummary(event)
  const name = event.type === "unknown" ? event.name : event.type
  const events = keep ? [...status.events, { at, type: name, ...(summary === undefined ? {} : { summary }) }].slice(-agentEventTail) : status.events
  switch (event.type) {
    case "agent_start":
      return { ...status, state: "streaming", events }
    case "turn_end":
      return { ...status, model_turns: status.model_turns + 1, events }
    case "tool_execution_start":
      return { ...status, tool_calls: status.tool_calls + 1, events }
    default:
      return keep ? { ...status, events } : status
  }
}

/** The status after a task settled: idle (unless the next task already streams), one more turn, the last text and the session stats. */
export const settleStatus = (
  status: AgentStatus,
  settled: { readonly aborted: boolean; readonly text: string | null; readonly stats: PiSessionStats | undefined; readonly streaming?: boolean | undefined }
): AgentStatus => ({
  ...status,
  state: settled.streaming === true ? "streaming" : "idle",
  turns: status.turns + 1,
  aborted: status.aborted + (settled.aborted ? 1 : 0),
  last_output: settled.text ?? status.last_output,
  ...(settled.stats?.tokens === undefined ? {} : { tokens: { input: settled.stats.tokens.input, output: settled.stats.tokens.output, total: settled.stats.tokens.total } }),
  ...(settled.stats?.cost === undefined ? {} : { cost: settled.stats.cost })
})

/** The `key=value` pairs `inspect run:<id> status` adds for an agent run. */
export const statusPairs = (s: AgentStatus): Record<string, unknown> => ({
  agent: s.state,
  ...(s.model === null ? {} : { model: s.model }),
  turns: s.turns,
  model_turns: s.model_turns,
  tool_calls: s.tool_calls,
  aborted: s.aborted,
  tokens: s.tokens?.total,
  cost: s.cost,
  agent_pid: s.pid,
  ...(s.remote === undefined ? {} : { vm: s.remote.vm, role: s.remote.role }),
  ...(s.stream === undefined ? {} : { events_folded: s.stream.events })
})

/** Follow-up text of a settled task (SPEC-messaging §7): what the agent said, and where to look. */
export const settledText = (id: string, turn: number, aborted: boolean, text: string | null): string =>
  `Agent ${id} finished task ${turn}${aborted ? " (aborted)" : ""}${text === null || text === "" ? "." : `:\n${text}`}\n` +
  `Use inspect target=run:${id} view=events for its steps; send task.prompt to give it the next task.`
