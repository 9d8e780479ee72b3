/**
 * Rooms (SPEC-messaging §5): posts and the roster (join, leave, defaults, overrides, parent),
 * contacts, previews, status, the communication snapshot, compaction at a small cap recorded in
 * status, idempotent reposts, subscriptions that replay then follow without gaps or duplicates,
 * 50 × 200 concurrent posts, a store reopened midway, and removeRun. Real SQLite files in
 * temporary directories.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Chunk, Clock, Effect, Fiber, Layer, Option, Stream, TestClock } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Envelope, type EnvelopeBody } from "../../src/domain/Envelope.js"
import { MessageIds } from "../../src/services/MessageIds.js"
import type { TimelineEntry } from "../../src/domain/Room.js"
import type { ActorsError } from "../../src/domain/Run.js"
import { roomCap, Rooms, type RoomsOptions } from "../../src/services/Rooms.js"
import { Store } from "../../src/services/Store.js"
import { eventually } from "../support/runtime.js"

const dirs: Array<string> = []
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))

const freshDb = () => {
  const dir = mkdtempSync(join(tmpdir(), "troupe-rooms-"))
  dirs.push(dir)
  return join(dir, "troupe.db")
}

const onStore = (file: string, options: RoomsOptions = {}) => Rooms.layer(options).pipe(Layer.provideMerge(Store.sqlite(file)))

const withRooms = <A, E>(body: Effect.Effect<A, E, Rooms | MessageIds>, options: RoomsOptions = {}) =>
  body.pipe(Effect.provide(onStore(freshDb(), options)), Effect.provide(MessageIds.Default))

/** A stamped envelope to `room:r` (by default) at the Clock's time. */
const envelope = (from: string, type = "chat.message", fields: { body?: EnvelopeBody; summary?: string; to?: string } = {}) =>
  Effect.gen(function* () {
    const ids = yield* MessageIds
    const now = yield* Clock.currentTimeMillis
    const id = yield* ids.nextAt(now)
    return new Envelope({
      id,
      received_at: now,
      to: fields.to ?? "room:r",
      from,
      type,
      ...(fields.body === undefined ? {} : { body: fields.body }),
      ...(fields.summary === undefined ? {} : { summary: fields.summary })
    })
  })

const post = (from: string, type = "chat.message", fields: { body?: EnvelopeBody; summary?: string; parent?: string; room?: string } = {}) =>
  Effect.gen(function* () {
    const rooms = yield* Rooms
    const room = fields.room ?? "room:r"
    return yield* rooms.post({ room, envelope: yield* envelope(from, type, { ...fields, to: room }), ...(fields.parent === undefined ? {} : { parent: fields.parent }) })
  })

const failure = <A>(effect: Effect.Effect<A, ActorsError, Rooms>) => Effect.map(Effect.flip(effect), (e) => ({ reason: e.reason, message: e.message }))

const seqs = (entries: ReadonlyArray<TimelineEntry>) => entries.map((e) => e.seq)

