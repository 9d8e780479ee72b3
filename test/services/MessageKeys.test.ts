/**
 * MessageKeys: the first reservation of a key keeps its id, later ones (retries) get it back —
 * in one batch, across batches, across a store reopen; scopes are separate; keys are forgotten
 * after the retention. Real SQLite files in temporary directories, TestClock for time.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Layer, TestClock } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { MessageId } from "../../src/domain/Envelope.js"
import { MessageKeys } from "../../src/services/MessageKeys.js"
import { Store } from "../../src/services/Store.js"

const dirs: Array<string> = []
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))

const freshDb = () => {
  const dir = mkdtempSync(join(tmpdir(), "troupe-keys-"))
  dirs.push(dir)
  return join(dir, "troupe.db")
}

const onStore = (file: string) => MessageKeys.layer({ retention: "1 hour" }).pipe(Layer.provideMerge(Store.sqlite(file)))

const id = (n: number) => `msg_${String(n).padStart(21, "0")}` as MessageId

describe("MessageKeys", () => {
  it.effect("the first id of a key wins: concurrent duplicates, later retries, other scopes, a reopened store", () =>
    Effect.gen(function* () {
      const file = freshDb()
      yield* Effect.gen(function* () {
        const keys = yield* MessageKeys
        // Three reservations of one key in one batch, and another key next to them.
        const got = yield* Effect.all([keys.reserve("session:a", "k1", id(1)), keys.reserve("session:a", "k1", id(2)), keys.reserve("session:a", "k2", id(3)), keys.reserve("session:a", "k1", id(4))], {
          concurrency: "unbounded"
        })
        expect(new Set([got[0], got[1], got[3]]).size).toBe(1)
        expect([id(1), id(2), id(4)]).toContain(got[0])
        expect(got[2]).toBe(id(3))
        expect(yield* keys.reserve("session:a", "k2", id(5))).toBe(id(3))
        // The same key of another sender is another message.
        expect(yield* keys.reserve("run:x", "k2", id(6))).toBe(id(6))
      }).pipe(Effect.provide(onStore(file)))
      yield* Effect.gen(function* () {
        const keys = yield* MessageKeys
        expect(yield* keys.reserve("session:a", "k2", id(7))).toBe(id(3))
        expect(yield* keys.reserve("run:x", "k2", id(8))).toBe(id(6))
      }).pipe(Effect.provide(onStore(file)))
    }))

  it.effect("keys are forgotten after the retention (swept by the writer at most hourly)", () =>
    Effect.gen(function* () {
      const keys = yield* MessageKeys
      yield* TestClock.setTime(1_000_000)
      expect(yield* keys.reserve("session:a", "k", id(1))).toBe(id(1))
      yield* TestClock.adjust("30 minutes")
      expect(yield* keys.reserve("session:a", "k", id(2))).toBe(id(1))
      yield* TestClock.adjust("61 minutes")
      // This batch sweeps first (an hour since the last sweep): the key is older than the retention.
      expect(yield* keys.reserve("session:a", "k", id(3))).toBe(id(3))
    }).pipe(Effect.provide(onStore(freshDb()))))
})
