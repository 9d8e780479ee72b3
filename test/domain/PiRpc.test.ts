import { describe, expect, it } from "@effect/vitest"
import { Either, Schema } from "effect"
import { dialogResponse, KnownPiEvent, knownEventTypes, PiResponse, PiState, responseData } from "../../src/domain/PiRpc.js"

const usage = { input: 100, output: 1, cacheRead: 0, cacheWrite: 0, totalTokens: 101, cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, total: 0 } }

// One record of each event type troupe decodes, shaped as Pi's json.md and rpc-extension-ui.md describe them.
const samples: ReadonlyArray<Record<string, unknown>> = [
  { type: "agent_start" },
  { type: "agent_end", messages: [{ role: "user", content: "hi", timestamp: 1 }, { role: "assistant", content: [], stopReason: "stop" }], willRetry: false },
  { type: "agent_settled", aborted: false },
  { type: "turn_start" },
  { type: "turn_end", message: { role: "assistant", content: [] }, toolResults: [] },
  { type: "message_start", message: { role: "assistant", content: [], stopReason: "pending" } },
  { type: "message_update", usage, assistantMessageEvent: { type: "text_delta", contentIndex: 0, delta: "Hello " } },
  { type: "message_update", usage, assistantMessageEvent: { type: "toolcall_start", contentIndex: 1, id: "call_1", toolName: "bash" } },
  { type: "message_end", message: { role: "assistant", content: [{ type: "text", text: "x" }], stopReason: "stop" } },
  { type: "tool_execution_start", toolCallId: "call_abc123", toolName: "bash", args: { command: "ls -la" } },
  { type: "tool_execution_update", toolCallId: "call_abc123", toolName: "bash", args: {}, partialResult: { content: [], details: {} } },
  { type: "tool_execution_end", toolCallId: "call_abc123", toolName: "bash", result: { content: [], details: {} }, isError: false, durationMs: 12 },
  { type: "auto_retry_start", attempt: 1, maxAttempts: 3, delayMs: 2000, errorMessage: "529 overloaded" },
  { type: "auto_retry_end", success: false, attempt: 3, finalError: "529 overloaded" },
  { type: "compaction_start", reason: "threshold" },
  { type: "compaction_end", reason: "overflow", aborted: false, willRetry: true },
  { type: "extension_error", extensionPath: "/x/ext.ts", event: "tool_call", error: "boom" },
  { type: "extension_ui_request", id: "uuid-1", method: "select", title: "Allow?", options: ["Allow", "Block"], timeout: 10000 },
  { type: "extension_ui_request", id: "uuid-5", method: "notify", message: "blocked", notifyType: "warning" }
]

describe("Pi RPC records", () => {
  it("every event type troupe decodes has a sample, and every sample decodes to its own type", () => {
    expect(new Set(samples.map((s) => s.type))).toEqual(knownEventTypes)
    for (const sample of samples) {
      const decoded = Schema.decodeUnknownEither(KnownPiEvent)(sample)
      expect(Either.isRight(decoded), JSON.stringify(sample)).toBe(true)
      expect(Either.getOrThrow(decoded).type).toBe(sample.type)
    }
  })

  it("responses: success with data, failure with Pi's error, the id-less parse failure", () => {
    const decode = Schema.decodeUnknownSync(PiResponse)
    expect(decode({ id: "r1", type: "response", command: "get_state", success: true, data: { isStreaming: false } })).toMatchObject({ success: true })
    expect(decode({ id: "r2", type: "response", command: "set_model", success: false, error: "Model not found: p/m" })).toMatchObject({ error: "Model not found: p/m" })
    expect(decode({ type: "response", command: "parse", success: false, error: "Failed to parse command" }).id).toBeUndefined()
  })

  it("get_state data keeps what troupe reads and ignores the rest", () => {
    const state = Schema.decodeUnknownSync(PiState)({
      model: { provider: "anthropic", id: "claude", contextWindow: 200000, api: "x" },
      thinkingLevel: "medium",
      isStreaming: false,
      isCompacting: false,
      steeringMode: "all",
      sessionId: "abc123",
      messageCount: 5,
      pendingMessageCount: 0
    })
    expect(state).toEqual({ model: { provider: "anthropic", id: "claude" }, thinkingLevel: "medium", isStreaming: false, isCompacting: false, sessionId: "abc123", messageCount: 5, pendingMessageCount: 0 })
  })

  it("responses without data decode for commands whose data troupe does not need", () => {
    expect(Schema.decodeUnknownSync(responseData.prompt)({})).toEqual({})
    expect(Schema.decodeUnknownSync(responseData.get_last_assistant_text)({ text: null })).toEqual({ text: null })
  })

  it("dialog responses have Pi's extension_ui_response shape", () => {
    expect(dialogResponse("uuid-3", { cancelled: true })).toEqual({ type: "extension_ui_response", id: "uuid-3", cancelled: true })
    expect(dialogResponse("uuid-2", { confirmed: true })).toEqual({ type: "extension_ui_response", id: "uuid-2", confirmed: true })
    expect(dialogResponse("uuid-1", { value: "Allow" })).toEqual({ type: "extension_ui_response", id: "uuid-1", value: "Allow" })
  })
})
