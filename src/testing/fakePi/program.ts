/**
 * FakePi: a small program speaking Pi's RPC shapes (`pi --mode rpc`, Pi's docs/rpc.md,
 * rpc-commands.md, json.md, rpc-extension-ui.md) for tests and demos. Built to
 * `dist/testing/fake-pi.mjs` (node: builtins only). Mode from `--fake-mode <mode>` or
 * `FAKE_PI_MODE` (default `normal`); see `FakePiMode` in ../FakePi.ts and docs/agents.md.
 *
 * A prompt runs two turns: an assistant message with text deltas and one `echo` tool call
 * (with `tool_execution_start/end`), then a final assistant text `done: <prompt>`; then
 * `agent_end` and `agent_settled`. `get_state` reports `fakeEventsEmitted`: how many event
 * records (not responses) FakePi has written so far; a `chatty` run ends with one more record,
 * `{type: "fake_pi_emitted", count}`, the same number.
 */
import { once } from "node:events"

type Json = Record<string, unknown>
type Mode = "normal" | "slow" | "streaming-reject" | "set-model-fail" | "dialog" | "crash" | "hang" | "chatty" | "old"
const modes: ReadonlyArray<Mode> = ["normal", "slow", "streaming-reject", "set-model-fail", "dialog", "crash", "hang", "chatty", "old"]

const argMode = (() => {
  const i = process.argv.indexOf("--fake-mode")
  return i === -1 ? undefined : process.argv[i + 1]
})()
const requested = argMode ?? process.env.FAKE_PI_MODE ?? "normal"
if (!modes.includes(requested as Mode)) {
  process.stderr.write(`fake-pi: unknown mode ${requested} (one of ${modes.join(", ")})\n`)
  process.exit(2)
}
const mode = requested as Mode
const chattyCount = Number(process.env.FAKE_PI_CHATTY_COUNT ?? "5000")
const slowDelayMs = Number(process.env.FAKE_PI_DELAY_MS ?? "40")
// Chatty runs may pause this long after every 100 deltas, so a turn lasts while a reader reads it.
const chattyPauseMs = Number(process.env.FAKE_PI_CHATTY_PAUSE_MS ?? "0")

let eventsEmitted = 0
let streaming = false
let aborted = false
let running: Promise<void> | undefined
let model = { provider: "fake", id: "fake-model", name: "Fake model" }
let thinkingLevel = "off"
let lastAssistantText: string | null = null
let userMessages = 0
let assistantMessages = 0
let toolCalls = 0
const queue: Array<string> = []
const dialogs = new Map<string, (answer: Json) => void>()
let dialogCount = 0

const write = async (record: Json) => {
  if (!process.stdout.write(`${JSON.stringify(record)}\n`)) await once(process.stdout, "drain")
}
const emit = (event: Json) => {
  eventsEmitted++
  return write(event)
}
const respond = (id: unknown, command: string, result: { data?: unknown; error?: string }) =>
  write({
    ...(typeof id === "string" ? { id } : {}),
    type: "response",
    command,
    success: result.error === undefined,
    ...(result.error === undefined ? (result.data === undefined ? {} : { data: result.data }) : { error: result.error })
  })
const pause = () =>
  mode === "slow" || mode === "streaming-reject" ? new Promise<void>((r) => setTimeout(r, slowDelayMs)) : Promise.resolve()
const forever = () => new Promise<void>(() => setInterval(() => undefined, 1 << 30))

const usage = { input: 10, output: 5, cacheRead: 0, cacheWrite: 0, totalTokens: 15, cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, total: 0 } }