describe("Rooms roster", () => {
  it.effect("posts upsert the sender: defaults, actor.join overrides, actor.leave keeps the member as left", () =>
    withRooms(
      Effect.gen(function* () {
        const rooms = yield* Rooms
        yield* TestClock.setTime(1_000)
        const first = yield* post("run:r", "actor.join", { body: { role: "run", status: "present" }, summary: "Run joined default room" })
        expect(first).toMatchObject({ seq: 1, room: "room:r", received_at: 1_000 })
        expect(first.id).toBe(first.envelope.id)

        yield* TestClock.adjust(10)
        yield* post("branch:r/a", "actor.join", {
          body: { role: "worker", caps: ["review", 3, "review", "", "lint"], claim: "src/", display: "A", glyph: "*", status: "busy", color: "red" },
          parent: "run:r"
        })
        yield* TestClock.adjust(10)
        yield* post("branch:r/b", "chat.message", { body: "hello" })
        yield* TestClock.adjust(10)
        yield* post("branch:r/a", "actor.leave")
        yield* TestClock.adjust(10)
        // A later ordinary post does not undo the leave; it does count as seen.
        yield* post("branch:r/a", "chat.message", { body: "bye" })

        const roster = yield* rooms.roster("room:r")
        expect(roster.map((m) => m.address)).toEqual(["run:r", "branch:r/a", "branch:r/b"])
        expect({ ...roster[0] }).toEqual({ address: "run:r", role: "run", caps: [], status: "present", joined_at: 1_000, last_seen: 1_000 })
        expect({ ...roster[1] }).toEqual({
          address: "branch:r/a",
          parent: "run:r",
          role: "worker",
          caps: ["review", "lint"],
          claim: "src/",
          display: "A",
          glyph: "*",
          status: "left",
          joined_at: 1_010,
          last_seen: 1_040
        })
        expect({ ...roster[2] }).toEqual({ address: "branch:r/b", role: "actor", caps: [], status: "present", joined_at: 1_020, last_seen: 1_020 })
        expect(Option.getOrThrow(yield* rooms.member("room:r/main", "branch:r/b")).role).toBe("actor")
        expect(yield* rooms.member("room:r", "branch:r/zz")).toEqual(Option.none())
        expect(yield* rooms.roster("room:empty")).toEqual([])
      })
    ))

  it.effect("a new actor.join after a leave makes the member present again and may clear fields", () =>
    withRooms(
      Effect.gen(function* () {
        const rooms = yield* Rooms
        yield* post("branch:r/a", "actor.join", { body: { role: "worker", claim: "task-1", caps: "review" } })
        yield* post("branch:r/a", "actor.leave")
        yield* post("branch:r/a", "actor.join", { body: { claim: null } })
        const [a] = yield* rooms.roster("room:r")
        expect({ ...a }).toMatchObject({ role: "worker", caps: ["review"], status: "present" })
        expect(a!.claim).toBeUndefined()
        // A non-object join body carries no fields: only the defaults / the current member.
        yield* post("branch:r/b", "actor.join", { body: "hi" })
        yield* post("branch:r/c", "actor.join", { body: ["role", "x"] })
        expect((yield* rooms.roster("room:r")).slice(1).map((m) => [m.address, m.role, m.status])).toEqual([
          ["branch:r/b", "actor", "present"],
          ["branch:r/c", "actor", "present"]
        ])
      })
    ))

  it.effect("contacts are the roster minus self, as {address, caps, claim, parent, role, status}", () =>
    withRooms(
      Effect.gen(function* () {
        const rooms = yield* Rooms
        yield* post("run:r", "actor.join", { body: { role: "run" } })
        yield* post("branch:r/a", "actor.join", { body: { role: "worker", caps: ["review"], claim: "src/", display: "A" }, parent: "run:r" })
        yield* post("coordinator", "chat.message")
        const contacts = yield* rooms.contacts("room:r", "branch:r/a")
        expect(contacts.map((c) => ({ ...c }))).toEqual([
          { address: "run:r", caps: [], role: "run", status: "present" },
          { address: "coordinator", caps: [], role: "actor", status: "present" }
        ])
        expect((yield* rooms.contacts("room:r", "run:r")).map((c) => ({ ...c }))).toEqual([
          { address: "branch:r/a", caps: ["review"], claim: "src/", parent: "run:r", role: "worker", status: "present" },
          { address: "coordinator", caps: [], role: "actor", status: "present" }
        ])
      })
    ))

  it.effect("touch (the two ends of a direct message): upserts both without a timeline entry, keeps role and status", () =>
    withRooms(
      Effect.gen(function* () {
        const rooms = yield* Rooms
        yield* TestClock.setTime(1_000)
        yield* post("run:r", "actor.join", { body: { role: "run" } })
        yield* post("branch:r/a", "actor.join", { body: { role: "worker", caps: ["review"] } })
        yield* TestClock.adjust(10)
        // b has never posted: the touch creates it; a is updated (last_seen) and keeps its role.
        yield* rooms.touch("room:r/main", ["branch:r/a", "branch:r/b"])
        const roster = yield* rooms.roster("room:r")
        expect(roster.map((m) => ({ ...m }))).toEqual([
          { address: "run:r", role: "run", caps: [], status: "present", joined_at: 1_000, last_seen: 1_000 },
          { address: "branch:r/a", role: "worker", caps: ["review"], status: "present", joined_at: 1_000, last_seen: 1_010 },
          { address: "branch:r/b", role: "actor", caps: [], status: "present", joined_at: 1_010, last_seen: 1_010 }
        ])
        expect((yield* rooms.status("room:r")).message_count).toBe(2)
        expect((yield* rooms.contacts("room:r", "branch:r/b")).map((c) => c.address)).toEqual(["run:r", "branch:r/a"])
        expect((yield* rooms.contacts("room:r", "branch:r/a")).map((c) => c.address)).toEqual(["run:r", "branch:r/b"])
        // A member that left stays left; the next post still finds the writer's roster current.
        yield* post("branch:r/b", "actor.leave")
        yield* TestClock.adjust(10)
        yield* rooms.touch("room:r", ["branch:r/b", "branch:r/a"])
        expect(Option.getOrThrow(yield* rooms.member("room:r", "branch:r/b"))).toMatchObject({ status: "left", last_seen: 1_020 })
        yield* TestClock.adjust(10)
        const entry = yield* post("branch:r/a", "chat.message")
        expect(entry.seq).toBe(4)
        expect(Option.getOrThrow(yield* rooms.member("room:r", "branch:r/a"))).toMatchObject({ role: "worker", last_seen: 1_030 })
        expect(yield* failure(rooms.touch("run:r", ["branch:r/a"]))).toEqual({ reason: "invalid", message: "run:r is not a room; rooms are room:<run>" })
        expect((yield* failure(rooms.touch("room:r", ["nope"]))).reason).toBe("invalid")
      })
    ))

  it.effect("touches and posts batched together; the touched roster survives a store reopen", () =>
    Effect.gen(function* () {
      const file = freshDb()
      yield* TestClock.setTime(5_000)
      yield* Effect.gen(function* () {
        const rooms = yield* Rooms
        yield* Effect.all([post("branch:r/a", "chat.message"), rooms.touch("room:r", ["branch:r/a", "branch:r/c"]), post("branch:r/c", "actor.leave")], {
          concurrency: "unbounded"
        })
      }).pipe(Effect.provide(onStore(file)))
      yield* TestClock.adjust(100)
      yield* Effect.gen(function* () {
        const rooms = yield* Rooms
        // Same millisecond: in whichever order the three were queued, c ends up left.
        expect((yield* rooms.roster("room:r")).map((m) => [m.address, m.status, m.last_seen]).sort()).toEqual([
          ["branch:r/a", "present", 5_000],
          ["branch:r/c", "left", 5_000]
        ])
        yield* rooms.touch("room:r", ["branch:r/c", "branch:r/d"])
        expect((yield* rooms.roster("room:r")).map((m) => [m.address, m.status, m.last_seen]).sort()).toEqual([
          ["branch:r/a", "present", 5_000],
          ["branch:r/c", "left", 5_100],
          ["branch:r/d", "present", 5_100]
        ])
      }).pipe(Effect.provide(onStore(file)))
    }).pipe(Effect.provide(MessageIds.Default)))

  it.effect("the communication snapshot assembles rooms, members and contacts (ISO times)", () =>
    withRooms(
      Effect.gen(function* () {
        const rooms = yield* Rooms
        yield* TestClock.setTime(Date.UTC(2025, 0, 2, 3, 4, 5))
        yield* post("run:r", "actor.join", { body: { role: "run" } })
        yield* post("branch:r/a", "actor.join", { body: { role: "worker", glyph: "◆" }, parent: "run:r" })
        yield* TestClock.adjust(1_000)
        const snap = yield* rooms.snapshot({ self: "branch:r/a", root: "run:r", parent: "run:r", rooms: ["room:r", "room:r/main"] })
        expect(snap.self).toBe("branch:r/a")
        expect(snap.root).toBe("run:r")
        expect(snap.parent).toBe("run:r")
        expect(snap.updated_at).toBe("2025-01-02T03:04:06.000Z")
        expect(snap.rooms).toHaveLength(1)
        expect(snap.rooms[0]!.address).toBe("room:r")
        expect(snap.rooms[0]!.name).toBe("main")
        expect(snap.rooms[0]!.members.map((m) => ({ ...m }))).toEqual([
          { address: "run:r", role: "run", caps: [], status: "present", joined_at: "2025-01-02T03:04:05.000Z", last_seen: "2025-01-02T03:04:05.000Z" },
          {
            address: "branch:r/a",
            parent: "run:r",
            role: "worker",
            caps: [],
            glyph: "◆",
            status: "present",
            joined_at: "2025-01-02T03:04:05.000Z",
            last_seen: "2025-01-02T03:04:05.000Z"
          }
        ])
        expect(snap.contacts.map((c) => c.address)).toEqual(["run:r"])

        const root = yield* rooms.snapshot({ self: "run:r", root: "run:r", rooms: ["room:r"] })
        expect(root.parent).toBeUndefined()
        expect(root.contacts.map((c) => ({ ...c }))).toEqual([{ address: "branch:r/a", caps: [], parent: "run:r", role: "worker", status: "present" }])
        const lonely = yield* rooms.snapshot({ self: "run:q", root: "run:q", rooms: ["room:q"] })
        expect(lonely.rooms[0]!.members).toEqual([])
        expect(lonely.contacts).toEqual([])
      })
    ))
})

