import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Option, Queue, Stream, TestClock } from "effect"
import { PiRpcClosed } from "../../src/domain/PiRpc.js"
import { connect, type PiRpcOptions } from "../../src/services/PiRpc.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * A scripted Pi on the other side of an in-memory duplex: `commands` are the records the
 * session wrote, `say` writes records (or raw text) to the session, `end` closes its input.
 */
const scripted = (options: PiRpcOptions = {}) =>
  Effect.gen(function* () {
    const toSession = yield* Queue.unbounded<Option.Option<Uint8Array>>()
    const commands = yield* Queue.unbounded<Record<string, any>>()
    const session = yield* connect(
      {
        input: Stream.fromQueue(toSession).pipe(Stream.takeWhile(Option.isSome), Stream.map((o) => o.value)),
        write: (bytes) => {
          const text = decoder.decode(bytes)
          expect(text.endsWith("\n")).toBe(true)
          return Queue.offer(commands, JSON.parse(text))
        }
      },
      options
    )
    const say = (...records: ReadonlyArray<unknown>) =>
      Queue.offer(toSession, Option.some(encoder.encode(records.map((r) => (typeof r === "string" ? r : JSON.stringify(r)) + "\n").join(""))))
    const end = Queue.offer(toSession, Option.none())
    const respond = (command: Record<string, any>, extra: Record<string, unknown> = {}) =>
      say({ id: command.id, type: "response", command: command.type, success: true, ...extra })
    return { session, commands, say, end, respond }
  })