/** One assistant message streamed as deltas; `deltas` pieces of text, then optionally a tool call. */
const assistant = async (text: string, deltas: ReadonlyArray<string>, toolCall?: Json) => {
  await emit({ type: "message_start", message: { role: "assistant", content: [], stopReason: "pending" } })
  await emit({ type: "message_update", usage, assistantMessageEvent: { type: "text_start", contentIndex: 0 } })
  for (const delta of deltas) {
    await emit({ type: "message_update", usage, assistantMessageEvent: { type: "text_delta", contentIndex: 0, delta } })
    if (mode !== "chatty") await pause()
    else if (chattyPauseMs > 0 && delta.endsWith("00 ")) await new Promise<void>((r) => setTimeout(r, chattyPauseMs))
  }
  await emit({ type: "message_update", usage, assistantMessageEvent: { type: "text_end", contentIndex: 0, content: text } })
  if (toolCall !== undefined) {
    await emit({ type: "message_update", usage, assistantMessageEvent: { type: "toolcall_start", contentIndex: 1, id: toolCall.id, toolName: toolCall.name } })
    await emit({ type: "message_update", usage, assistantMessageEvent: { type: "toolcall_end", contentIndex: 1, toolCall } })
  }
  const message = {
    role: "assistant",
    content: [{ type: "text", text }, ...(toolCall === undefined ? [] : [toolCall])],
    stopReason: toolCall === undefined ? "stop" : "toolUse",
    usage
  }
  await emit({ type: "message_end", message })
  assistantMessages++
  return message
}

const askDialog = async (): Promise<string> => {
  await emit({ type: "extension_ui_request", id: `notify-${dialogCount}`, method: "notify", message: "fake-pi is about to ask", notifyType: "info" })
  const id = `dialog-${++dialogCount}`
  const answered = new Promise<Json>((resolve) => dialogs.set(id, resolve))
  await emit({ type: "extension_ui_request", id, method: "confirm", title: "Proceed?", message: "fake-pi asks before answering", timeout: 60_000 })
  const answer = await answered
  return answer.cancelled === true ? "cancelled" : "confirmed" in answer ? `confirmed=${String(answer.confirmed)}` : `value=${String(answer.value)}`
}

const runPrompt = async (prompt: string, messages: Array<unknown>) => {
  await emit({ type: "turn_start" })
  const user = { role: "user", content: prompt, timestamp: 0 }
  await emit({ type: "message_start", message: user })
  await emit({ type: "message_end", message: user })
  userMessages++
  messages.push(user)
  const text = `echo: ${prompt}`
  const deltas = mode === "chatty" ? Array.from({ length: chattyCount }, (_, i) => `${i} `) : ["echo: ", prompt]
  const toolCall = { type: "toolCall", id: `call_${userMessages}`, name: "echo", arguments: { text: prompt } }
  if (mode === "crash") {
    await emit({ type: "message_update", usage, assistantMessageEvent: { type: "text_delta", contentIndex: 0, delta: "about to crash" } })
    process.stderr.write("fake-pi: crashed on purpose\n")
    process.exit(3)
  }
  if (mode === "hang") return forever()
  const first = await assistant(mode === "chatty" ? deltas.join("") : text, deltas, toolCall)
  messages.push(first)
  if (aborted) return
  await emit({ type: "tool_execution_start", toolCallId: toolCall.id, toolName: "echo", args: toolCall.arguments })
  await pause()
  const result = { content: [{ type: "text", text: prompt }], details: {} }
  await emit({ type: "tool_execution_end", toolCallId: toolCall.id, toolName: "echo", result, isError: false, durationMs: 1 })
  toolCalls++
  const toolResult = { role: "toolResult", toolCallId: toolCall.id, toolName: "echo", content: result.content, isError: false }
  await emit({ type: "message_start", message: toolResult })
  await emit({ type: "message_end", message: toolResult })
  await emit({ type: "turn_end", message: first, toolResults: [toolResult] })
  if (aborted) return
  const dialog = mode === "dialog" ? ` (dialog: ${await askDialog()})` : ""
  await emit({ type: "turn_start" })
  const final = `done: ${prompt}${dialog}`
  const last = await assistant(final, [final])
  messages.push(last)
  lastAssistantText = final
  await emit({ type: "turn_end", message: last, toolResults: [] })
}

const startRun = (prompt: string) => {
  streaming = true
  aborted = false
  running = (async () => {
    const messages: Array<unknown> = []
    await emit({ type: "agent_start" })
    let next: string | undefined = prompt
    while (next !== undefined && !aborted) {
      await runPrompt(next, messages)
      next = queue.shift()
      if (next !== undefined) await emit({ type: "queue_update", steering: [], followUp: [...queue] })
    }
    await emit({ type: "agent_end", messages, willRetry: false })
    streaming = false
    if (mode !== "old") await emit({ type: "agent_settled", aborted })
    // Chatty runs end with how many events FakePi emitted so far (this report not counted).
    if (mode === "chatty") await write({ type: "fake_pi_emitted", count: eventsEmitted })
  })()
}

