/**
 * `Rooms`: each run's room `room:<run>` (SPEC-messaging §5) — an append-only timeline plus a
 * roster, in the store's `rooms`, `room_entries` and `room_members` tables, with live
 * subscriptions. Not a broker and not a chat app: the run-local coordination surface through
 * which actors that are not parent and child find each other. Who may post is the Router's
 * decision; this service keeps what was posted.
 *
 * Corresponds to pi-actors 0.17's `rooms/main/messages.jsonl` + `roster.json` (appended under a
 * directory lock, compacted to 10,000 lines); here posts are rows with a per-room sequence
 * number, concurrent posts are written in one transaction per batch (group commit), and
 * subscribers replay from a cursor then follow.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Chunk, Clock, Effect, Layer, Option, PubSub, Stream } from "effect"
import type { Envelope } from "../domain/Envelope.js"
import {
  applyPost,
  communicationSnapshot,
  contactsOf,
  previewOf,
  type RosterMember,
  roomStatus,
  TimelineEntry,
  touchMember
} from "../domain/Room.js"
import { storeFault } from "../domain/PersistenceError.js"
import { ActorsError } from "../domain/Run.js"
import { groupCommit } from "./internal/GroupCommit.js"
import { anyAddress, anyAddressMemo, roomAddress, roomAddressMemo } from "./internal/RoomChecks.js"
import { type EntryRow, type MemberRow, memberRow, type RoomRow, toEntries, toMember, toMembers, unreadable } from "./internal/RoomRows.js"

/** Entries a room keeps; older ones are compacted away (pi-actors: 10,000). */
export const roomCap = 10_000

/** Default number of entries `timeline` and `previews` return. */
export const defaultTimelineLimit = 40

/** Largest number of posts one group-commit transaction takes. */
const maxBatch = 500

/** Rooms whose state the writer keeps in memory. */
const cachedRooms = 256

/** Bound of one replay page read from the store by `subscribe`. */
const replayPage = 500

const clampLimit = (limit: number | undefined) => Math.max(0, Math.floor(limit ?? defaultTimelineLimit))

// ---------------------------------------------------------------------------------------------
// Service

/** A post: the envelope goes to the timeline of `room`; `parent` is recorded on the sender's roster entry. */
export interface PostInput {
  readonly room: string
  readonly envelope: Envelope
  readonly parent?: string | undefined
}

/**
 * What the room writer takes: a post (a timeline entry and its sender's roster entry) or a
 * touch (roster entries only: the two ends of a direct message).
 */
type RoomWrite =
  | { readonly _tag: "post"; readonly room: string; readonly envelope: Envelope; readonly parent?: string | undefined }
  | { readonly _tag: "touch"; readonly room: string; readonly addresses: ReadonlyArray<string> }

/** Options of `makeRooms` (tests inject a small cap). */
export interface RoomsOptions {
  /** Entries kept per room (default {@link roomCap}). */
  readonly roomCap?: number | undefined
}

/**
 * Builds the rooms service over the store's `SqlClient` (the `3_messages` migration must have
 * run: provide it with `Store.sqlite(file)`). Scoped: it owns the writer fiber and the hub of
 * live subscribers.
 */
