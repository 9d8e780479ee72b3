/**
 * Rooms (SPEC-messaging §5): the shapes of a run's room — timeline entries, roster members,
 * contacts, previews, status, the communication snapshot — and the pure rules behind them
 * (how a post changes the roster, how a body is previewed). `Rooms` (src/services/Rooms.ts)
 * persists them; inspect views and the `{communication_file}` writer read them.
 *
 * Times: records (`TimelineEntry.received_at`, `RosterMember.joined_at` / `last_seen`) are
 * epoch milliseconds like every troupe record; the views that mirror pi-actors' files
 * (`RoomPreview.timestamp`, `RoomStatus.last_message_at`, `RoomCompaction.last_at`, the
 * communication snapshot) carry ISO-8601 UTC strings, as pi-actors 0.17 wrote them.
 */
import { Schema } from "effect"
import { Envelope, Sender } from "./Envelope.js"

// ---------------------------------------------------------------------------------------------
// Records

/**
 * One timeline entry: the stored envelope, its room, its sequence number in that room (1, 2, …
 * in post order; the cursor of `Rooms.timeline` / `Rooms.subscribe`), its id (the envelope id)
 * and when the room received it (epoch ms).
 */
export class TimelineEntry extends Schema.Class<TimelineEntry>("troupe/TimelineEntry")({
  seq: Schema.Int,
  id: Schema.String,
  room: Schema.String,
  envelope: Envelope,
  received_at: Schema.Int
}) {}

/**
 * A roster member (pi-actors' `roster.json` entry). `role` defaults to `actor`, `status` to
 * `present` (`left` after `actor.leave`); `caps` are capability names; `claim` what the member
 * says it works on; `display` / `glyph` how a UI may show it; `parent` the address it was
 * spawned by, when the poster said so. Times are epoch ms.
 */
export class RosterMember extends Schema.Class<RosterMember>("troupe/RosterMember")({
  address: Schema.String,
  parent: Schema.optional(Schema.String),
  role: Schema.String,
  caps: Schema.Array(Schema.String),
  claim: Schema.optional(Schema.String),
  status: Schema.String,
  display: Schema.optional(Schema.String),
  glyph: Schema.optional(Schema.String),
  joined_at: Schema.Int,
  last_seen: Schema.Int
}) {}

/** A roster member as another member sees it: `{address, caps, claim, parent, role, status}`. */
export class RoomContact extends Schema.Class<RoomContact>("troupe/RoomContact")({
  address: Schema.String,
  caps: Schema.Array(Schema.String),
  claim: Schema.optional(Schema.String),
  parent: Schema.optional(Schema.String),
  role: Schema.String,
  status: Schema.String
}) {}

/**
 * One line of `inspect room:<run> view=previews`. `timestamp` is ISO-8601 (the room's receive
 * time); `sender` is who vouches for `from` (`Envelope.sender`; troupe's addition to pi-actors'
 * preview shape, absent for a hand-built entry without one).
 */
export class RoomPreview extends Schema.Class<RoomPreview>("troupe/RoomPreview")({
  timestamp: Schema.String,
  from: Schema.String,
  sender: Schema.optional(Sender),
  to: Schema.String,
  type: Schema.String,
  summary: Schema.optional(Schema.String),
  body_preview: Schema.optional(Schema.String)
}) {}

/**
 * What compaction removed from a room so far: `removed` entries in total, the last time at
 * `last_at` (ISO-8601); every entry with `seq < before_seq` is gone.
 */
export class RoomCompaction extends Schema.Class<RoomCompaction>("troupe/RoomCompaction")({
  removed: Schema.Int,
  last_at: Schema.String,
  before_seq: Schema.Int
}) {}

/**
 * `inspect room:<run> view=status`. `message_count` counts the entries in the timeline now
 * (compacted entries are counted in `compaction.removed`, as pi-actors counted the lines of its
 * compacted `messages.jsonl`); the `last_message_*` fields are absent while the room is empty,
 * `compaction` until the first compaction.
 */