describe("Rooms timeline views", () => {
  it.effect("previews: ISO timestamp, summary, body collapsed and cut to 120 characters with …", () =>
    withRooms(
      Effect.gen(function* () {
        const rooms = yield* Rooms
        yield* TestClock.setTime(Date.UTC(2025, 5, 1))
        const long = { text: "x".repeat(200), nested: { a: [1, 2, 3] } }
        yield* post("branch:r/a", "task.result", { body: long, summary: "Result" })
        yield* post("branch:r/a", "chat.message", { body: "  several\n\n  lines\tand   spaces  " })
        yield* post("branch:r/a", "chat.message", { body: "y".repeat(120) })
        yield* post("branch:r/a", "chat.message", { body: "   " })
        yield* post("branch:r/a", "control.ping")

        const previews = yield* rooms.previews("room:r", 10)
        expect(previews.map((p) => ({ ...p }))).toEqual([
          {
            timestamp: "2025-06-01T00:00:00.000Z",
            from: "branch:r/a",
            to: "room:r",
            type: "task.result",
            summary: "Result",
            body_preview: `${JSON.stringify(long).slice(0, 119)}…`
          },
          { timestamp: "2025-06-01T00:00:00.000Z", from: "branch:r/a", to: "room:r", type: "chat.message", body_preview: "several lines and spaces" },
          { timestamp: "2025-06-01T00:00:00.000Z", from: "branch:r/a", to: "room:r", type: "chat.message", body_preview: "y".repeat(120) },
          { timestamp: "2025-06-01T00:00:00.000Z", from: "branch:r/a", to: "room:r", type: "chat.message" },
          { timestamp: "2025-06-01T00:00:00.000Z", from: "branch:r/a", to: "room:r", type: "control.ping" }
        ])
        expect([...previews[0]!.body_preview!]).toHaveLength(120)
        expect((yield* rooms.previews("room:r", 2)).map((p) => p.type)).toEqual(["chat.message", "control.ping"])
      })
    ))

  it.effect("timeline: the newest 40 by default, a forward page after a cursor, oldest first", () =>
    withRooms(
      Effect.gen(function* () {
        const rooms = yield* Rooms
        for (let i = 0; i < 50; i++) yield* post(`branch:r/s${i % 3}`, "chat.message", { body: { i } })
        expect(seqs(yield* rooms.timeline("room:r"))).toEqual(Array.from({ length: 40 }, (_, i) => i + 11))
        expect(seqs(yield* rooms.timeline("room:r", { limit: 3 }))).toEqual([48, 49, 50])
        expect(seqs(yield* rooms.timeline("room:r", { afterSeq: 5, limit: 3 }))).toEqual([6, 7, 8])
        expect(seqs(yield* rooms.timeline("room:r", { afterSeq: 48 }))).toEqual([49, 50])
        expect(yield* rooms.timeline("room:r", { afterSeq: 50 })).toEqual([])
        expect(yield* rooms.timeline("room:other")).toEqual([])
      })
    ))

  it.effect("status: zero for an empty room; counts and the last message (ISO) after posts", () =>
    withRooms(
      Effect.gen(function* () {
        const rooms = yield* Rooms
        expect({ ...(yield* rooms.status("room:r")) }).toEqual({ room: "room:r", message_count: 0, roster_count: 0 })
        yield* TestClock.setTime(Date.UTC(2025, 0, 1))
        yield* post("run:r", "actor.join", { body: { role: "run" }, summary: "Run joined default room" })
        yield* TestClock.adjust(2_500)
        yield* post("branch:r/a", "chat.message", { body: "hi" })
        expect({ ...(yield* rooms.status("room:r/main")) }).toEqual({
          room: "room:r",
          message_count: 2,
          roster_count: 2,
          last_message_at: "2025-01-01T00:00:02.500Z",
          last_message_from: "branch:r/a",
          last_message_type: "chat.message"
        })
        yield* post("branch:r/a", "task.result", { summary: "Done" })
        expect((yield* rooms.status("room:r")).last_message_summary).toBe("Done")
      })
    ))

  it.effect("over the cap the oldest entries are compacted; the compaction is recorded in status", () =>
    withRooms(
      Effect.gen(function* () {
        const rooms = yield* Rooms
        yield* TestClock.setTime(Date.UTC(2025, 0, 1))
        for (let i = 0; i < 5; i++) yield* post("branch:r/a", "chat.message", { body: { i } })
        expect((yield* rooms.status("room:r")).compaction).toBeUndefined()
        for (let i = 5; i < 12; i++) {
          yield* TestClock.adjust(1_000)
          yield* post("branch:r/a", "chat.message", { body: { i } })
        }
        expect(seqs(yield* rooms.timeline("room:r", { limit: 100 }))).toEqual([8, 9, 10, 11, 12])
        const status = yield* rooms.status("room:r")
        expect(status.message_count).toBe(5)
        expect({ ...status.compaction }).toEqual({ removed: 7, last_at: "2025-01-01T00:00:07.000Z", before_seq: 8 })
        // The roster is not compacted.
        expect(yield* rooms.roster("room:r")).toHaveLength(1)
      }),
      { roomCap: 5 }
    ))

  it("keeps 10,000 entries per room by default", () => expect(roomCap).toBe(10_000))

  it.effect("posting the same envelope id again returns its entry and changes nothing", () =>
    withRooms(
      Effect.gen(function* () {
        const rooms = yield* Rooms
        const env = yield* envelope("branch:r/a", "chat.message", { to: "room:r", body: "once" })
        yield* TestClock.adjust(100)
        const entry = yield* rooms.post({ room: "room:r", envelope: env })
        yield* post("branch:r/b")
        yield* TestClock.adjust(100)
        expect(yield* rooms.post({ room: "room:r", envelope: env })).toEqual(entry)
        expect(Option.getOrThrow(yield* rooms.member("room:r", "branch:r/a")).last_seen).toBe(100)
        // Twice in one batch: one entry.
        const env2 = yield* envelope("branch:r/a", "chat.message", { to: "room:r", body: "twice" })
        const [x, y] = yield* Effect.all([rooms.post({ room: "room:r", envelope: env2 }), rooms.post({ room: "room:r", envelope: env2 })], { concurrency: 2 })
        expect(x).toEqual(y)
        expect(seqs(yield* rooms.timeline("room:r"))).toEqual([1, 2, 3])
      })
    ))

  it.effect("room addresses are checked and canonicalized", () =>
    withRooms(
      Effect.gen(function* () {
        const rooms = yield* Rooms
        const env = yield* envelope("run:r")
        expect(yield* failure(rooms.post({ room: "run:r", envelope: env }))).toEqual({ reason: "invalid", message: "run:r is not a room; rooms are room:<run>" })
        expect(yield* failure(rooms.post({ room: "room:r/side", envelope: env }))).toEqual({
          reason: "invalid",
          message: "Rooms do not support named subrooms; use room:r."
        })
        expect(yield* failure(rooms.post({ room: "room:r", envelope: env, parent: "nope" }))).toEqual({
          reason: "invalid",
          message: "Actor address must include kind: nope"
        })
        expect(yield* failure(rooms.status("room:"))).toEqual({ reason: "invalid", message: "run address is required" })
        expect((yield* rooms.post({ room: " room:r/main ", envelope: env })).room).toBe("room:r")
      })
    ))
})

