/**
 * The records of Pi's RPC mode (`pi --mode rpc`, Pi's `docs/rpc.md`, `rpc-commands.md`,
 * `json.md`, `rpc-extension-ui.md`): the commands troupe sends, the `response` records that
 * answer them, the session events Pi streams, and the errors of a `PiRpc` session. Schemas
 * decode only the fields troupe uses; other fields are ignored, so a newer Pi that adds fields
 * never breaks a client, and an event whose type troupe does not know (or whose known fields
 * changed shape) arrives as {@link PiUnknownEvent} rather than failing the session.
 */
import { Schema } from "effect"

// ---------------------------------------------------------------------------------------------
// Commands (stdin). Each is sent with a fresh string `id` added by the session.

/** `prompt`: a user prompt; while Pi streams it must name `streamingBehavior` or Pi rejects it. */
export const PromptCommand = Schema.Struct({
  type: Schema.Literal("prompt"),
  message: Schema.String,
  streamingBehavior: Schema.optional(Schema.Literal("steer", "followUp"))
})
/** `steer`: delivered after the current assistant turn's tool calls, before the next LLM call. */
export const SteerCommand = Schema.Struct({ type: Schema.Literal("steer"), message: Schema.String })
/** `follow_up`: delivered when the agent has no more tool calls or steering messages. */
export const FollowUpCommand = Schema.Struct({ type: Schema.Literal("follow_up"), message: Schema.String })
/** `abort`: Pi answers once the session is idle. */
export const AbortCommand = Schema.Struct({ type: Schema.Literal("abort") })
/** `get_state`: answered with {@link PiState}. */
export const GetStateCommand = Schema.Struct({ type: Schema.Literal("get_state") })
/** `set_model`: fails with `Model not found: <provider>/<modelId>` for an unknown model. */
export const SetModelCommand = Schema.Struct({ type: Schema.Literal("set_model"), provider: Schema.String, modelId: Schema.String })
/** Pi's thinking levels (`xhigh`/`max` only on models that support them). */
export const ThinkingLevel = Schema.Literal("off", "minimal", "low", "medium", "high", "xhigh", "max")
export type ThinkingLevel = typeof ThinkingLevel.Type
/** `set_thinking_level`. */
export const SetThinkingLevelCommand = Schema.Struct({ type: Schema.Literal("set_thinking_level"), level: ThinkingLevel })
/** `get_session_stats`: answered with {@link PiSessionStats}. */
export const GetSessionStatsCommand = Schema.Struct({ type: Schema.Literal("get_session_stats") })
/** `get_last_assistant_text`: answered with `{ text: string | null }`. */
export const GetLastAssistantTextCommand = Schema.Struct({ type: Schema.Literal("get_last_assistant_text") })
/** `new_session`: answered with `{ cancelled }` (an extension may cancel it). */
export const NewSessionCommand = Schema.Struct({ type: Schema.Literal("new_session"), parentSession: Schema.optional(Schema.String) })

/** Every command troupe sends to Pi. */
export const PiCommand = Schema.Union(
  PromptCommand,
  SteerCommand,
  FollowUpCommand,
  AbortCommand,
  GetStateCommand,
  SetModelCommand,
  SetThinkingLevelCommand,
  GetSessionStatsCommand,
  GetLastAssistantTextCommand,
  NewSessionCommand
)
export type PiCommand = typeof PiCommand.Type

// ---------------------------------------------------------------------------------------------
// Response data, per command.

/** What happened to a prompt/steer/follow-up: `started` a run, `queued` during one, or `handled` (no run). */
export const Disposition = Schema.Literal("started", "queued", "handled")
export type Disposition = typeof Disposition.Type

/** `data` of `prompt`, `steer`, `follow_up` (older Pi answers without data: disposition absent). */
export const PromptResult = Schema.Struct({ disposition: Schema.optional(Disposition) })
export type PromptResult = typeof PromptResult.Type

/** The parts of Pi's Model object troupe reads. */
export const PiModel = Schema.Struct({ provider: Schema.String, id: Schema.String, name: Schema.optional(Schema.String) })
export type PiModel = typeof PiModel.Type

/** `data` of `get_state` (fields troupe reads; `model` is absent when none is selected). */
export const PiState = Schema.Struct({
  isStreaming: Schema.Boolean,
  model: Schema.optional(PiModel),
  thinkingLevel: Schema.optional(Schema.String),
  isCompacting: Schema.optional(Schema.Boolean),
  sessionId: Schema.optional(Schema.String),
  sessionFile: Schema.optional(Schema.String),
  messageCount: Schema.optional(Schema.Number),
  pendingMessageCount: Schema.optional(Schema.Number)
})
export type PiState = typeof PiState.Type