export class RoomStatus extends Schema.Class<RoomStatus>("troupe/RoomStatus")({
  room: Schema.String,
  message_count: Schema.Int,
  roster_count: Schema.Int,
  last_message_at: Schema.optional(Schema.String),
  last_message_from: Schema.optional(Schema.String),
  last_message_type: Schema.optional(Schema.String),
  last_message_summary: Schema.optional(Schema.String),
  compaction: Schema.optional(RoomCompaction)
}) {}

/** A roster member inside a communication snapshot: `RosterMember` with ISO-8601 times. */
export class SnapshotMember extends Schema.Class<SnapshotMember>("troupe/SnapshotMember")({
  ...RosterMember.fields,
  joined_at: Schema.String,
  last_seen: Schema.String
}) {}

/** A room in a communication snapshot (`name` is always `main`: rooms have no subrooms). */
export class SnapshotRoom extends Schema.Class<SnapshotRoom>("troupe/SnapshotRoom")({
  address: Schema.String,
  name: Schema.Literal("main"),
  members: Schema.Array(SnapshotMember)
}) {}

/**
 * The communication snapshot (`{communication_file}`, `inspect run:<id> view=communication`):
 * who the actor is (`self`), its run (`root`), its parent, its rooms with their members, and
 * its contacts (every member of those rooms but itself). pi-actors 0.17's `communication.json`
 * shape; `members` and `contacts` are always present (possibly empty) rather than omitted.
 */
export class CommunicationSnapshot extends Schema.Class<CommunicationSnapshot>("troupe/CommunicationSnapshot")({
  self: Schema.String,
  root: Schema.String,
  parent: Schema.optional(Schema.String),
  rooms: Schema.Array(SnapshotRoom),
  contacts: Schema.Array(RoomContact),
  updated_at: Schema.String
}) {}

// ---------------------------------------------------------------------------------------------
// Roster rules

/** The role of a member that never said otherwise. */
export const defaultRole = "actor"

/** The status of a member that is (or just became) part of the room. */
export const presentStatus = "present"

/** The status `actor.leave` sets; the member stays on the roster. */
export const leftStatus = "left"

/** The message types with a roster meaning. */
export const joinType = "actor.join"
export const leaveType = "actor.leave"

/**
 * The roster fields an `actor.join` body may set. `undefined` = not given (keep); `null` =
 * clear (only for the optional text fields `claim`, `display`, `glyph`).
 */
export interface JoinFields {
  readonly role?: string
  readonly caps?: ReadonlyArray<string>
  readonly claim?: string | null
  readonly display?: string | null
  readonly glyph?: string | null
  readonly status?: string
}

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> => typeof u === "object" && u !== null && !Array.isArray(u)

/** A non-empty string, else nothing. */
const word = (u: unknown): string | undefined => (typeof u === "string" && u.trim() !== "" ? u : undefined)

/** A string sets the field, `null` or an empty string clears it, anything else is ignored. */
const optionalText = (u: unknown): string | null | undefined =>
  u === null || (typeof u === "string" && u.trim() === "") ? null : typeof u === "string" ? u : undefined

/**
 * Reads the roster fields of an `actor.join` body. Only an object body carries fields; other
 * keys are ignored. `role` and `status` must be non-empty strings; `caps` is an array whose
 * non-empty string elements are kept (duplicates dropped, order kept), a single string meaning
 * one cap, `null` meaning none; `claim`, `display`, `glyph` are strings (`null` or `""` clears
 * them). A field of any other JSON kind is ignored, as if absent.
 */
export const joinFields = (body: unknown): JoinFields => {
  if (!isRecord(body)) return {}
  const out: { -readonly [K in keyof JoinFields]: JoinFields[K] } = {}
  const role = word(body.role)
  if (role !== undefined) out.role = role
  const status = word(body.status)
  if (status !== undefined) out.status = status
  const caps = body.caps
  if (caps === null) out.caps = []
  else if (typeof caps === "string") out.caps = caps.trim() === "" ? [] : [caps]
  else if (Array.isArray(caps)) out.caps = [...new Set(caps.filter((c): c is string => word(c) !== undefined))]
  for (const key of ["claim", "display", "glyph"] as const) {
    const v = optionalText(body[key])
    if (v !== undefined) out[key] = v
  }
  return out
}

