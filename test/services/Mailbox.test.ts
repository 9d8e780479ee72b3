/**
 * Durable inboxes (SPEC-messaging §4): every transition and its idempotency, refused
 * transitions and their messages, FIFO `next`, atomic claims under concurrency, `next --wait`
 * woken by an enqueue (TestClock), terminal retention at a small cap, `pending`, `counts`,
 * `list`, `removeRun`, 50 × 200 concurrent enqueues, and a store reopened midway.
 * Real SQLite files in temporary directories.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Exit, Fiber, Layer, Option, TestClock } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Envelope } from "../../src/domain/Envelope.js"
import { MessageIds } from "../../src/services/MessageIds.js"
import { ActorsError } from "../../src/domain/Run.js"
import { type InboxRecord, Mailbox, type MailboxOptions, terminalRetention } from "../../src/services/Mailbox.js"
import { Store } from "../../src/services/Store.js"
import { liveSleep } from "../support/runtime.js"

const dirs: Array<string> = []
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))

/** A fresh database file path in a temporary directory (removed after the file's tests). */
const freshDb = () => {
  const dir = mkdtempSync(join(tmpdir(), "troupe-mailbox-"))
  dirs.push(dir)
  return join(dir, "troupe.db")
}

const onStore = (file: string, options: MailboxOptions = {}) => Mailbox.layer(options).pipe(Layer.provideMerge(Store.sqlite(file)))

/** Runs `body` with a mailbox on a fresh store, and message ids. */
const withMailbox = <A, E>(body: Effect.Effect<A, E, Mailbox | MessageIds>, options: MailboxOptions = {}) =>
  body.pipe(Effect.provide(onStore(freshDb(), options)), Effect.provide(MessageIds.Default))

/** A stamped envelope from `from` to `to` at the Clock's time. */
const envelope = (to: string, fields: { from?: string; type?: string; body?: string | Record<string, unknown> } = {}) =>
  Effect.gen(function* () {
    const ids = yield* MessageIds
    const now = yield* Clock.currentTimeMillis
    const id = yield* ids.nextAt(now)
    return new Envelope({ id, received_at: now, to, from: fields.from ?? "coordinator", type: fields.type ?? "task.prompt", ...(fields.body === undefined ? {} : { body: fields.body }) })
  })

const enqueueTo = (address: string, runId = "r", fields: Parameters<typeof envelope>[1] = {}) =>
  Effect.gen(function* () {
    const mailbox = yield* Mailbox
    return yield* mailbox.enqueue({ address, runId, envelope: yield* envelope(address, fields) })
  })

const failure = <A>(effect: Effect.Effect<A, ActorsError, Mailbox>) =>
  Effect.map(Effect.flip(effect), (e) => ({ reason: e.reason, message: e.message }))

const ids = (records: ReadonlyArray<InboxRecord>) => records.map((r) => r.id)