describe("Rooms subscriptions", () => {
  it.effect("replays from the cursor, then follows live posts without gaps or duplicates", () =>
    withRooms(
      Effect.gen(function* () {
        const rooms = yield* Rooms
        for (let i = 0; i < 5; i++) yield* post("branch:r/a", "chat.message", { body: { i } })
        yield* post("branch:r/x", "chat.message", { room: "room:other" })

        const seen: Array<TimelineEntry> = []
        const tail = yield* Effect.fork(
          rooms.subscribe("room:r", 2).pipe(
            Stream.tap((e) => Effect.sync(() => void seen.push(e))),
            Stream.take(3 + 400),
            Stream.runCollect
          )
        )
        // Posts race the replay: 20 concurrent senders while the subscriber starts.
        yield* Effect.forEach(
          Array.from({ length: 20 }, (_, s) => s),
          (s) => Effect.forEach(Array.from({ length: 20 }), () => post(`branch:r/s${s}`), { discard: true }),
          { concurrency: "unbounded", discard: true }
        )
        const got = Chunk.toReadonlyArray(yield* Fiber.join(tail))
        expect(seqs(got)).toEqual(Array.from({ length: 403 }, (_, i) => i + 3))
        expect(new Set(got.map((e) => e.id)).size).toBe(403)
        expect(got.every((e) => e.room === "room:r")).toBe(true)
      })
    ))

  it.effect("a subscriber from the start sees the replay, then waits for and gets the next post", () =>
    withRooms(
      Effect.gen(function* () {
        const rooms = yield* Rooms
        yield* post("run:r", "actor.join")
        const seen: Array<number> = []
        const tail = yield* Effect.fork(
          rooms.subscribe("room:r").pipe(
            Stream.tap((e) => Effect.sync(() => void seen.push(e.seq))),
            Stream.take(3),
            Stream.runDrain
          )
        )
        yield* eventually("the replay", Effect.sync(() => seen.length === 1))
        yield* post("branch:r/a")
        yield* eventually("the first live post", Effect.sync(() => seen.length === 2))
        yield* post("branch:r/a")
        yield* Fiber.join(tail)
        expect(seen).toEqual([1, 2, 3])
      })
    ))
})