type MemberFields = { -readonly [K in keyof RosterMember]: RosterMember[K] }

const withText = (fields: MemberFields, key: "claim" | "display" | "glyph", value: string | null | undefined) => {
  if (value === null) delete fields[key]
  else if (value !== undefined) fields[key] = value
}

/**
 * The roster member after a post from `envelope.from` received at `at` (epoch ms), given the
 * member before it (`undefined` = first appearance):
 *
 * - first appearance: `role: "actor"`, `status: "present"`, no caps, `joined_at = at`;
 * - every post: `last_seen = at`; `parent` recorded when given;
 * - `actor.join`: the body's `role, caps, claim, display, glyph, status` override
 *   (see {@link joinFields}); without a `status` the member is `present` again;
 * - `actor.leave`: `status: "left"`, everything else kept;
 * - any other type keeps the member's role and status (pi-actors: a later message does not
 *   undo a leave; a new `actor.join` does).
 */
export const applyPost = (
  current: RosterMember | undefined,
  post: { readonly envelope: Envelope; readonly at: number; readonly parent?: string | undefined }
): RosterMember => {
  const { envelope, at } = post
  const fields: MemberFields = current === undefined
    ? { address: envelope.from, role: defaultRole, caps: [], status: presentStatus, joined_at: at, last_seen: at }
    : { ...current, last_seen: Math.max(current.last_seen, at) }
  if (post.parent !== undefined) fields.parent = post.parent
  if (envelope.type === joinType) {
    const join = joinFields(envelope.body)
    if (join.role !== undefined) fields.role = join.role
    if (join.caps !== undefined) fields.caps = join.caps
    withText(fields, "claim", join.claim)
    withText(fields, "display", join.display)
    withText(fields, "glyph", join.glyph)
    fields.status = join.status ?? presentStatus
  } else if (envelope.type === leaveType) {
    fields.status = leftStatus
  }
  // Trusted: every field was built from checked values above.
  return new RosterMember(fields, true)
}

/**
 * The roster member after a direct message (`branch:` target) it sent or received at `at`
 * (epoch ms): the two ends of a direct message become contacts in their run's room
 * (SPEC-messaging §3, "creates/updates roster entries for both ends").
 *
 * - first appearance: `role: "actor"`, `status: "present"`, no caps, `joined_at = at`;
 * - otherwise `last_seen = max(last_seen, at)`, everything else kept (a direct message does
 *   not undo an `actor.leave`, like an ordinary post).
 */
export const touchMember = (current: RosterMember | undefined, address: string, at: number): RosterMember =>
  current === undefined
    ? new RosterMember({ address, role: defaultRole, caps: [], status: presentStatus, joined_at: at, last_seen: at }, true)
    : at <= current.last_seen
    ? current
    : new RosterMember({ ...current, last_seen: at }, true)

/** The roster minus `self`, as contacts (roster order kept). */
export const contactsOf = (roster: ReadonlyArray<RosterMember>, self: string): ReadonlyArray<RoomContact> =>
  roster.filter((m) => m.address !== self).map(contactOf)

const contactOf = (m: RosterMember): RoomContact => {
  const fields: { -readonly [K in keyof RoomContact]: RoomContact[K] } = { address: m.address, caps: m.caps, role: m.role, status: m.status }
  if (m.claim !== undefined) fields.claim = m.claim
  if (m.parent !== undefined) fields.parent = m.parent
  return new RoomContact(fields, true)
}

// ---------------------------------------------------------------------------------------------
// Views

/** Length of a body preview, in characters (Unicode code points), `…` included. */
export const previewLength = 120

/** An epoch-ms time as ISO-8601 UTC (`1970-01-01T00:00:00.000Z`). */
export const isoTime = (ms: number): string => new Date(ms).toISOString()