describe("PiRpc session over a duplex", () => {
  it.scoped("responses are matched by id, out of order and between events", () =>
    Effect.gen(function* () {
      const pi = yield* scripted()
      const events = yield* pi.session.subscribe
      const state = yield* Effect.fork(pi.session.send({ type: "get_state" }))
      const text = yield* Effect.fork(pi.session.send({ type: "get_last_assistant_text" }))
      const model = yield* Effect.fork(pi.session.send({ type: "set_model", provider: "p", modelId: "m" }))
      const sent = [yield* Queue.take(pi.commands), yield* Queue.take(pi.commands), yield* Queue.take(pi.commands)]
      expect(new Set(sent.map((c) => c.id)).size).toBe(3)
      const byType = (t: string) => sent.find((c) => c.type === t)!
      yield* pi.say({ type: "turn_start" })
      yield* pi.respond(byType("set_model"), { data: { provider: "p", id: "m", contextWindow: 1 } })
      yield* pi.say({ type: "message_update", assistantMessageEvent: { type: "text_delta", contentIndex: 0, delta: "x" } })
      yield* pi.respond(byType("get_last_assistant_text"), { data: { text: "hello\u2028world" } })
      yield* pi.respond(byType("get_state"), { data: { isStreaming: true, thinkingLevel: "off", extra: [1] } })
      expect(yield* Fiber.join(model)).toEqual({ provider: "p", id: "m" })
      expect(yield* Fiber.join(text)).toEqual({ text: "hello\u2028world" })
      expect((yield* Fiber.join(state)).isStreaming).toBe(true)
      const seen = yield* Stream.runCollect(Stream.take(events, 2))
      expect(Chunk.toArray(seen).map((e) => e.type)).toEqual(["turn_start", "message_update"])
    }))

  it.scoped("a rejected command fails with PiRpcRejected carrying Pi's text", () =>
    Effect.gen(function* () {
      const pi = yield* scripted()
      const call = yield* Effect.fork(pi.session.send({ type: "set_model", provider: "p", modelId: "m" }))
      const command = yield* Queue.take(pi.commands)
      yield* pi.say({ id: command.id, type: "response", command: "set_model", success: false, error: "Model not found: p/m" })
      const error = yield* Effect.flip(Fiber.join(call))
      expect(error._tag).toBe("PiRpcRejected")
      expect(error).toMatchObject({ command: "set_model", error: "Model not found: p/m", message: "Pi rejected set_model: Model not found: p/m" })
    }))

  it.scoped("the end of Pi's output fails every pending command, and later ones, with PiRpcClosed; events end", () =>
    Effect.gen(function* () {
      const pi = yield* scripted()
      const events = yield* pi.session.subscribe
      const calls = yield* Effect.forEach([1, 2, 3], () => Effect.fork(pi.session.send({ type: "get_state" })))
      for (const _ of calls) yield* Queue.take(pi.commands)
      yield* pi.say({ type: "agent_start" })
      yield* pi.end
      for (const call of calls) {
        const error = yield* Effect.flip(Fiber.join(call))
        expect(error).toBeInstanceOf(PiRpcClosed)
        expect(error.message).toBe("Pi's output ended")
      }
      expect((yield* Effect.flip(pi.session.send({ type: "abort" })))._tag).toBe("PiRpcClosed")
      expect(Chunk.toArray(yield* Stream.runCollect(events)).map((e) => e.type)).toEqual(["agent_start"])
      expect((yield* pi.session.closed)._tag).toBe("PiRpcClosed")
      expect(yield* Stream.runCollect(pi.session.events)).toEqual(Chunk.empty())
    }))

  it.scoped("a line that is not JSON ends the session with PiRpcProtocolError", () =>
    Effect.gen(function* () {
      const pi = yield* scripted()
      const call = yield* Effect.fork(pi.session.send({ type: "get_state" }))
      yield* Queue.take(pi.commands)
      yield* pi.say("Debugger listening on ws://127.0.0.1:9229")
      const error = yield* Effect.flip(Fiber.join(call))
      expect(error._tag).toBe("PiRpcProtocolError")
      expect(error.message).toBe("Pi sent a line that is not a JSON object: Debugger listening on ws://127.0.0.1:9229")
    }))

  it.scoped("a response whose data does not decode is a PiRpcProtocolError for that command only", () =>
    Effect.gen(function* () {
      const pi = yield* scripted()
      const call = yield* Effect.fork(pi.session.send({ type: "get_state" }))
      const command = yield* Queue.take(pi.commands)
      yield* pi.respond(command, { data: { isStreaming: "yes" } })
      const error = yield* Effect.flip(Fiber.join(call))
      expect(error._tag).toBe("PiRpcProtocolError")
      expect(error.message).toBe(`Pi's response to get_state could not be decoded: field "isStreaming" must be a boolean (got "yes")`)
      const next = yield* Effect.fork(pi.session.send({ type: "get_last_assistant_text" }))
      yield* pi.respond(yield* Queue.take(pi.commands), { data: { text: null } })
      expect(yield* Fiber.join(next)).toEqual({ text: null })
    }))

  it.scoped("unknown events and known events of an unexpected shape arrive as { type: unknown, name, raw }", () =>
    Effect.gen(function* () {
      const pi = yield* scripted()
      const events = yield* pi.session.subscribe
      yield* pi.say({ type: "queue_update", steering: [], followUp: ["x"] }, { type: "tool_execution_start", toolCallId: 5 }, { type: "agent_start" })
      const got = Chunk.toArray(yield* Stream.runCollect(Stream.take(events, 3)))
      expect(got[0]).toEqual({ type: "unknown", name: "queue_update", raw: { type: "queue_update", steering: [], followUp: ["x"] } })
      expect(got[1]).toMatchObject({ type: "unknown", name: "tool_execution_start" })
      expect(got[2]).toEqual({ type: "agent_start" })
    }))

  it.scoped("every subscriber sees every event after it subscribed", () =>
    Effect.gen(function* () {
      const pi = yield* scripted()
      const first = yield* pi.session.subscribe
      yield* pi.say({ type: "turn_start" })
      const a = yield* Stream.runCollect(Stream.take(first, 1))
      const second = yield* pi.session.subscribe
      yield* pi.say({ type: "agent_start" }, { type: "turn_end" })
      const b = yield* Stream.runCollect(Stream.take(first, 2))
      const c = yield* Stream.runCollect(Stream.take(second, 2))
      expect(Chunk.toArray(a).map((e) => e.type)).toEqual(["turn_start"])
      expect(Chunk.toArray(b).map((e) => e.type)).toEqual(["agent_start", "turn_end"])
      expect(Chunk.toArray(c).map((e) => e.type)).toEqual(["agent_start", "turn_end"])
    }))

  it.scoped("prompt is sent as a follow-up; promptAndWait settles on agent_settled", () =>
    Effect.gen(function* () {
      const pi = yield* scripted()
      const events = yield* pi.session.subscribe
      const run = yield* Effect.fork(pi.session.promptAndWait("hi"))
      const command = yield* Queue.take(pi.commands)
      expect(command).toMatchObject({ type: "prompt", message: "hi", streamingBehavior: "followUp" })
      yield* pi.respond(command, { data: { disposition: "started" } })
      yield* pi.say({ type: "agent_start" }, { type: "agent_end", messages: [], willRetry: false })
      // Streaming until settled.
      yield* Stream.runDrain(Stream.takeUntil(events, (e) => e.type === "agent_end"))
      expect((yield* pi.session.turnState).streaming).toBe(true)
      yield* pi.say({ type: "agent_settled", aborted: true })
      expect(yield* Fiber.join(run)).toEqual({ aborted: true })
      expect(yield* pi.session.turnState).toMatchObject({ streaming: false, settledRuns: 1, sendsSettled: true })
      expect(yield* pi.session.awaitSettled).toEqual({ aborted: true })
    }))

  it.scoped("a handled prompt does not wait for a run", () =>
    Effect.gen(function* () {
      const pi = yield* scripted()
      const run = yield* Effect.fork(pi.session.promptAndWait("/ext"))
      yield* pi.respond(yield* Queue.take(pi.commands), { data: { disposition: "handled" } })
      expect(yield* Fiber.join(run)).toEqual({ aborted: false, disposition: "handled" })
    }))

  it.scoped("older Pi (no agent_settled): agent_end without retry, then get_state.isStreaming false", () =>
    Effect.gen(function* () {
      const pi = yield* scripted({ settleFallbackMs: 100 })
      const run = yield* Effect.fork(pi.session.promptAndWait("hi"))
      yield* pi.respond(yield* Queue.take(pi.commands))
      yield* pi.say({ type: "agent_start" }, { type: "agent_end", messages: [], willRetry: true })
      yield* pi.say({ type: "agent_start" }, { type: "agent_end", messages: [] })
      // The fallback waits 100 ms (TestClock) before asking.
      yield* TestClock.adjust("100 millis")
      const ask = yield* Queue.take(pi.commands)
      expect(ask.type).toBe("get_state")
      yield* pi.respond(ask, { data: { isStreaming: false } })
      expect(yield* Fiber.join(run)).toEqual({ aborted: false })
      expect(yield* Queue.size(pi.commands)).toBe(0)
    }))

  it.scoped("dialogs are answered cancelled without a handler; fire-and-forget requests are not answered", () =>
    Effect.gen(function* () {
      const pi = yield* scripted()
      yield* pi.say({ type: "extension_ui_request", id: "n1", method: "notify", message: "hi" }, { type: "extension_ui_request", id: "d1", method: "confirm", title: "Sure?" })
      expect(yield* Queue.take(pi.commands)).toEqual({ type: "extension_ui_response", id: "d1", cancelled: true })
      yield* pi.say({ type: "extension_ui_request", id: "d2", method: "select", title: "Which?", options: ["a", "b"] })
      expect(yield* Queue.take(pi.commands)).toEqual({ type: "extension_ui_response", id: "d2", cancelled: true })
    }))

  it.scoped("a dialog handler's answer is sent; a failing handler is answered cancelled", () =>
    Effect.gen(function* () {
      const pi = yield* scripted({
        onDialog: (request) => (request.method === "select" ? Effect.succeed({ value: request.options![1]! }) : Effect.fail("no"))
      })
      yield* pi.say({ type: "extension_ui_request", id: "d1", method: "select", title: "Which?", options: ["a", "b"] })
      expect(yield* Queue.take(pi.commands)).toEqual({ type: "extension_ui_response", id: "d1", value: "b" })
      yield* pi.say({ type: "extension_ui_request", id: "d2", method: "input", title: "Name?" })
      expect(yield* Queue.take(pi.commands)).toEqual({ type: "extension_ui_response", id: "d2", cancelled: true })
    }))

  it.scoped("a subscriber with a tiny buffer loses nothing: it holds the reader back until it reads", () =>
    Effect.gen(function* () {
      const pi = yield* scripted({ eventBuffer: 2 })
      const events = yield* pi.session.subscribe
      const call = yield* Effect.fork(pi.session.send({ type: "get_last_assistant_text" }))
      const command = yield* Queue.take(pi.commands)
      const updates = Array.from({ length: 50 }, (_, i) => ({ type: "message_update", assistantMessageEvent: { type: "text_delta", contentIndex: 0, delta: `${i}` } }))
      yield* pi.say(...updates)
      yield* pi.respond(command, { data: { text: "after" } })
      const got = Chunk.toArray(yield* Stream.runCollect(Stream.take(events, 50)))
      expect(got.map((e) => e.type === "message_update" && e.assistantMessageEvent.delta)).toEqual(updates.map((u) => u.assistantMessageEvent.delta))
      expect(yield* Fiber.join(call)).toEqual({ text: "after" })
    }))
})