describe("Rooms under load, across restarts, removal", () => {
  it.live("50 concurrent senders × 200 posts into one room: 10,000 entries, unique ids, per-sender order in seq", () =>
    withRooms(
      Effect.gen(function* () {
        const rooms = yield* Rooms
        // Envelopes are stamped first (stamping is the router's cost, not the room's), in the
        // interleaved order concurrent senders would stamp them.
        const stamped = (room: string) =>
          Effect.gen(function* () {
            const bySender: Array<Array<Envelope>> = Array.from({ length: 50 }, () => [])
            for (let n = 0; n < 200; n++) for (let s = 0; s < 50; s++) bySender[s]!.push(yield* envelope(`branch:load/s${s}`, "chat.message", { to: room, body: { n } }))
            return bySender
          })
        const run = (room: string, bySender: ReadonlyArray<ReadonlyArray<Envelope>>) =>
          Effect.forEach(bySender, (list) => Effect.forEach(list, (env) => rooms.post({ room, envelope: env }), { discard: true }), {
            concurrency: "unbounded",
            discard: true
          })
        const rate = (ms: number) => Math.round(10_000 / (ms / 1000))
        // A first (cold) round into another room, then the measured one: a figure, not an assertion.
        const warm = yield* stamped("room:warm")
        let started = performance.now()
        yield* run("room:warm", warm)
        const cold = performance.now() - started
        const load = yield* stamped("room:load")
        started = performance.now()
        yield* run("room:load", load)
        const measured = performance.now() - started
        console.info(`rooms: 50 senders × 200 posts: cold ${rate(cold)}/s, warm ${rate(measured)}/s (${measured.toFixed(0)} ms)`)

        const all = yield* rooms.timeline("room:load", { afterSeq: 0, limit: 20_000 })
        expect(seqs(all)).toEqual(Array.from({ length: 10_000 }, (_, i) => i + 1))
        expect(new Set(all.map((e) => e.id)).size).toBe(10_000)
        const perSender = new Map<string, Array<number>>()
        for (const e of all) {
          const list = perSender.get(e.envelope.from) ?? []
          list.push((e.envelope.body as { n: number }).n)
          perSender.set(e.envelope.from, list)
        }
        expect(perSender.size).toBe(50)
        for (const ns of perSender.values()) expect(ns).toEqual(Array.from({ length: 200 }, (_, n) => n))
        const status = yield* rooms.status("room:load")
        expect(status.message_count).toBe(10_000)
        expect(status.roster_count).toBe(50)
        expect(status.compaction).toBeUndefined()
      })
    ))

  it.effect("closing and reopening the store midway loses nothing; seq, roster and compaction continue", () =>
    Effect.gen(function* () {
      const file = freshDb()
      yield* TestClock.setTime(Date.UTC(2025, 0, 1))
      const phase = (from: number, to: number) =>
        Effect.gen(function* () {
          for (let i = from; i < to; i++) yield* post(`branch:r/s${i % 4}`, i === 0 ? "actor.join" : "chat.message", { body: { i } })
        })
      yield* phase(0, 30).pipe(Effect.provide(onStore(file, { roomCap: 25 })))
      yield* TestClock.adjust(60_000)
      yield* Effect.gen(function* () {
        const rooms = yield* Rooms
        const before = yield* rooms.status("room:r")
        expect(before.compaction).toMatchObject({ removed: 5, before_seq: 6 })
        yield* phase(30, 60)
        const all = yield* rooms.timeline("room:r", { limit: 100 })
        expect(seqs(all)).toEqual(Array.from({ length: 25 }, (_, i) => i + 36))
        expect(all.map((e) => (e.envelope.body as { i: number }).i)).toEqual(Array.from({ length: 25 }, (_, i) => i + 35))
        const after = yield* rooms.status("room:r")
        expect(after.compaction).toMatchObject({ removed: 35, before_seq: 36, last_at: "2025-01-01T00:01:00.000Z" })
        const roster = yield* rooms.roster("room:r")
        expect(roster.map((m) => m.address)).toEqual(["branch:r/s0", "branch:r/s1", "branch:r/s2", "branch:r/s3"])
        expect(roster[0]!.joined_at).toBe(Date.UTC(2025, 0, 1))
        expect(roster[0]!.last_seen).toBe(Date.UTC(2025, 0, 1) + 60_000)
      }).pipe(Effect.provide(onStore(file, { roomCap: 25 })))
    }).pipe(Effect.provide(MessageIds.Default)))

  it.effect("removeRun deletes the run's room (timeline, roster, compaction); a later post starts at seq 1", () =>
    withRooms(
      Effect.gen(function* () {
        const rooms = yield* Rooms
        for (let i = 0; i < 4; i++) yield* post("branch:r/a")
        yield* post("branch:s/a", "chat.message", { room: "room:s" })
        expect(yield* rooms.removeRun("r")).toBe(3)
        expect({ ...(yield* rooms.status("room:r")) }).toEqual({ room: "room:r", message_count: 0, roster_count: 0 })
        expect(yield* rooms.roster("room:r")).toEqual([])
        expect((yield* rooms.post({ room: "room:r", envelope: yield* envelope("branch:r/b") })).seq).toBe(1)
        expect((yield* rooms.roster("room:r")).map((m) => m.address)).toEqual(["branch:r/b"])
        expect((yield* rooms.status("room:s")).message_count).toBe(1)
      }),
      { roomCap: 3 }
    ))
})