/**
 * A one-line preview of a body: a string body as is, any other body as its JSON text; runs of
 * whitespace collapsed to one space, trimmed, and cut to `max` characters (code points, so no
 * emoji is split) ending in `…` when longer. Undefined for no body or a blank one.
 */
export const bodyPreview = (body: unknown, max: number = previewLength): string | undefined => {
  if (body === undefined) return undefined
  const text = typeof body === "string" ? body : JSON.stringify(body)
  if (text === undefined) return undefined
  const compact = text.replace(/\s+/g, " ").trim()
  if (compact === "") return undefined
  // `length` counts UTF-16 units, at least the code points: short texts need no counting.
  if (compact.length <= max) return compact
  const points = Array.from(compact)
  return points.length <= max ? compact : `${points.slice(0, Math.max(0, max - 1)).join("")}…`
}

/** The preview of a timeline entry. */
export const previewOf = (entry: TimelineEntry): RoomPreview => {
  const e = entry.envelope
  const fields: { -readonly [K in keyof RoomPreview]: RoomPreview[K] } = { timestamp: isoTime(entry.received_at), from: e.from, to: e.to, type: e.type }
  if (e.sender !== undefined) fields.sender = e.sender
  if (e.summary !== undefined) fields.summary = e.summary
  const body = bodyPreview(e.body)
  if (body !== undefined) fields.body_preview = body
  return new RoomPreview(fields, true)
}

/** A room's status from its counts, its last entry and its compaction record. */
export const roomStatus = (input: {
  readonly room: string
  readonly messageCount: number
  readonly rosterCount: number
  readonly last?: TimelineEntry | undefined
  readonly compaction?: { readonly removed: number; readonly lastAt: number; readonly beforeSeq: number } | undefined
}): RoomStatus => {
  const fields: { -readonly [K in keyof RoomStatus]: RoomStatus[K] } = {
    room: input.room,
    message_count: input.messageCount,
    roster_count: input.rosterCount
  }
  if (input.last !== undefined) {
    const e = input.last.envelope
    fields.last_message_at = isoTime(input.last.received_at)
    fields.last_message_from = e.from
    fields.last_message_type = e.type
    if (e.summary !== undefined) fields.last_message_summary = e.summary
  }
  if (input.compaction !== undefined) {
    fields.compaction = new RoomCompaction({
      removed: input.compaction.removed,
      last_at: isoTime(input.compaction.lastAt),
      before_seq: input.compaction.beforeSeq
    })
  }
  return new RoomStatus(fields)
}

const snapshotMember = (m: RosterMember): SnapshotMember =>
  new SnapshotMember({ ...m, joined_at: isoTime(m.joined_at), last_seen: isoTime(m.last_seen) }, true)

/**
 * Assembles a communication snapshot for `self` from the rosters of its rooms: each room with
 * its members (ISO times), and `contacts` = the members of all those rooms except `self`, each
 * address once (the first room it appears in wins). `at` (epoch ms) becomes `updated_at`.
 */
export const communicationSnapshot = (input: {
  readonly self: string
  readonly root: string
  readonly parent?: string | undefined
  readonly rooms: ReadonlyArray<{ readonly address: string; readonly members: ReadonlyArray<RosterMember> }>
  readonly at: number
}): CommunicationSnapshot => {
  const seen = new Set<string>([input.self])
  const contacts: Array<RoomContact> = []
  for (const room of input.rooms) {
    for (const m of room.members) {
      if (seen.has(m.address)) continue
      seen.add(m.address)
      contacts.push(contactOf(m))
    }
  }
  const fields: { -readonly [K in keyof CommunicationSnapshot]: CommunicationSnapshot[K] } = {
    self: input.self,
    root: input.root,
    rooms: input.rooms.map((r) => new SnapshotRoom({ address: r.address, name: "main", members: r.members.map(snapshotMember) })),
    contacts,
    updated_at: isoTime(input.at)
  }
  if (input.parent !== undefined) fields.parent = input.parent
  return new CommunicationSnapshot(fields)
}