describe("Mailbox transitions", () => {
  it.effect("enqueue stores a queued record and is idempotent on the envelope id", () =>
    withMailbox(
      Effect.gen(function* () {
        const mailbox = yield* Mailbox
        yield* TestClock.setTime(1_000)
        const env = yield* envelope("run:r", { body: "continue" })
        const first = yield* mailbox.enqueue({ address: "run:r", runId: "r", envelope: env })
        expect(first).toMatchObject({ id: env.id, address: "run:r", run_id: "r", state: "queued", created_at: 1_000, updated_at: 1_000 })
        expect(first.envelope).toEqual(env)
        expect(first.consumer).toBeUndefined()

        yield* TestClock.adjust(5)
        // Same id again (even aimed elsewhere): the stored record, no second row.
        const again = yield* mailbox.enqueue({ address: "branch:r/a", runId: "other", envelope: env })
        expect(again).toEqual(first)
        expect(yield* mailbox.list("run:r")).toEqual([first])
        expect(yield* mailbox.list("branch:r/a")).toEqual([])
        expect(Option.getOrThrow(yield* mailbox.get(env.id))).toEqual(first)
      })
    ))

  it.effect("queued → delivered → claimed → handled, each step idempotent", () =>
    withMailbox(
      Effect.gen(function* () {
        const mailbox = yield* Mailbox
        const queued = yield* enqueueTo("branch:r/a")

        yield* TestClock.adjust(10)
        const delivered = yield* mailbox.markDelivered(queued.id, "fifo")
        expect(delivered).toMatchObject({ state: "delivered", consumer: "fifo", updated_at: queued.updated_at + 10 })
        yield* TestClock.adjust(10)
        expect(yield* mailbox.markDelivered(queued.id, "stdin-jsonl")).toEqual(delivered)

        const claimed = Option.getOrThrow(yield* mailbox.next("branch:r/a", { claim: true, consumer: "worker-1" }))
        expect(claimed).toMatchObject({ id: queued.id, state: "claimed", consumer: "worker-1" })
        expect(yield* mailbox.markDelivered(queued.id, "fifo")).toEqual(claimed)
        expect(yield* mailbox.next("branch:r/a", { claim: true })).toEqual(Option.none())

        yield* TestClock.adjust(10)
        const handled = yield* mailbox.ack(queued.id)
        expect(handled).toMatchObject({ state: "handled", consumer: "worker-1", updated_at: queued.updated_at + 30 })
        yield* TestClock.adjust(10)
        expect(yield* mailbox.ack(queued.id)).toEqual(handled)
        expect(yield* mailbox.markDelivered(queued.id, "fifo")).toEqual(handled)
        expect(yield* failure(mailbox.fail(queued.id, "late"))).toEqual({
          reason: "invalid",
          message: `inbox record ${queued.id} was already handled; it cannot fail`
        })
        expect(yield* mailbox.get(queued.id)).toEqual(Option.some(handled))
      })
    ))

  it.effect("delivered or claimed → failed keeps the first error; a failed record cannot be acked or delivered", () =>
    withMailbox(
      Effect.gen(function* () {
        const mailbox = yield* Mailbox
        const a = yield* enqueueTo("run:r")
        const b = yield* enqueueTo("run:r")
        yield* mailbox.markDelivered(a.id, "fifo")
        const failedA = yield* mailbox.fail(a.id, "boom")
        expect(failedA).toMatchObject({ state: "failed", error: "boom", consumer: "fifo" })
        expect(yield* mailbox.fail(a.id, "again")).toEqual(failedA)
        expect(yield* failure(mailbox.ack(a.id))).toEqual({ reason: "invalid", message: `inbox record ${a.id} failed; it cannot be acknowledged` })
        expect(yield* failure(mailbox.markDelivered(a.id, "fifo"))).toEqual({
          reason: "invalid",
          message: `inbox record ${a.id} failed; it cannot be marked delivered`
        })

        yield* mailbox.next("run:r", { claim: true })
        expect(yield* mailbox.fail(b.id, "bad input")).toMatchObject({ state: "failed", error: "bad input" })
      })
    ))

  it.effect("a pull reader may ack or fail a queued record it read without claiming", () =>
    withMailbox(
      Effect.gen(function* () {
        const mailbox = yield* Mailbox
        const a = yield* enqueueTo("run:r")
        const b = yield* enqueueTo("run:r")
        expect(Option.getOrThrow(yield* mailbox.next("run:r", {})).id).toBe(a.id)
        expect((yield* mailbox.ack(a.id)).state).toBe("handled")
        expect((yield* mailbox.fail(b.id, "nope")).state).toBe("failed")
      })
    ))

  it.effect("unknown ids are not_found; addresses are checked and canonicalized", () =>
    withMailbox(
      Effect.gen(function* () {
        const mailbox = yield* Mailbox
        const missing = "msg_0000000000000000000zz"
        for (const op of [mailbox.markDelivered(missing, "fifo"), mailbox.ack(missing), mailbox.fail(missing, "x")]) {
          expect(yield* failure(op)).toEqual({ reason: "not_found", message: `no inbox record ${missing}` })
        }
        expect(yield* mailbox.get(missing)).toEqual(Option.none())

        const env = yield* envelope("run:r")
        expect(yield* failure(mailbox.enqueue({ address: "review", runId: "r", envelope: env }))).toEqual({
          reason: "invalid",
          message: "Actor address must include kind: review"
        })
        expect(yield* failure(mailbox.enqueue({ address: "vm:abc", runId: "r", envelope: env }))).toEqual({
          reason: "invalid",
          message: "vm:abc is inspect only and has no inbox"
        })
        expect(yield* failure(mailbox.enqueue({ address: "run:r", runId: "", envelope: env }))).toEqual({ reason: "invalid", message: "inbox run id is required" })
        expect(yield* failure(mailbox.list("run:"))).toEqual({ reason: "invalid", message: "run address is required" })

        const stored = yield* mailbox.enqueue({ address: "  run:r  ", runId: "r", envelope: env })
        expect(stored.address).toBe("run:r")
      })
    ))
})

