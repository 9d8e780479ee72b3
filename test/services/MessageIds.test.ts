/**
 * `MessageIds` (SPEC-messaging §2): ids under TestClock are unique and sort by creation, and
 * `stamp` makes the stored envelope (id, `received_at` from the Clock, the verified `from`).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Schema, TestClock } from "effect"
import { type Address, parseAddress } from "../../src/domain/Address.js"
import { Envelope, type EnvelopeInput, MessageId, messageIdMillis, parseEnvelopeInput } from "../../src/domain/Envelope.js"
import { strictParse } from "../../src/domain/Template.js"
import { MessageIds, stamp } from "../../src/services/MessageIds.js"

const base = { to: "run:review", type: "control.continue" } as const

const ok = (input: unknown): EnvelopeInput => {
  const r = parseEnvelopeInput(input)
  if (Either.isLeft(r)) throw new Error(`expected an envelope, got ${r.left.reason}: ${r.left.message}`)
  return r.right
}

describe("message ids", () => {
  it.effect("10,000 ids under a clock that stands still are unique and strictly increasing", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(1_700_000_000_000)
      const ids = yield* MessageIds
      const got: Array<MessageId> = []
      for (let i = 0; i < 10_000; i++) got.push(yield* ids.next)
      expect(new Set(got).size).toBe(10_000)
      for (let i = 1; i < got.length; i++) expect(got[i - 1]! < got[i]!).toBe(true)
      for (const id of got) expect(Schema.is(MessageId)(id)).toBe(true)
      expect(got.every((id) => messageIdMillis(id) === 1_700_000_000_000)).toBe(true)
    }).pipe(Effect.provide(MessageIds.Default)))

  it.effect("ids across advancing time sort by time", () =>
    Effect.gen(function* () {
      const ids = yield* MessageIds
      const got: Array<readonly [number, MessageId]> = []
      for (const step of [0, 1, 1, 999, 60_000, 1, 86_400_000]) {
        yield* TestClock.adjust(step)
        const now = yield* Effect.clockWith((c) => c.currentTimeMillis)
        got.push([now, yield* ids.next], [now, yield* ids.next])
      }
      const sorted = [...got].sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
      expect(sorted).toEqual(got)
      for (const [ms, id] of got) expect(messageIdMillis(id)).toBe(ms)
    }).pipe(Effect.provide(MessageIds.Default)))
})

describe("stamp", () => {
  const runFrom = Either.getOrThrow(parseAddress("run:worker")) as Exclude<Address, { _tag: "Vm" | "Recipes" | "SessionAll" }>

  it.effect("assigns id, received_at from the Clock and the verified from (the sender's text is replaced)", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(1_700_000_123_456)
      const input = ok({ to: "room:r", type: "chat.message", from: "coordinator", summary: "s", body: { a: 1 }, reply_to: "msg_1", correlation_id: "c", metadata: { k: 1 } })
      const env = yield* stamp(input, { from: runFrom, sender: "token" })
      expect(env).toBeInstanceOf(Envelope)
      expect(env.from).toBe("run:worker")
      expect(env.received_at).toBe(1_700_000_123_456)
      expect(messageIdMillis(env.id)).toBe(1_700_000_123_456)
      expect({ ...env }).toEqual({ ...input, id: env.id, received_at: 1_700_000_123_456, from: "run:worker", sender: "token" })
    }).pipe(Effect.provide(MessageIds.Default)))

  it.effect("no absent fields appear, and the stored envelope round-trips through JSON", () =>
    Effect.gen(function* () {
      const env = yield* stamp(ok(base), { from: { _tag: "Coordinator" }, sender: "session:s1" })
      expect(Object.keys(env).sort()).toEqual(["from", "id", "received_at", "sender", "to", "type"])
      const json = JSON.parse(JSON.stringify(Schema.encodeSync(Envelope)(env))) as unknown
      expect(Schema.decodeUnknownSync(Envelope, strictParse)(json)).toEqual(env)
    }).pipe(Effect.provide(MessageIds.Default)))
})