const handle = async (line: string) => {
  let command: Json
  try {
    command = JSON.parse(line) as Json
  } catch (error) {
    return respond(undefined, "parse", { error: `Failed to parse command: ${error instanceof Error ? error.message : String(error)}` })
  }
  const { id, type } = command
  const busy = "Agent is already processing. Specify streamingBehavior ('steer' or 'followUp') to queue the message."
  switch (type) {
    case "prompt": {
      if (streaming) {
        if (mode === "streaming-reject" || command.streamingBehavior === undefined) return respond(id, "prompt", { error: busy })
        queue.push(String(command.message))
        await respond(id, "prompt", { data: { disposition: "queued" } })
        return emit({ type: "queue_update", steering: [], followUp: [...queue] })
      }
      streaming = true
      await respond(id, "prompt", { data: { disposition: "started" } })
      return startRun(String(command.message))
    }
    case "steer":
    case "follow_up":
      if (mode === "streaming-reject" && streaming) return respond(id, type, { error: busy })
      queue.push(String(command.message))
      return respond(id, type, { data: { disposition: "queued" } })
    case "abort":
      aborted = true
      if (running !== undefined && mode !== "hang") await running
      return respond(id, "abort", {})
    case "get_state":
      return respond(id, "get_state", {
        data: {
          model,
          thinkingLevel,
          isStreaming: streaming,
          isCompacting: false,
          steeringMode: "one-at-a-time",
          followUpMode: "one-at-a-time",
          sessionId: "fake-session",
          autoCompactionEnabled: false,
          messageCount: userMessages + assistantMessages,
          pendingMessageCount: queue.length,
          fakeMode: mode,
          fakeEventsEmitted: eventsEmitted
        }
      })
    case "set_model": {
      const provider = String(command.provider)
      const modelId = String(command.modelId)
      if (mode === "set-model-fail") return respond(id, "set_model", { error: `Model not found: ${provider}/${modelId}` })
      model = { provider, id: modelId, name: modelId }
      return respond(id, "set_model", { data: model })
    }
    case "set_thinking_level":
      thinkingLevel = String(command.level)
      return respond(id, "set_thinking_level", {})
    case "get_session_stats":
      return respond(id, "get_session_stats", {
        data: {
          sessionId: "fake-session",
          userMessages,
          assistantMessages,
          toolCalls,
          toolResults: toolCalls,
          totalMessages: userMessages + assistantMessages + toolCalls,
          tokens: { input: 10 * assistantMessages, output: 5 * assistantMessages, cacheRead: 0, cacheWrite: 0, total: 15 * assistantMessages },
          cost: 0
        }
      })
    case "get_last_assistant_text":
      return respond(id, "get_last_assistant_text", { data: { text: lastAssistantText } })
    case "new_session":
      userMessages = assistantMessages = toolCalls = 0
      lastAssistantText = null
      return respond(id, "new_session", { data: { cancelled: false } })
    case "extension_ui_response": {
      const resolve = typeof id === "string" ? dialogs.get(id) : undefined
      dialogs.delete(String(id))
      resolve?.(command)
      return
    }
    default:
      return respond(id, String(type), { error: `Unknown command: ${String(type)}` })
  }
}

// LF-only framing, as Pi's: bytes are split on 0x0A before decoding, one trailing CR dropped.
let pending: Buffer = Buffer.alloc(0)
process.stdin.on("data", (chunk: Buffer) => {
  pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
  let lf: number
  while ((lf = pending.indexOf(0x0a)) !== -1) {
    let line = pending.subarray(0, lf)
    pending = pending.subarray(lf + 1)
    if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1)
    if (line.length > 0) void handle(line.toString("utf8"))
  }
})
if (mode === "hang") {
  // A hung agent ignores the orderly shutdown requests; only SIGKILL ends it.
  process.on("SIGTERM", () => undefined)
  process.on("SIGHUP", () => undefined)
} else {
  process.stdin.on("end", () => process.exit(0))
}