describe("Mailbox reading", () => {
  it.effect("next is FIFO by id over queued and delivered records; pending is the queued ones", () =>
    withMailbox(
      Effect.gen(function* () {
        const mailbox = yield* Mailbox
        const [a, b, c, d] = yield* Effect.forEach([1, 2, 3, 4], () => enqueueTo("run:r"))
        yield* enqueueTo("run:other")
        yield* mailbox.markDelivered(b!.id, "fifo")

        // Peeking does not move anything.
        expect(Option.getOrThrow(yield* mailbox.next("run:r")).id).toBe(a!.id)
        expect(Option.getOrThrow(yield* mailbox.next("run:r", {})).id).toBe(a!.id)
        expect(ids(yield* mailbox.pending("run:r"))).toEqual([a!.id, c!.id, d!.id])

        yield* mailbox.ack(a!.id)
        const claimed = Option.getOrThrow(yield* mailbox.next("run:r", { claim: true }))
        expect(claimed).toMatchObject({ id: b!.id, state: "claimed", consumer: "fifo" })
        expect(Option.getOrThrow(yield* mailbox.next("run:r", { claim: true })).id).toBe(c!.id)
        expect(ids(yield* mailbox.pending("run:r"))).toEqual([d!.id])
        expect(yield* mailbox.counts("run:r")).toEqual({ queued: 1, delivered: 0, claimed: 2, handled: 1, failed: 0 })
        expect(yield* mailbox.counts("run:nobody")).toEqual({ queued: 0, delivered: 0, claimed: 0, handled: 0, failed: 0 })
      })
    ))

  it.effect("list: oldest first, the newest `limit`, filtered by states", () =>
    withMailbox(
      Effect.gen(function* () {
        const mailbox = yield* Mailbox
        const all = yield* Effect.forEach(Array.from({ length: 50 }), () => enqueueTo("run:r"))
        for (const r of all.slice(0, 10)) yield* mailbox.ack(r.id)
        yield* mailbox.fail(all[10]!.id, "x")

        expect(ids(yield* mailbox.list("run:r"))).toEqual(ids(all.slice(10)))
        expect(ids(yield* mailbox.list("run:r", { limit: 3 }))).toEqual(ids(all.slice(47)))
        expect(ids(yield* mailbox.list("run:r", { states: ["handled"], limit: 4 }))).toEqual(ids(all.slice(6, 10)))
        expect(ids(yield* mailbox.list("run:r", { states: ["handled", "failed"] }))).toEqual(ids(all.slice(0, 11)))
        expect(yield* mailbox.list("run:r", { states: [] })).toEqual([])
        expect(yield* mailbox.list("run:r", { limit: 0 })).toEqual([])
      })
    ))

  it.effect("20 concurrent claimers over 100 records: each record is claimed exactly once", () =>
    withMailbox(
      Effect.gen(function* () {
        const mailbox = yield* Mailbox
        const stored = yield* Effect.forEach(Array.from({ length: 100 }), () => enqueueTo("branch:r/pool"))
        const claims = yield* Effect.forEach(
          Array.from({ length: 20 }, (_, i) => `claimer-${i}`),
          (consumer) =>
            Effect.gen(function* () {
              const mine: Array<InboxRecord> = []
              for (;;) {
                const next = yield* mailbox.next("branch:r/pool", { claim: true, consumer })
                if (Option.isNone(next)) return mine
                mine.push(next.value)
                yield* Effect.yieldNow()
              }
            }),
          { concurrency: "unbounded" }
        )
        const claimed = claims.flat()
        expect(claimed).toHaveLength(100)
        expect(new Set(ids(claimed)).size).toBe(100)
        expect(new Set(ids(claimed))).toEqual(new Set(ids(stored)))
        // Several claimers got work, and each record names the one that claimed it.
        expect(claims.filter((c) => c.length > 0).length).toBeGreaterThan(1)
        for (const [i, mine] of claims.entries()) for (const r of mine) expect(r.consumer).toBe(`claimer-${i}`)
        expect(yield* mailbox.counts("branch:r/pool")).toMatchObject({ queued: 0, claimed: 100 })
      })
    ))
})

