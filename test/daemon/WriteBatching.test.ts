/**
 * The daemon socket's writes (src/daemon/WriteBatching.ts) over a fake socket whose peer never
 * takes a byte: a waiting write is interruptible, a stall closes the connection after
 * `stallMs` (TestClock), and a write after the connection closed fails at once.
 */
import * as Socket from "@effect/platform/Socket"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, TestClock } from "effect"
import { batchWrites } from "../../src/daemon/WriteBatching.js"

/** A socket whose data writes never complete; records what was written and closes. */
const stuckSocket = () => {
  const written: Array<string | Uint8Array> = []
  const closes: Array<number> = []
  const socket = Socket.Socket.of({
    [Socket.TypeId]: Socket.TypeId,
    run: (_handler, options) => Effect.zipRight(options?.onOpen ?? Effect.void, Effect.void),
    runRaw: (_handler, options) => Effect.zipRight(options?.onOpen ?? Effect.void, Effect.void),
    writer: Effect.succeed((chunk: string | Uint8Array | Socket.CloseEvent) =>
      Socket.isCloseEvent(chunk)
        ? Effect.sync(() => void closes.push(chunk.code))
        : Effect.zipRight(Effect.sync(() => void written.push(chunk)), Effect.never)
    )
  })
  return { socket, written, closes }
}

describe("WriteBatching", () => {
  it.scoped("a write the peer never takes is interruptible", () =>
    Effect.gen(function* () {
      const { socket, written } = stuckSocket()
      const write = yield* batchWrites(socket, { stallMs: 60_000 }).writer
      const fiber = yield* Effect.fork(write("line\n"))
      yield* Effect.yieldNow()
      // The write reached the socket and waits.
      while (written.length === 0) yield* Effect.yieldNow()
      expect(written).toEqual(["line\n"])
      const exit = yield* Fiber.interrupt(fiber)
      expect(Exit.isInterrupted(exit)).toBe(true)
    }))

  it.scoped("a write the peer has not taken within stallMs fails and closes the connection", () =>
    Effect.gen(function* () {
      const { socket, closes } = stuckSocket()
      const write = yield* batchWrites(socket, { stallMs: 10_000 }).writer
      const fiber = yield* Effect.fork(Effect.either(write("line\n")))
      yield* TestClock.adjust("9 seconds")
      expect(closes).toEqual([])
      yield* TestClock.adjust("1 second")
      const result = yield* Fiber.join(fiber)
      expect(result._tag).toBe("Left")
      expect(closes).toEqual([1008])
    }))

  it.scoped("writes after the connection closed fail at once", () =>
    Effect.gen(function* () {
      const { socket, written } = stuckSocket()
      const bounded = batchWrites(socket, { stallMs: 60_000 })
      const write = yield* bounded.writer
      // The connection opens and ends (the fake's run returns at once).
      const opened = yield* Deferred.make<void>()
      yield* bounded.runRaw(() => undefined, { onOpen: Deferred.succeed(opened, undefined).pipe(Effect.asVoid) })
      expect(yield* Deferred.isDone(opened)).toBe(true)
      const result = yield* Effect.either(write("ping\n"))
      expect(result._tag).toBe("Left")
      expect(written).toEqual([])
    }))
})