export const makeRooms = (options: RoomsOptions = {}) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const cap = Math.max(1, Math.floor(options.roomCap ?? roomCap))
    const hub = yield* Effect.acquireRelease(PubSub.unbounded<TimelineEntry>(), PubSub.shutdown)

    // -- post (group commit) --------------------------------------------------------------------

    /**
     * What the writer knows of a room, so a batch needs no reads: the last seq, the largest
     * envelope id (a batch of larger ids cannot repeat one), the compaction record and the
     * roster with each member's first seq (roster order). Loaded from the store on first use
     * and changed only under `writeLock` (by a batch, or dropped by `removeRun`); a batch that
     * fails drops the rooms it touched, so the next one reads the store again.
     */
    interface RoomState {
      lastSeq: number
      maxId: string
      removed: number
      beforeSeq: number | null
      readonly members: Map<string, { readonly member: RosterMember; readonly joinedSeq: number }>
    }
    const cache = new Map<string, RoomState>()
    const writeLock = yield* Effect.makeSemaphore(1)

    const loadRoom = (room: string) =>
      Effect.gen(function* () {
        const cached = cache.get(room)
        if (cached !== undefined) return cached
        const [meta] = yield* sql<RoomRow>`SELECT * FROM rooms WHERE room = ${room}`
        const [top] = yield* sql<{ seq: number | null; id: string | null }>`
          SELECT (SELECT MAX(seq) FROM room_entries WHERE room = ${room}) AS seq, (SELECT MAX(id) FROM room_entries WHERE room = ${room}) AS id`
        const rows = yield* sql<MemberRow>`SELECT * FROM room_members WHERE room = ${room}`
        const members = new Map<string, { member: RosterMember; joinedSeq: number }>()
        for (const r of rows) members.set(r.address, { member: yield* Effect.try({ try: () => toMember(r), catch: unreadable("roster member") }), joinedSeq: r.joined_seq })
        const state: RoomState = {
          lastSeq: top?.seq ?? 0,
          maxId: top?.id ?? "",
          removed: meta?.removed ?? 0,
          beforeSeq: meta?.before_seq ?? null,
          members
        }
        // Bounded: the least recently loaded room makes way (it is reloaded when posted to).
        if (cache.size >= cachedRooms) cache.delete(cache.keys().next().value!)
        cache.set(room, state)
        return state
      })

    /** Appends one room's posts and touches of a batch (in order) inside the batch transaction. */
    const appendRoom = (
      room: string,
      posts: ReadonlyArray<{ readonly index: number; readonly input: RoomWrite }>,
      now: number,
      out: Array<TimelineEntry | undefined>,
      fresh: Array<TimelineEntry>
    ) =>
      Effect.gen(function* () {
        const state = yield* loadRoom(room)
        // Posting an id again returns its entry (a retry), without a second entry or roster
        // change. Only ids not above every stored one need looking up.
        const known = new Map<string, TimelineEntry>()
        const older = [...new Set(posts.flatMap((p) => (p.input._tag === "post" && p.input.envelope.id <= state.maxId ? [p.input.envelope.id] : [])))]
        if (older.length > 0) {
          const stored = yield* sql<EntryRow>`SELECT room, seq, id, envelope, received_at FROM room_entries WHERE room = ${room} AND ${sql.in("id", older)}`
          for (const e of yield* toEntries(stored)) known.set(e.id, e)
        }
        let seq = state.lastSeq
        let maxId = state.maxId
        const rows: Array<{ room: string; seq: number; id: string; envelope: string; received_at: number }> = []
        const changed = new Set<string>()
        for (const { index, input } of posts) {
          if (input._tag === "touch") {
            for (const address of input.addresses) {
              const current = state.members.get(address)
              const member = touchMember(current?.member, address, now)
              if (member === current?.member) continue
              state.members.set(address, { member, joinedSeq: current?.joinedSeq ?? seq })
              changed.add(address)
            }
            continue
          }
          const envelope = input.envelope
          const again = known.get(envelope.id)
          if (again !== undefined) {
            out[index] = again
            continue
          }
          seq++
          if (envelope.id > maxId) maxId = envelope.id
          const entry = new TimelineEntry({ seq, id: envelope.id, room, envelope, received_at: now }, true)
          rows.push({ room, seq, id: envelope.id, envelope: JSON.stringify(envelope), received_at: now })
          known.set(entry.id, entry)
          fresh.push(entry)
          out[index] = entry
          const current = state.members.get(envelope.from)
          state.members.set(envelope.from, {
            member: applyPost(current?.member, { envelope, at: now, parent: input.parent }),
            joinedSeq: current?.joinedSeq ?? seq
          })
          changed.add(envelope.from)
        }
        if (changed.size > 0) {
          yield* sql`INSERT OR REPLACE INTO room_members ${sql.insert([...changed].map((a) => {
            const m = state.members.get(a)!
            return memberRow(room, m.member, m.joinedSeq)
          }))}`
        }
        if (rows.length === 0) return
        state.lastSeq = seq
        state.maxId = maxId
        yield* sql`INSERT INTO room_entries ${sql.insert(rows)}`
        // Compaction: keep the newest `cap` entries (seq > last seq - cap).
        const keepFrom = seq - cap + 1
        if (keepFrom > (state.beforeSeq ?? 1)) {
          const gone = yield* sql<{ seq: number }>`DELETE FROM room_entries WHERE room = ${room} AND seq < ${keepFrom} RETURNING seq`
          state.removed += gone.length
          state.beforeSeq = keepFrom
          yield* sql`INSERT INTO rooms ${sql.insert({ room, removed: state.removed, before_seq: keepFrom, compacted_at: now })}
            ON CONFLICT (room) DO UPDATE SET removed = excluded.removed, before_seq = excluded.before_seq, compacted_at = excluded.compacted_at`
        }
      })

    const writePosts = (batch: ReadonlyArray<RoomWrite>) =>
      Effect.gen(function* () {
        // One receive time per batch: times never decrease along seq.
        const now = yield* Clock.currentTimeMillis
        const byRoom = new Map<string, Array<{ index: number; input: RoomWrite }>>()
        batch.forEach((input, index) => {
          const posts = byRoom.get(input.room) ?? []
          posts.push({ index, input })
          byRoom.set(input.room, posts)
        })
        const out = new Array<TimelineEntry | undefined>(batch.length)
        const fresh: Array<TimelineEntry> = []
        yield* writeLock.withPermits(1)(
          sql.withTransaction(Effect.forEach(byRoom, ([room, posts]) => appendRoom(room, posts, now, out, fresh), { discard: true })).pipe(
            // The cached state may be ahead of what was rolled back: read it again next time.
            Effect.onError(() => Effect.sync(() => byRoom.forEach((_, room) => cache.delete(room))))
          )
        ).pipe(Effect.catchTag("SqlError", (e) => Effect.fail(storeFault("Rooms.post")(e))))
        // Published after the commit, in seq order (one writer): subscribers dedupe by seq.
        if (fresh.length > 0) yield* PubSub.publishAll(hub, fresh)
        return out
      })

    const postWrite = yield* groupCommit(writePosts, { max: maxBatch, name: "Rooms.post" })

    /**
     * Appends `envelope` to the timeline of `room` (`room:<run>`; `room:<run>/main` accepted)
     * and updates the sender's roster entry (see `applyPost` in src/domain/Room.ts: default
     * role `actor`, status `present`; `actor.join` body fields override; `actor.leave` →
     * `left`; `last_seen` on every post; `parent` when given). Past the room's cap the oldest
     * entries are compacted away and the compaction recorded. Posting an envelope id that is
     * already in the room's timeline returns that entry and changes nothing (idempotent
     * retries). Concurrent posts are committed in batches; each post completes when its batch
     * is committed, then live subscribers get it.
     * @fails ActorsError `invalid` (not a room address, bad `parent`), `persistence`.
     */
    // Untraced: one call per message, on the room-throughput path (a span and a call-site
    // stack per post cost more than the post's share of its batch).
    const post = Effect.fnUntraced(function* (input: PostInput) {
      const room = yield* roomAddress(input.room)
      const parent = input.parent === undefined ? undefined : yield* anyAddress(input.parent)
      return (yield* postWrite({ _tag: "post", room, envelope: input.envelope, parent }))!
    })

    /**
     * Records a direct message between `addresses` (its `from` and `to`, e.g. two branches of
     * the run) in the roster of `room`, without a timeline entry (SPEC-messaging §3: branch
     * messages create/update the roster entries of both ends, so each is the other's contact).
     * A new member gets role `actor`, status `present` and `joined_at` = now; every member's
     * `last_seen` becomes now; role, status (also `left`), caps and claim are kept (see
     * `touchMember` in src/domain/Room.ts). Goes through the same writer as posts (batched with
     * them, so the writer's in-memory roster stays the truth) and completes when committed.
     * @fails ActorsError `invalid` (addresses), `unavailable` (closing), `persistence`.
     */
    // Untraced: one call per direct message (hot path, like `post`).
    const touch = Effect.fnUntraced(function* (room: string, addresses: ReadonlyArray<string>) {
      const canonical = yield* roomAddressMemo(room)
      const members: Array<string> = []
      for (const a of addresses) members.push(yield* anyAddressMemo(a))
      yield* postWrite({ _tag: "touch", room: canonical, addresses: [...new Set(members)] })
    })

    // -- reading ----------------------------------------------------------------------------------

    const entriesAfter = (room: string, afterSeq: number, limit: number) =>
      Effect.flatMap(
        sql<EntryRow>`SELECT room, seq, id, envelope, received_at FROM room_entries WHERE room = ${room} AND seq > ${afterSeq} ORDER BY seq LIMIT ${limit}`.pipe(
          Effect.mapError(storeFault("Rooms.timeline"))
        ),
        toEntries
      )

    const newest = (room: string, limit: number) =>
      Effect.flatMap(
        sql<EntryRow>`SELECT * FROM (
            SELECT room, seq, id, envelope, received_at FROM room_entries WHERE room = ${room} ORDER BY seq DESC LIMIT ${limit}
          ) ORDER BY seq`.pipe(Effect.mapError(storeFault("Rooms.timeline"))),
        toEntries
      )

    /**
     * Timeline entries of `room`, oldest first: with `afterSeq`, the first `limit` entries with
     * a greater seq (paging forward); without, the newest `limit`. `limit` defaults to 40.
     * @fails ActorsError `invalid` (not a room address), `persistence`.
     */
    const timeline = Effect.fn("Rooms.timeline")(function* (
      room: string,
      options: { readonly afterSeq?: number | undefined; readonly limit?: number | undefined } = {}
    ) {
      const canonical = yield* roomAddress(room)
      const limit = clampLimit(options.limit)
      return options.afterSeq === undefined ? yield* newest(canonical, limit) : yield* entriesAfter(canonical, options.afterSeq, limit)
    })

    const rosterOf = (room: string) =>
      Effect.flatMap(
        sql<MemberRow>`SELECT * FROM room_members WHERE room = ${room} ORDER BY joined_at, joined_seq`.pipe(Effect.mapError(storeFault("Rooms.roster"))),
        toMembers
      )

    /**
     * The roster of `room`, in the order members joined (left members included).
     * @fails ActorsError `invalid` (not a room address), `persistence`.
     */
    const roster = Effect.fn("Rooms.roster")(function* (room: string) {
      return yield* rosterOf(yield* roomAddress(room))
    })

    /**
     * One roster member of `room`, if `address` ever posted there.
     * @fails ActorsError `invalid` (addresses), `persistence`.
     */
    const member = Effect.fn("Rooms.member")(function* (room: string, address: string) {
      const canonical = yield* roomAddress(room)
      const who = yield* anyAddress(address)
      const rows = yield* sql<MemberRow>`SELECT * FROM room_members WHERE room = ${canonical} AND address = ${who}`.pipe(Effect.mapError(storeFault("Rooms.member")))
      const [m] = yield* toMembers(rows)
      return Option.fromNullable(m)
    })

    /**
     * The roster of `room` minus `self`: `{address, caps, claim, parent, role, status}` each.
     * @fails ActorsError `invalid` (addresses), `persistence`.
     */
    const contacts = Effect.fn("Rooms.contacts")(function* (room: string, self: string) {
      const canonical = yield* roomAddress(room)
      const me = yield* anyAddress(self)
      return contactsOf(yield* rosterOf(canonical), me)
    })

    /**
     * Previews of the newest `limit` (default 40) entries of `room`, oldest first: `{timestamp
     * (ISO), from, to, type, summary?, body_preview?}` with the body whitespace-collapsed and
     * cut to 120 characters (`…`).
     * @fails ActorsError `invalid` (not a room address), `persistence`.
     */
    const previews = Effect.fn("Rooms.previews")(function* (room: string, limit?: number) {
      const canonical = yield* roomAddress(room)
      return (yield* newest(canonical, clampLimit(limit))).map(previewOf)
    })

    /**
     * The status of `room`: entries now in the timeline, roster size, the last message, and
     * the compaction record once there was one. A room nobody posted to has zero counts.
     * @fails ActorsError `invalid` (not a room address), `persistence`.
     */
    const status = Effect.fn("Rooms.status")(function* (room: string) {
      const canonical = yield* roomAddress(room)
      return yield* Effect.gen(function* () {
        const [count] = yield* sql<{ n: number }>`SELECT COUNT(*) AS n FROM room_entries WHERE room = ${canonical}`
        const [members] = yield* sql<{ n: number }>`SELECT COUNT(*) AS n FROM room_members WHERE room = ${canonical}`
        const [meta] = yield* sql<RoomRow>`SELECT * FROM rooms WHERE room = ${canonical}`
        const lastRows = yield* sql<EntryRow>`SELECT room, seq, id, envelope, received_at FROM room_entries WHERE room = ${canonical} ORDER BY seq DESC LIMIT 1`
        const [last] = yield* toEntries(lastRows)
        return roomStatus({
          room: canonical,
          messageCount: count?.n ?? 0,
          rosterCount: members?.n ?? 0,
          last,
          compaction: meta?.before_seq != null && meta.compacted_at !== null
            ? { removed: meta.removed, lastAt: meta.compacted_at, beforeSeq: meta.before_seq }
            : undefined
        })
      }).pipe(Effect.catchTag("SqlError", (e) => Effect.fail(storeFault("Rooms.status")(e))))
    })

    /**
     * The communication snapshot of `self` (SPEC-messaging §5): each of `rooms` with its
     * members, `contacts` = their members but `self`, `updated_at` = now (Clock). Assembled
     * from the rosters; writing `{communication_file}` is the caller's business.
     * @fails ActorsError `invalid` (addresses), `persistence`.
     */
    const snapshot = Effect.fn("Rooms.snapshot")(function* (input: {
      readonly self: string
      readonly root: string
      readonly parent?: string | undefined
      readonly rooms: ReadonlyArray<string>
    }) {
      const self = yield* anyAddress(input.self)
      const root = yield* anyAddress(input.root)
      const parent = input.parent === undefined ? undefined : yield* anyAddress(input.parent)
      const addresses = yield* Effect.forEach(input.rooms, roomAddress)
      const rooms = yield* Effect.forEach([...new Set(addresses)], (address) => Effect.map(rosterOf(address), (members) => ({ address, members })))
      const at = yield* Clock.currentTimeMillis
      return communicationSnapshot({ self, root, parent, rooms, at })
    })

    /** Stored entries of `room` after `afterSeq`, page by page. */
    const replay = (room: string, afterSeq: number): Stream.Stream<TimelineEntry, ActorsError> =>
      Stream.paginateChunkEffect(afterSeq, (cursor) =>
        Effect.map(entriesAfter(room, cursor, replayPage), (page) => {
          const last = page[page.length - 1]
          const next = page.length < replayPage || last === undefined ? Option.none<number>() : Option.some(last.seq)
          return [Chunk.fromIterable(page), next] as const
        })
      )

    /**
     * The entries of `room` with seq > `afterSeq` (default 0: the whole retained timeline),
     * oldest first, then every later post as it is committed — no gaps, no duplicates (the live
     * subscription is taken before the replay and deduplicated by seq). Runs until
     * interrupted. Entries compacted away before they were read are skipped.
     * @fails ActorsError `invalid` (not a room address), `persistence`.
     */
    const subscribe = (room: string, afterSeq = 0): Stream.Stream<TimelineEntry, ActorsError> =>
      Stream.unwrapScoped(
        Effect.gen(function* () {
          const canonical = yield* roomAddress(room)
          const live = yield* PubSub.subscribe(hub)
          let last = afterSeq
          const mark = (e: TimelineEntry) => {
            if (e.room !== canonical || e.seq <= last) return false
            last = e.seq
            return true
          }
          return Stream.concat(replay(canonical, afterSeq).pipe(Stream.filter(mark)), Stream.fromQueue(live).pipe(Stream.filter(mark)))
        })
      )

    /**
     * Deletes the room of run `runId` — timeline, roster, compaction record (prune / archive).
     * A later post starts the room again at seq 1.
     * @returns how many timeline entries were deleted.
     * @fails ActorsError `persistence`.
     */
    const removeRun = Effect.fn("Rooms.removeRun")(function* (runId: string) {
      const room = `room:${runId}`
      return yield* writeLock.withPermits(1)(
        sql.withTransaction(
          Effect.gen(function* () {
            const gone = yield* sql<{ seq: number }>`DELETE FROM room_entries WHERE room = ${room} RETURNING seq`
            yield* sql`DELETE FROM room_members WHERE room = ${room}`
            yield* sql`DELETE FROM rooms WHERE room = ${room}`
            return gone.length
          })
        ).pipe(Effect.ensuring(Effect.sync(() => cache.delete(room))))
      ).pipe(Effect.mapError(storeFault("Rooms.removeRun")))
    })

    /** Every room's posts as they are committed, from the moment of subscribing (no replay). */
    const posts: Stream.Stream<TimelineEntry> = Stream.fromPubSub(hub)

    return { post, touch, timeline, roster, member, contacts, previews, status, snapshot, subscribe, posts, removeRun } as const
  })

/**
 * The rooms of all runs. Needs the store's `SqlClient` (`Store.sqlite(file)`); keeps
 * {@link roomCap} entries per room (`Rooms.layer({ roomCap })` to choose another bound).
 */
export class Rooms extends Effect.Service<Rooms>()("troupe/Rooms", {
  scoped: makeRooms()
}) {
  /** The service with other options (tests: a small cap). */
  static readonly layer = (options: RoomsOptions): Layer.Layer<Rooms, never, SqlClient.SqlClient> =>
    Layer.scoped(Rooms, Effect.map(makeRooms(options), (impl) => Rooms.make(impl)))
}