/** `data` of `get_session_stats`: tokens (counts) and cost (USD) over the whole session. */
export const PiSessionStats = Schema.Struct({
  userMessages: Schema.optional(Schema.Number),
  assistantMessages: Schema.optional(Schema.Number),
  toolCalls: Schema.optional(Schema.Number),
  totalMessages: Schema.optional(Schema.Number),
  tokens: Schema.optional(Schema.Struct({
    input: Schema.Number,
    output: Schema.Number,
    cacheRead: Schema.optional(Schema.Number),
    cacheWrite: Schema.optional(Schema.Number),
    total: Schema.Number
  })),
  cost: Schema.optional(Schema.Number)
})
export type PiSessionStats = typeof PiSessionStats.Type

/** `data` of `get_last_assistant_text`: `null` when no assistant text exists yet. */
export const LastAssistantText = Schema.Struct({ text: Schema.NullOr(Schema.String) })
export type LastAssistantText = typeof LastAssistantText.Type

/** `data` of `new_session`. */
export const NewSessionResult = Schema.Struct({ cancelled: Schema.Boolean })
export type NewSessionResult = typeof NewSessionResult.Type

/** Commands whose response carries no data troupe reads. */
const NoData = Schema.Unknown

/** The schema of each command's response `data`. */
export const responseData = {
  prompt: PromptResult,
  steer: PromptResult,
  follow_up: PromptResult,
  abort: NoData,
  get_state: PiState,
  set_model: PiModel,
  set_thinking_level: NoData,
  get_session_stats: PiSessionStats,
  get_last_assistant_text: LastAssistantText,
  new_session: NewSessionResult
} as const satisfies Record<PiCommand["type"], Schema.Schema<any, any, never>>

/** The decoded `data` of the response to a command of type `T`. */
export type ResponseData<T extends PiCommand["type"]> = Schema.Schema.Type<(typeof responseData)[T]>

/** `{type:"response", id?, command, success, data?|error?}`: Pi's answer to one command. */
export const PiResponse = Schema.Struct({
  type: Schema.Literal("response"),
  id: Schema.optional(Schema.String),
  command: Schema.String,
  success: Schema.Boolean,
  data: Schema.optional(Schema.Unknown),
  error: Schema.optional(Schema.String)
})
export type PiResponse = typeof PiResponse.Type

// ---------------------------------------------------------------------------------------------
// Events (stdout, no id).

const event = <T extends string, F extends Schema.Struct.Fields>(type: T, fields: F) => Schema.Struct({ type: Schema.Literal(type), ...fields })

/** A message as Pi sends it (user, assistant, toolResult…): role and content are what troupe reads. */
export const PiMessage = Schema.Struct({
  role: Schema.String,
  content: Schema.optional(Schema.Unknown),
  stopReason: Schema.optional(Schema.String),
  errorMessage: Schema.optional(Schema.String)
})
export type PiMessage = typeof PiMessage.Type

/** The nested update of a `message_update` (delta-only on the wire: `text_delta`, `toolcall_start`, …). */
export const AssistantMessageEvent = Schema.Struct({
  type: Schema.String,
  contentIndex: Schema.optional(Schema.Number),
  delta: Schema.optional(Schema.String)
})

export const AgentStart = event("agent_start", {})
/** One low-level agent run ended; `willRetry: true` means Pi continues (retry, overflow recovery). */
export const AgentEnd = event("agent_end", { messages: Schema.Array(PiMessage), willRetry: Schema.optional(Schema.Boolean) })
/** Pi has no automatic work left for the run (Pi 1.x): the turn is finished. */
export const AgentSettled = event("agent_settled", { aborted: Schema.optional(Schema.Boolean) })
export const TurnStart = event("turn_start", {})
export const TurnEnd = event("turn_end", { message: Schema.optional(PiMessage) })
export const MessageStart = event("message_start", { message: PiMessage })
export const MessageUpdate = event("message_update", { assistantMessageEvent: AssistantMessageEvent })
export const MessageEnd = event("message_end", { message: PiMessage })
export const ToolExecutionStart = event("tool_execution_start", { toolCallId: Schema.String, toolName: Schema.String, args: Schema.optional(Schema.Unknown) })
export const ToolExecutionUpdate = event("tool_execution_update", { toolCallId: Schema.String, toolName: Schema.String, partialResult: Schema.optional(Schema.Unknown) })
export const ToolExecutionEnd = event("tool_execution_end", {
  toolCallId: Schema.String,
  toolName: Schema.String,
  result: Schema.optional(Schema.Unknown),
  isError: Schema.optional(Schema.Boolean),
  durationMs: Schema.optional(Schema.Number)
})
export const AutoRetryStart = event("auto_retry_start", {
  attempt: Schema.Number,
  maxAttempts: Schema.optional(Schema.Number),
  delayMs: Schema.optional(Schema.Number),
  errorMessage: Schema.optional(Schema.String)
})
export const AutoRetryEnd = event("auto_retry_end", { success: Schema.Boolean, attempt: Schema.optional(Schema.Number), finalError: Schema.optional(Schema.String) })
export const CompactionStart = event("compaction_start", { reason: Schema.optional(Schema.String) })
export const CompactionEnd = event("compaction_end", {
  reason: Schema.optional(Schema.String),
  aborted: Schema.optional(Schema.Boolean),
  willRetry: Schema.optional(Schema.Boolean),
  errorMessage: Schema.optional(Schema.String)
})
/** An extension handler threw inside Pi. */
export const ExtensionError = event("extension_error", { extensionPath: Schema.optional(Schema.String), event: Schema.optional(Schema.String), error: Schema.String })
/** The dialog methods, which block Pi until an `extension_ui_response` with the same id arrives. */
export const DialogMethod = Schema.Literal("select", "confirm", "input", "editor")
export type DialogMethod = typeof DialogMethod.Type
/** A request from an extension: a dialog (`select`, `confirm`, `input`, `editor`) or a fire-and-forget notice (`notify`, `setStatus`, …). */
export const ExtensionUiRequest = event("extension_ui_request", {
  id: Schema.String,
  method: Schema.String,
  title: Schema.optional(Schema.String),
  message: Schema.optional(Schema.String),
  options: Schema.optional(Schema.Array(Schema.String)),
  placeholder: Schema.optional(Schema.String),
  prefill: Schema.optional(Schema.String),
  timeout: Schema.optional(Schema.Number)
})
export type ExtensionUiRequest = typeof ExtensionUiRequest.Type

