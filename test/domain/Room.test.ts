/**
 * Room rules (SPEC-messaging §5): `actor.join` body fields, how a post changes a roster member,
 * body previews (whitespace collapse, 120 code points with `…`), previews, status, contacts and
 * the communication snapshot — pure functions, no store.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { Envelope, type EnvelopeBody, type MessageId } from "../../src/domain/Envelope.js"
import {
  applyPost,
  bodyPreview,
  communicationSnapshot,
  contactsOf,
  isoTime,
  joinFields,
  previewLength,
  previewOf,
  RosterMember,
  roomStatus,
  TimelineEntry,
  touchMember
} from "../../src/domain/Room.js"

let counter = 0
const env = (from: string, type: string, body?: EnvelopeBody, summary?: string) =>
  new Envelope({
    id: `msg_${String(++counter).padStart(21, "0")}` as MessageId,
    received_at: 0,
    to: "room:r",
    from,
    type,
    ...(body === undefined ? {} : { body }),
    ...(summary === undefined ? {} : { summary })
  })

const member = (fields: Partial<ConstructorParameters<typeof RosterMember>[0]> & { address: string }) =>
  new RosterMember({ role: "actor", caps: [], status: "present", joined_at: 0, last_seen: 0, ...fields })

describe("joinFields", () => {
  it("reads role, caps, claim, display, glyph and status from an object body", () => {
    expect(joinFields({ role: "worker", caps: ["a", "b"], claim: "src/", display: "A", glyph: "*", status: "busy", other: 1 })).toEqual({
      role: "worker",
      caps: ["a", "b"],
      claim: "src/",
      display: "A",
      glyph: "*",
      status: "busy"
    })
  })

  it("ignores fields of the wrong kind and non-object bodies", () => {
    expect(joinFields({ role: 3, status: "", caps: { a: 1 }, claim: 7, display: true, glyph: [] })).toEqual({})
    expect(joinFields("join")).toEqual({})
    expect(joinFields(["role", "x"])).toEqual({})
    expect(joinFields(undefined)).toEqual({})
    expect(joinFields(null)).toEqual({})
  })

  it("caps: string elements kept once in order; a single string is one cap; null or empty is none", () => {
    expect(joinFields({ caps: ["b", 1, "a", "b", " ", null, "c"] }).caps).toEqual(["b", "a", "c"])
    expect(joinFields({ caps: "review" }).caps).toEqual(["review"])
    expect(joinFields({ caps: null }).caps).toEqual([])
    expect(joinFields({ caps: "" }).caps).toEqual([])
  })

  it("claim, display, glyph: null or a blank string clears", () => {
    expect(joinFields({ claim: null, display: "", glyph: "  " })).toEqual({ claim: null, display: null, glyph: null })
  })
})

describe("applyPost", () => {
  it("first appearance: role actor, status present, no caps, joined_at = last_seen = at", () => {
    const m = applyPost(undefined, { envelope: env("branch:r/a", "chat.message", "hi"), at: 5 })
    expect({ ...m }).toEqual({ address: "branch:r/a", role: "actor", caps: [], status: "present", joined_at: 5, last_seen: 5 })
  })

  it("actor.join overrides, keeps what it does not mention, and makes the member present", () => {
    const left = member({ address: "branch:r/a", role: "worker", caps: ["x"], claim: "c", status: "left", display: "A" })
    const m = applyPost(left, { envelope: env("branch:r/a", "actor.join", { glyph: "◆", claim: null }), at: 9, parent: "run:r" })
    expect({ ...m }).toEqual({ address: "branch:r/a", parent: "run:r", role: "worker", caps: ["x"], status: "present", display: "A", glyph: "◆", joined_at: 0, last_seen: 9 })
    expect(applyPost(left, { envelope: env("branch:r/a", "actor.join", { status: "idle" }), at: 9 }).status).toBe("idle")
  })

  it("actor.leave sets left and keeps everything else; other types keep role and status", () => {
    const busy = member({ address: "branch:r/a", role: "worker", caps: ["x"], status: "busy", parent: "run:r" })
    const left = applyPost(busy, { envelope: env("branch:r/a", "actor.leave"), at: 3 })
    expect({ ...left }).toEqual({ ...busy, status: "left", last_seen: 3 })
    const after = applyPost(left, { envelope: env("branch:r/a", "task.result", { role: "boss", status: "present" }), at: 4 })
    expect({ ...after }).toEqual({ ...left, last_seen: 4 })
  })

  it("last_seen never goes back", () => {
    const m = member({ address: "run:r", last_seen: 10 })
    expect(applyPost(m, { envelope: env("run:r", "chat.message"), at: 4 }).last_seen).toBe(10)
  })
})

describe("touchMember (the ends of a direct message)", () => {
  it("first appearance: role actor, status present; later: only last_seen moves (never back), a leave is kept", () => {
    expect({ ...touchMember(undefined, "branch:r/b", 7) }).toEqual({ address: "branch:r/b", role: "actor", caps: [], status: "present", joined_at: 7, last_seen: 7 })
    const left = member({ address: "branch:r/a", role: "worker", caps: ["x"], claim: "c", status: "left", last_seen: 10 })
    expect({ ...touchMember(left, "branch:r/a", 12) }).toEqual({ ...left, last_seen: 12 })
    expect(touchMember(left, "branch:r/a", 9)).toBe(left)
  })
})

describe("previews", () => {
  it("bodyPreview: strings as is, other bodies as JSON, whitespace collapsed and trimmed", () => {
    expect(bodyPreview("  a\n\n b\t c  ")).toBe("a b c")
    expect(bodyPreview({ text: "x  y", list: [1, 2] })).toBe('{"text":"x y","list":[1,2]}')
    expect(bodyPreview(undefined)).toBeUndefined()
    expect(bodyPreview(" \n ")).toBeUndefined()
  })

  it("bodyPreview: at most 120 characters, the last one `…` when cut; emoji are not split", () => {
    expect(previewLength).toBe(120)
    expect(bodyPreview("a".repeat(120))).toBe("a".repeat(120))
    expect(bodyPreview("a".repeat(121))).toBe(`${"a".repeat(119)}…`)
    const emoji = bodyPreview("😀".repeat(130))!
    expect(emoji).toBe(`${"😀".repeat(119)}…`)
    expect(bodyPreview("😀".repeat(120))).toBe("😀".repeat(120))
  })

  it.prop("bodyPreview is one line of at most 120 code points", [fc.string({ unit: "grapheme", maxLength: 400 })], ([text]) => {
    const p = bodyPreview(text)
    if (p === undefined) {
      expect(text.trim()).toBe("")
    } else {
      expect([...p].length).toBeLessThanOrEqual(previewLength)
      expect(/\s\s|^\s|\s$|\n/.test(p)).toBe(false)
    }
  })

  it("previewOf: ISO timestamp from the entry, from/to/type, summary and body preview when present", () => {
    const e = env("branch:r/a", "task.result", { ok: true }, "Done")
    const entry = new TimelineEntry({ seq: 1, id: e.id, room: "room:r", envelope: e, received_at: Date.UTC(2025, 0, 1) })
    expect({ ...previewOf(entry) }).toEqual({
      timestamp: "2025-01-01T00:00:00.000Z",
      from: "branch:r/a",
      to: "room:r",
      type: "task.result",
      summary: "Done",
      body_preview: '{"ok":true}'
    })
    const bare = env("run:r", "control.ping")
    expect({ ...previewOf(new TimelineEntry({ seq: 2, id: bare.id, room: "room:r", envelope: bare, received_at: 0 })) }).toEqual({
      timestamp: "1970-01-01T00:00:00.000Z",
      from: "run:r",
      to: "room:r",
      type: "control.ping"
    })
  })
})

describe("status, contacts, snapshot", () => {
  it("roomStatus: counts only for an empty room; the last message and the compaction record otherwise", () => {
    expect({ ...roomStatus({ room: "room:r", messageCount: 0, rosterCount: 0 }) }).toEqual({ room: "room:r", message_count: 0, roster_count: 0 })
    const e = env("branch:r/a", "chat.message", "hi", "Hello")
    const status = roomStatus({
      room: "room:r",
      messageCount: 2,
      rosterCount: 1,
      last: new TimelineEntry({ seq: 9, id: e.id, room: "room:r", envelope: e, received_at: 1_500 }),
      compaction: { removed: 7, lastAt: 1_000, beforeSeq: 8 }
    })
    expect({ ...status, compaction: { ...status.compaction } }).toEqual({
      room: "room:r",
      message_count: 2,
      roster_count: 1,
      last_message_at: "1970-01-01T00:00:01.500Z",
      last_message_from: "branch:r/a",
      last_message_type: "chat.message",
      last_message_summary: "Hello",
      compaction: { removed: 7, last_at: "1970-01-01T00:00:01.000Z", before_seq: 8 }
    })
  })

  it("contactsOf: the roster minus self, {address, caps, claim?, parent?, role, status}", () => {
    const roster = [
      member({ address: "run:r", role: "run" }),
      member({ address: "branch:r/a", caps: ["x"], claim: "c", parent: "run:r", display: "A", glyph: "*" })
    ]
    expect(contactsOf(roster, "run:r").map((c) => ({ ...c }))).toEqual([
      { address: "branch:r/a", caps: ["x"], claim: "c", parent: "run:r", role: "actor", status: "present" }
    ])
    expect(contactsOf(roster, "coordinator")).toHaveLength(2)
  })

  it("communicationSnapshot: rooms with members (ISO), contacts across rooms once each, parent when given", () => {
    const a = member({ address: "branch:r/a", joined_at: 1_000, last_seen: 2_000 })
    const r = member({ address: "run:r", role: "run" })
    const snap = communicationSnapshot({
      self: "branch:r/a",
      root: "run:r",
      parent: "run:r",
      rooms: [
        { address: "room:r", members: [r, a] },
        { address: "room:q", members: [member({ address: "run:r" }), member({ address: "run:q" })] }
      ],
      at: 0
    })
    expect(snap.updated_at).toBe(isoTime(0))
    expect(snap.parent).toBe("run:r")
    expect(snap.rooms.map((x) => [x.address, x.name, x.members.map((m) => m.address)])).toEqual([
      ["room:r", "main", ["run:r", "branch:r/a"]],
      ["room:q", "main", ["run:r", "run:q"]]
    ])
    expect({ ...snap.rooms[0]!.members[1] }).toMatchObject({ joined_at: "1970-01-01T00:00:01.000Z", last_seen: "1970-01-01T00:00:02.000Z" })
    expect(snap.contacts.map((c) => [c.address, c.role])).toEqual([
      ["run:r", "run"],
      ["run:q", "actor"]
    ])
    expect(communicationSnapshot({ self: "run:r", root: "run:r", rooms: [], at: 0 }).parent).toBeUndefined()
  })
})
