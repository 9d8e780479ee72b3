/**
 * `Supervisor.watch` (RPC `Watch`, what `troupe top` redraws on): it ticks when a run is
 * written (spawn, transitions) and when a room gets a post, coalesced into ticks that carry
 * only a count, and it refuses a caller without a session like every other query.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Option, Stream } from "effect"
import { Router } from "../../src/services/Router.js"
import { type Caller, SpawnRequest, Supervisor } from "../../src/services/Supervisor.js"
import { eventually, testRuntime } from "../support/runtime.js"

const A: Caller = { session: "A", all: false }
const nobody: Caller = { session: "", all: false }

describe("Supervisor.watch", () => {
  it.live("ticks on run writes and on room posts", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const router = yield* Router
      // The feed is live only: keep triggering until the subscription (forked) sees one.
      const firstTick = yield* Effect.fork(Stream.runHead(supervisor.watch(A)))
      let n = 0
      yield* eventually("a tick after a spawn", Effect.gen(function* () {
        const run = yield* supervisor.spawn(A, SpawnRequest.make({ template: "true", as: `w${n++}`, cwd: "/" }))
        yield* supervisor.wait(A, run.id)
        return Option.isSome(yield* Fiber.join(firstTick).pipe(Effect.timeoutOption("50 millis")).pipe(Effect.map(Option.flatten)))
      }))
      const tick = Option.getOrThrow(yield* Fiber.join(firstTick))
      expect(tick.changes).toBeGreaterThan(0)

      // A room post alone (the run has ended: no run writes any more).
      const postTick = yield* Effect.fork(Stream.runHead(supervisor.watch(A)))
      yield* eventually("a tick after a room post", Effect.gen(function* () {
        yield* router.send(A, { to: "room:w0", from: "coordinator", type: "note.posted", summary: "hello" })
        return Option.isSome(yield* Fiber.join(postTick).pipe(Effect.timeoutOption("50 millis")).pipe(Effect.map(Option.flatten)))
      }))
    }).pipe(Effect.provide(testRuntime())))

  it.live("refuses a caller without a session", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const error = yield* Effect.flip(Stream.runHead(supervisor.watch(nobody)))
      expect(error.reason).toBe("forbidden")
    }).pipe(Effect.provide(testRuntime())))
})
