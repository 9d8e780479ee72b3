/**
 * `PiRpc` against a real `pi --mode rpc` (Node 22, the faux model): a prompt runs a scripted
 * tool call and settles, the last assistant text comes back, a bad model is a typed rejection,
 * a prompt while streaming is queued as a follow-up, and closing the scope ends the process.
 */
import { randomUUID } from "node:crypto"
import { rmSync } from "node:fs"
import { join } from "node:path"
import { Chunk, Effect, Fiber, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as PiRpcDomain from "../../src/domain/PiRpc.js"
import * as PiRpc from "../../src/services/PiRpc.js"
import { fauxExtension, makeWorld, piArgs, script, type World } from "./support.js"

const dialogExtension = join(process.cwd(), "test/pi-e2e/dialog-extension.ts")

const spawnPi = (world: World, options: Omit<PiRpc.LocalPiOptions, "pi"> = {}) =>
  PiRpc.spawnLocal({
    ...options,
    pi: process.env.TROUPE_PI_CLI!,
    node: process.env.TROUPE_PI_NODE!,
    // piArgs starts with the CLI; spawnLocal adds `--mode rpc --no-session` itself.
    args: piArgs([], [fauxExtension, dialogExtension]).slice(1).filter((a) => a !== "--no-session"),
    cwd: world.cwd,
    env: world.env,
    graceMs: 2000
  })

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe("PiRpc: real Pi in RPC mode", () => {
  let world: World
  beforeAll(() => {
    world = makeWorld("pirpc")
  })
  afterAll(() => rmSync(world.dir, { recursive: true, force: true }))

  it("prompt → tool call → settled → last assistant text; rejections are typed; scope close ends Pi", async () => {
    const nonce = `${randomUUID()}\u2028line`
    const pid = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const pi = yield* spawnPi(world)
          const state = yield* pi.send({ type: "get_state" })
          expect(state).toMatchObject({ isStreaming: false, model: { provider: "faux", id: "faux-1" } })
          const events = yield* pi.subscribe
          const collected = yield* Effect.fork(events.pipe(Stream.takeUntil((e) => e.type === "agent_settled"), Stream.runCollect, Effect.map(Chunk.toArray)))
          expect(yield* pi.promptAndWait(script([[{ name: "e2e_echo", arguments: { text: nonce } }]]))).toEqual({ aborted: false })
          const seen = yield* Fiber.join(collected)
          const end = seen.find((e) => e.type === "tool_execution_end" && e.toolName === "e2e_echo")
          expect(end).toMatchObject({ isError: false })
          // Every record of a type troupe decodes did decode (none fell back to `unknown`).
          const fellBack = seen.flatMap((e) => (e.type === "unknown" && PiRpcDomain.knownEventTypes.has(e.name) ? [e.name] : []))
          expect(fellBack).toEqual([])
          expect(yield* pi.send({ type: "get_last_assistant_text" })).toEqual({ text: `SCRIPT-DONE\nRESULT e2e_echo: echo: ${nonce}` })

          const rejected = yield* Effect.flip(pi.send({ type: "set_model", provider: "nope", modelId: "missing" }))
          expect(rejected._tag).toBe("PiRpcRejected")
          expect(rejected.message).toMatch(/^Pi rejected set_model: .*nope\/missing/)

          // A prompt while the run streams (a 1 s bash call) is queued as a follow-up and answered in the same settle.
          yield* pi.prompt(script([[{ name: "bash", arguments: { command: "sleep 1; echo slept" } }]]))
          const second = yield* pi.prompt("and then this")
          // Pi before 1.x answers a prompt without data (no disposition).
          expect([undefined, "queued"]).toContain(second.disposition)
          expect(yield* pi.awaitSettled).toEqual({ aborted: false })
          expect(yield* pi.send({ type: "get_last_assistant_text" })).toEqual({ text: "FOLLOWUP-SEEN <<and then this>>" })
          const stats = yield* pi.send({ type: "get_session_stats" })
          expect(stats.toolCalls).toBeGreaterThanOrEqual(2)
          expect(alive(pi.pid)).toBe(true)
          return pi.pid
        })
      )
    )
    expect(alive(pid)).toBe(false)
  })

  it("dialogs: answered cancelled without a handler (the tool sees false), a handler's answer reaches the extension", async () => {
    const ask = script([[{ name: "e2e_confirm", arguments: { question: "go?" } }]])
    const silent = await Effect.runPromise(
      Effect.scoped(Effect.gen(function* () {
        const pi = yield* spawnPi(world)
        yield* pi.promptAndWait(ask)
        return yield* pi.send({ type: "get_last_assistant_text" })
      }))
    )
    expect(silent).toEqual({ text: "SCRIPT-DONE\nRESULT e2e_confirm: confirmed: false" })
    const answered = await Effect.runPromise(
      Effect.scoped(Effect.gen(function* () {
        const pi = yield* spawnPi(world, { onDialog: (request) => Effect.succeed({ confirmed: request.message === "go?" }) })
        yield* pi.promptAndWait(ask)
        return yield* pi.send({ type: "get_last_assistant_text" })
      }))
    )
    expect(answered).toEqual({ text: "SCRIPT-DONE\nRESULT e2e_confirm: confirmed: true" })
  })
})
