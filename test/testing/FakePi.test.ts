import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Schedule, Stream } from "effect"
import type { PiEvent } from "../../src/domain/PiRpc.js"
import * as PiRpc from "../../src/services/PiRpc.js"
import { type FakePiOptions, spawnFakePi } from "../../src/testing/FakePi.js"

// Every FakePi mode through `PiRpc.spawnLocal` on the built program (dist/testing/fake-pi.mjs:
// `npm run build` first). A short grace keeps the kill paths fast.
const graceMs = 300

const fake = (options: FakePiOptions) => spawnFakePi({ graceMs, ...options })

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Events until (and with) the first `agent_settled`. */
const untilSettled = (events: Stream.Stream<PiEvent>) =>
  events.pipe(Stream.takeUntil((e) => e.type === "agent_settled"), Stream.runCollect, Effect.map(Chunk.toArray))

describe("FakePi through PiRpc.spawnLocal", () => {
  it.live("normal: a prompt streams text, calls a tool, settles; state, stats and last text answer", () =>
    Effect.scoped(Effect.gen(function* () {
      const pi = yield* fake({ mode: "normal" })
      expect(yield* pi.send({ type: "get_state" })).toMatchObject({ isStreaming: false, model: { provider: "fake", id: "fake-model" } })
      const events = yield* pi.subscribe
      const collected = yield* Effect.fork(untilSettled(events))
      expect(yield* pi.promptAndWait("hello\u2028world")).toEqual({ aborted: false })
      const seen = yield* Fiber.join(collected)
      const types = seen.map((e) => e.type)
      expect(types[0]).toBe("agent_start")
      expect(types).toContain("tool_execution_start")
      expect(types).toContain("tool_execution_end")
      expect(types.slice(-2)).toEqual(["agent_end", "agent_settled"])
      const deltas = seen.flatMap((e) => (e.type === "message_update" && e.assistantMessageEvent.type === "text_delta" ? [e.assistantMessageEvent.delta] : []))
      expect(deltas.join("")).toContain("hello\u2028world")
      expect(yield* pi.send({ type: "get_last_assistant_text" })).toEqual({ text: "done: hello\u2028world" })
      expect(yield* pi.send({ type: "get_session_stats" })).toMatchObject({ toolCalls: 1, tokens: { total: 30 } })
      expect(yield* pi.send({ type: "set_model", provider: "p", modelId: "m" })).toMatchObject({ provider: "p", id: "m" })
      yield* pi.send({ type: "set_thinking_level", level: "high" })
      expect(yield* pi.send({ type: "new_session" })).toEqual({ cancelled: false })
    })))

  it.live("slow: a prompt while streaming is queued as a follow-up and runs in the same settle", () =>
    Effect.scoped(Effect.gen(function* () {
      const pi = yield* fake({ mode: "slow", delayMs: 80 })
      expect(yield* pi.prompt("first")).toEqual({ disposition: "started" })
      expect(yield* pi.prompt("second")).toEqual({ disposition: "queued" })
      expect(yield* pi.awaitSettled).toEqual({ aborted: false })
      expect(yield* pi.send({ type: "get_last_assistant_text" })).toEqual({ text: "done: second" })
      // A bare prompt while streaming is rejected by Pi, typed.
      yield* pi.prompt("third")
      const error = yield* Effect.flip(pi.send({ type: "prompt", message: "bare" }))
      expect(error._tag).toBe("PiRpcRejected")
      expect(error.message).toMatch(/^Pi rejected prompt: Agent is already processing/)
      yield* pi.abort
      expect(yield* pi.awaitSettled).toEqual({ aborted: true })
    })))

  it.live("streaming-reject: every prompt while streaming is PiRpcRejected", () =>
    Effect.scoped(Effect.gen(function* () {
      const pi = yield* fake({ mode: "streaming-reject", delayMs: 80 })
      yield* pi.prompt("first")
      const error = yield* Effect.flip(pi.prompt("second"))
      expect(error).toMatchObject({ _tag: "PiRpcRejected", command: "prompt" })
      expect((yield* Effect.flip(pi.steer("turn"))).message).toMatch(/^Pi rejected steer: /)
      expect(yield* pi.awaitSettled).toEqual({ aborted: false })
    })))

  it.live("set-model-fail: set_model fails with Pi's text", () =>
    Effect.scoped(Effect.gen(function* () {
      const pi = yield* fake({ mode: "set-model-fail" })
      const error = yield* Effect.flip(pi.send({ type: "set_model", provider: "p", modelId: "m" }))
      expect(error).toMatchObject({ _tag: "PiRpcRejected", error: "Model not found: p/m" })
    })))

  it.live("dialog: answered cancelled without a handler, and the turn settles", () =>
    Effect.scoped(Effect.gen(function* () {
      const pi = yield* fake({ mode: "dialog" })
      const events = yield* pi.subscribe
      const collected = yield* Effect.fork(untilSettled(events))
      expect(yield* pi.promptAndWait("ask")).toEqual({ aborted: false })
      const requests = (yield* Fiber.join(collected)).filter((e) => e.type === "extension_ui_request")
      expect(requests.map((e) => e.type === "extension_ui_request" && e.method)).toEqual(["notify", "confirm"])
      expect(yield* pi.send({ type: "get_last_assistant_text" })).toEqual({ text: "done: ask (dialog: cancelled)" })
    })))

  it.live("dialog: a handler's answer reaches Pi", () =>
    Effect.scoped(Effect.gen(function* () {
      const pi = yield* fake({ mode: "dialog", onDialog: () => Effect.succeed({ confirmed: true }) })
      yield* pi.promptAndWait("ask")
      expect(yield* pi.send({ type: "get_last_assistant_text" })).toEqual({ text: "done: ask (dialog: confirmed=true)" })
    })))

  it.live("crash: the session ends with PiRpcClosed naming the exit code and the last stderr line", () =>
    Effect.scoped(Effect.gen(function* () {
      const pi = yield* fake({ mode: "crash" })
      const error = yield* Effect.flip(pi.promptAndWait("boom"))
      expect(error._tag).toBe("PiRpcClosed")
      expect(error.message).toBe(`Pi (pid ${pi.pid}) exited with code 3: fake-pi: crashed on purpose`)
      expect(error).toMatchObject({ stderr: "fake-pi: crashed on purpose" })
      expect((yield* Effect.flip(pi.send({ type: "get_state" })))._tag).toBe("PiRpcClosed")
    })))

  it.live("hang: the caller's timeout works, and closing the scope kills the process", () =>
    Effect.gen(function* () {
      let pid = 0
      yield* Effect.scoped(Effect.gen(function* () {
        const pi = yield* fake({ mode: "hang" })
        pid = pi.pid
        yield* pi.prompt("wait forever")
        const timedOut = yield* pi.awaitSettled.pipe(Effect.timeout("300 millis"), Effect.flip)
        expect(timedOut._tag).toBe("TimeoutException")
        expect((yield* pi.turnState).streaming).toBe(true)
        expect(alive(pid)).toBe(true)
      }))
      // The finalizer waited for the exit (SIGTERM ignored, SIGKILL after the grace).
      yield* Effect.sync(() => alive(pid)).pipe(
        Effect.repeat({ while: (a) => a, schedule: Schedule.spaced("20 millis").pipe(Schedule.upTo("5 seconds")) })
      )
      expect(alive(pid)).toBe(false)
    }))

  it.live("chatty: every event FakePi emitted arrives, in order", () =>
    Effect.scoped(Effect.gen(function* () {
      const count = 5000
      const pi = yield* fake({ mode: "chatty", chattyCount: count, eventBuffer: 256 })
      const events = yield* pi.subscribe
      // After the run, chatty FakePi reports how many events it emitted: { type: "fake_pi_emitted", count }.
      const collected = yield* Effect.fork(
        events.pipe(Stream.takeUntil((e) => e.type === "unknown" && e.name === "fake_pi_emitted"), Stream.runCollect, Effect.map(Chunk.toArray))
      )
      yield* pi.promptAndWait("talk")
      const all = yield* Fiber.join(collected)
      const report = all[all.length - 1]!
      const seen = all.slice(0, -1)
      expect(report.type === "unknown" && report.raw.count).toBe(seen.length)
      expect(seen.length).toBeGreaterThan(count)
      const deltas = seen.flatMap((e) => (e.type === "message_update" && e.assistantMessageEvent.type === "text_delta" ? [e.assistantMessageEvent.delta] : []))
      expect(deltas.length).toBe(count + 1)
      expect(deltas.slice(0, count)).toEqual(Array.from({ length: count }, (_, i) => `${i} `))
    })))

  it.live("old: without agent_settled, the turn settles through get_state", () =>
    Effect.scoped(Effect.gen(function* () {
      const pi = yield* fake({ mode: "old", settleFallbackMs: 50 })
      expect(yield* pi.promptAndWait("hi")).toEqual({ aborted: false })
      expect(yield* pi.turnState).toMatchObject({ streaming: false, settledRuns: 1, sendsSettled: false })
      expect(yield* pi.send({ type: "get_last_assistant_text" })).toEqual({ text: "done: hi" })
    })))

  it.live("spawnLocal of a program that does not exist fails with PiRpcClosed", () =>
    Effect.scoped(Effect.gen(function* () {
      const error = yield* Effect.flip(PiRpc.spawnLocal({ pi: "/nonexistent/pi-for-troupe-tests" }))
      expect(error._tag).toBe("PiRpcClosed")
      expect(error.message).toMatch(/^cannot start Pi \(\/nonexistent\/pi-for-troupe-tests\): .*ENOENT/)
    })))
})
