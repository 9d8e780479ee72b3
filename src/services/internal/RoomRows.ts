/**
 * The room tables' rows (`room_entries`, `room_members`, `rooms`; store migration 3) and their
 * decoding into timeline entries and roster members. Used by `Rooms` only.
 */
import { Effect } from "effect"
import { Envelope } from "../../domain/Envelope.js"
import { storeFault } from "../../domain/PersistenceError.js"
import { RosterMember, TimelineEntry } from "../../domain/Room.js"
import type { ActorsError } from "../../domain/Run.js"

export interface EntryRow {
  readonly room: string
  readonly seq: number
  readonly id: string
  readonly envelope: string
  readonly received_at: number
}

export interface MemberRow {
  readonly room: string
  readonly address: string
  readonly parent: string | null
  readonly role: string
  readonly caps: string
  readonly claim: string | null
  readonly status: string
  readonly display: string | null
  readonly glyph: string | null
  readonly joined_at: number
  readonly joined_seq: number
  readonly last_seen: number
}

export interface RoomRow {
  readonly room: string
  readonly removed: number
  readonly before_seq: number | null
  readonly compacted_at: number | null
}

/** A row that does not decode: a store fault (`persistence`) naming what it was. */
export const unreadable = (what: string) => (e: unknown) => storeFault("Rooms.read")({ message: `unreadable ${what}: ${String(e)}` })

/**
 * Rows are written only by this service from checked values, so they are rebuilt without
 * validating again (a 10,000-entry replay stays cheap); a row that is not JSON is a store fault.
 */
export const toEntries = (rows: ReadonlyArray<EntryRow>): Effect.Effect<ReadonlyArray<TimelineEntry>, ActorsError> =>
  Effect.try({
    try: () =>
      rows.map((r) =>
        new TimelineEntry(
          { seq: r.seq, id: r.id, room: r.room, envelope: new Envelope(JSON.parse(r.envelope) as Envelope, true), received_at: r.received_at },
          true
        )
      ),
    catch: unreadable("room entry")
  })

export const toMember = (r: MemberRow): RosterMember => {
  const fields: { -readonly [K in keyof RosterMember]: RosterMember[K] } = {
    address: r.address,
    role: r.role,
    caps: JSON.parse(r.caps) as Array<string>,
    status: r.status,
    joined_at: r.joined_at,
    last_seen: r.last_seen
  }
  if (r.parent !== null) fields.parent = r.parent
  if (r.claim !== null) fields.claim = r.claim
  if (r.display !== null) fields.display = r.display
  if (r.glyph !== null) fields.glyph = r.glyph
  return new RosterMember(fields, true)
}

export const toMembers = (rows: ReadonlyArray<MemberRow>): Effect.Effect<ReadonlyArray<RosterMember>, ActorsError> =>
  Effect.try({ try: () => rows.map(toMember), catch: unreadable("roster member") })

export const memberRow = (room: string, m: RosterMember, joinedSeq: number) => ({
  room,
  address: m.address,
  parent: m.parent ?? null,
  role: m.role,
  caps: JSON.stringify(m.caps),
  claim: m.claim ?? null,
  status: m.status,
  display: m.display ?? null,
  glyph: m.glyph ?? null,
  joined_at: m.joined_at,
  joined_seq: joinedSeq,
  last_seen: m.last_seen
})