describe("Mailbox next with waitMs", () => {
  it.effect("a waiting reader is woken by a later enqueue to its address (not by others)", () =>
    withMailbox(
      Effect.gen(function* () {
        const mailbox = yield* Mailbox
        const waiting = yield* Effect.fork(mailbox.next("branch:r/a", { claim: true, waitMs: 60_000, consumer: "w" }))
        yield* liveSleep(20)
        yield* enqueueTo("branch:r/b")
        yield* liveSleep(20)
        expect(yield* Fiber.poll(waiting)).toEqual(Option.none())

        const sent = yield* enqueueTo("branch:r/a")
        // No clock movement: the enqueue itself wakes the reader.
        const got = yield* Fiber.join(waiting)
        expect(Option.getOrThrow(got)).toMatchObject({ id: sent.id, state: "claimed", consumer: "w" })
      })
    ))

  it.effect("two waiting claimers and one enqueue: one gets it, the other keeps waiting until its deadline", () =>
    withMailbox(
      Effect.gen(function* () {
        const mailbox = yield* Mailbox
        const a = yield* Effect.fork(mailbox.next("run:r", { claim: true, waitMs: 1_000 }))
        const b = yield* Effect.fork(mailbox.next("run:r", { claim: true, waitMs: 1_000 }))
        yield* liveSleep(20)
        const sent = yield* enqueueTo("run:r")
        yield* liveSleep(20)
        yield* TestClock.adjust(1_000)
        const results = [yield* Fiber.join(a), yield* Fiber.join(b)]
        expect(results.filter(Option.isSome).map((r) => r.value.id)).toEqual([sent.id])
        expect(results.filter(Option.isNone)).toHaveLength(1)
      })
    ))

  it.effect("waitMs elapses on the Clock with nothing; the wait is interruptible", () =>
    withMailbox(
      Effect.gen(function* () {
        const mailbox = yield* Mailbox
        const waiting = yield* Effect.fork(mailbox.next("run:r", { waitMs: 500 }))
        yield* liveSleep(20)
        yield* TestClock.adjust(499)
        expect(yield* Fiber.poll(waiting)).toEqual(Option.none())
        yield* TestClock.adjust(1)
        expect(yield* Fiber.join(waiting)).toEqual(Option.none())

        const forever = yield* Effect.fork(mailbox.next("run:r", { waitMs: 3_600_000 }))
        yield* liveSleep(20)
        expect(Exit.isInterrupted(yield* Fiber.interrupt(forever))).toBe(true)
        // The interrupted reader left nothing behind: a later record is there for the next one.
        const sent = yield* enqueueTo("run:r")
        expect(Option.getOrThrow(yield* mailbox.next("run:r", { waitMs: 10 })).id).toBe(sent.id)
      })
    ))
})

describe("Mailbox retention and removal", () => {
  it("keeps 2,000 terminal records per address by default", () => expect(terminalRetention).toBe(2_000))

  it.effect("after each handled/failed transition at most `terminalRetention` terminal records stay, the oldest go", () =>
    withMailbox(
      Effect.gen(function* () {
        const mailbox = yield* Mailbox
        const rs = yield* Effect.forEach(Array.from({ length: 8 }), () => enqueueTo("run:r"))
        const other = yield* Effect.forEach(Array.from({ length: 4 }), () => enqueueTo("run:x", "x"))
        for (const r of other) yield* mailbox.ack(r.id)

        for (const r of rs.slice(0, 4)) yield* mailbox.ack(r.id)
        expect(ids(yield* mailbox.list("run:r", { states: ["handled", "failed"] }))).toEqual(ids(rs.slice(1, 4)))
        yield* mailbox.fail(rs[4]!.id, "x")
        expect(ids(yield* mailbox.list("run:r", { states: ["handled", "failed"] }))).toEqual(ids(rs.slice(2, 5)))
        // Non-terminal records are never deleted, whatever their age.
        yield* mailbox.markDelivered(rs[5]!.id, "fifo")
        yield* mailbox.next("run:r", { claim: true })
        // (the claim took the delivered record: the oldest open one)
        expect(yield* mailbox.counts("run:r")).toEqual({ queued: 2, delivered: 0, claimed: 1, handled: 2, failed: 1 })
        // Per address: the other inbox kept its own three.
        expect(yield* mailbox.counts("run:x")).toMatchObject({ handled: 3 })
        const gone = yield* mailbox.ack(rs[0]!.id).pipe(Effect.flip)
        expect(gone.reason).toBe("not_found")
      }),
      { terminalRetention: 3 }
    ))

  it.effect("removeRun deletes every record of that run and nothing else", () =>
    withMailbox(
      Effect.gen(function* () {
        const mailbox = yield* Mailbox
        yield* enqueueTo("run:r", "r")
        yield* enqueueTo("branch:r/a", "r")
        const kept = yield* enqueueTo("run:s", "s")
        expect(yield* mailbox.removeRun("r")).toBe(2)
        expect(yield* mailbox.list("run:r")).toEqual([])
        expect(yield* mailbox.list("branch:r/a")).toEqual([])
        expect(yield* mailbox.list("run:s")).toEqual([kept])
        expect(yield* mailbox.removeRun("r")).toBe(0)
      })
    ))
})