/** The events troupe decodes. */
export const KnownPiEvent = Schema.Union(
  AgentStart,
  AgentEnd,
  AgentSettled,
  TurnStart,
  TurnEnd,
  MessageStart,
  MessageUpdate,
  MessageEnd,
  ToolExecutionStart,
  ToolExecutionUpdate,
  ToolExecutionEnd,
  AutoRetryStart,
  AutoRetryEnd,
  CompactionStart,
  CompactionEnd,
  ExtensionError,
  ExtensionUiRequest
)
export type KnownPiEvent = typeof KnownPiEvent.Type

/** The `type` of every event troupe decodes. */
export const knownEventTypes: ReadonlySet<string> = new Set(KnownPiEvent.members.map((m) => m.fields.type.literals[0] as string))

/**
 * Any other record: an event type troupe does not know (`queue_update`, a newer Pi's event), or
 * a known type whose fields did not decode. `name` is Pi's `type`; `raw` the whole record.
 */
export interface PiUnknownEvent {
  readonly type: "unknown"
  readonly name: string
  readonly raw: Readonly<Record<string, unknown>>
}

/** Everything Pi streams besides responses. */
export type PiEvent = KnownPiEvent | PiUnknownEvent

/** The answer to a dialog: a `value` (select, input, editor), `confirmed` (confirm) or `cancelled`. */
export type DialogAnswer =
  | { readonly value: string }
  | { readonly confirmed: boolean }
  | { readonly cancelled: true }

/** The `extension_ui_response` record answering dialog `id` (Pi's `rpc-extension-ui.md`). */
export const dialogResponse = (id: string, answer: DialogAnswer) => ({ type: "extension_ui_response" as const, id, ...answer })

// ---------------------------------------------------------------------------------------------
// Errors.

/** Pi answered a command with `success: false`; `error` is Pi's text (e.g. `Model not found: p/m`). */
export class PiRpcRejected extends Schema.TaggedError<PiRpcRejected>()("PiRpcRejected", {
  command: Schema.String,
  error: Schema.String,
  message: Schema.String
}) {}

/** The session ended (Pi exited, its output closed, the session's scope closed); `stderr` is Pi's last stderr line when known. */
export class PiRpcClosed extends Schema.TaggedError<PiRpcClosed>()("PiRpcClosed", {
  message: Schema.String,
  stderr: Schema.optional(Schema.String)
}) {}

/** Pi sent a line that is not a JSON object, or a response troupe cannot decode; `line` is the record, shortened. */
export class PiRpcProtocolError extends Schema.TaggedError<PiRpcProtocolError>()("PiRpcProtocolError", {
  line: Schema.String,
  message: Schema.String
}) {}

/** Every error of a `PiRpc` session call. */
export type PiRpcError = PiRpcRejected | PiRpcClosed | PiRpcProtocolError
export const PiRpcError = Schema.Union(PiRpcRejected, PiRpcClosed, PiRpcProtocolError)

/** A line for a message: at most `max` characters (UTF-16 units), `…` marking the cut. */
export const shortenLine = (line: string, max = 120): string => (line.length <= max ? line : `${line.slice(0, max - 1)}…`)

/** Message builders (one sentence each). */
export const piRpcMessages = {
  rejected: (command: string, error: string) => `Pi rejected ${command}: ${error}`,
  notJson: (line: string) => `Pi sent a line that is not a JSON object: ${shortenLine(line)}`,
  noType: (line: string) => `Pi sent a record without a type: ${shortenLine(line)}`,
  tooLong: (bytes: number) => `Pi sent a line longer than ${bytes} bytes`,
  badResponse: (command: string, detail: string) => `Pi's response to ${command} could not be decoded: ${detail}`
}