describe("Mailbox under load and across restarts", () => {
  it.live("50 concurrent senders × 200 enqueues into one inbox: 10,000 records, unique ids, per-sender order", () =>
    withMailbox(
      Effect.gen(function* () {
        const mailbox = yield* Mailbox
        // Envelopes are stamped first (stamping is the router's cost, not the inbox's), in the
        // interleaved order concurrent senders would stamp them.
        const stamped = (to: string) =>
          Effect.gen(function* () {
            const bySender: Array<Array<Envelope>> = Array.from({ length: 50 }, () => [])
            for (let n = 0; n < 200; n++) for (let s = 0; s < 50; s++) bySender[s]!.push(yield* envelope(to, { from: `branch:load/s${s}`, body: { n } }))
            return bySender
          })
        const run = (address: string, bySender: ReadonlyArray<ReadonlyArray<Envelope>>) =>
          Effect.forEach(
            bySender,
            (list) => Effect.forEach(list, (env) => mailbox.enqueue({ address, runId: "load", envelope: env }), { discard: true }),
            { concurrency: "unbounded", discard: true }
          )
        const rate = (ms: number) => Math.round(10_000 / (ms / 1000))
        // A first (cold) round into another inbox, then the measured one: a figure, not an assertion.
        const warm = yield* stamped("run:warm")
        let started = performance.now()
        yield* run("run:warm", warm)
        const cold = performance.now() - started
        const load = yield* stamped("run:load")
        started = performance.now()
        yield* run("run:load", load)
        const measured = performance.now() - started
        console.info(`mailbox: 50 senders × 200 enqueues: cold ${rate(cold)}/s, warm ${rate(measured)}/s (${measured.toFixed(0)} ms)`)

        const all = yield* mailbox.list("run:load", { limit: 20_000 })
        expect(all).toHaveLength(10_000)
        expect(new Set(ids(all)).size).toBe(10_000)
        const perSender = new Map<string, Array<number>>()
        for (const r of all) {
          const list = perSender.get(r.envelope.from) ?? []
          list.push((r.envelope.body as { n: number }).n)
          perSender.set(r.envelope.from, list)
        }
        expect(perSender.size).toBe(50)
        for (const ns of perSender.values()) expect(ns).toEqual(Array.from({ length: 200 }, (_, n) => n))
        expect(yield* mailbox.counts("run:load")).toMatchObject({ queued: 10_000 })
        expect(yield* mailbox.counts("run:warm")).toMatchObject({ queued: 10_000 })
      })
    ))

  it.effect("closing and reopening the store midway loses nothing; states and order persist", () =>
    Effect.gen(function* () {
      const file = freshDb()
      const first = yield* Effect.gen(function* () {
        const mailbox = yield* Mailbox
        const rs = yield* Effect.forEach(Array.from({ length: 5 }), () => enqueueTo("run:r"))
        yield* mailbox.markDelivered(rs[0]!.id, "fifo")
        yield* mailbox.ack(rs[1]!.id)
        return rs
      }).pipe(Effect.provide(onStore(file)))

      yield* TestClock.adjust(1_000)
      yield* Effect.gen(function* () {
        const mailbox = yield* Mailbox
        const more = yield* Effect.forEach(Array.from({ length: 5 }), () => enqueueTo("run:r"))
        // The same id again after the restart is still the stored record.
        expect(yield* mailbox.enqueue({ address: "run:r", runId: "r", envelope: first[2]!.envelope })).toEqual(first[2])
        const all = yield* mailbox.list("run:r")
        expect(ids(all)).toEqual(ids([...first, ...more]))
        expect(all.map((r) => r.state)).toEqual(["delivered", "handled", ...Array(8).fill("queued")])
        expect(Option.getOrThrow(yield* mailbox.next("run:r", { claim: true })).id).toBe(first[0]!.id)
      }).pipe(Effect.provide(onStore(file)))
    }).pipe(Effect.provide(MessageIds.Default)))
})
