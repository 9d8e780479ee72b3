/**
 * The widget's state and lines (src/pi/Widget.ts), pure: message previews from session
 * events, newest posts first, team lines kept when space runs out, bounded lines.
 */
import { describe, expect, it } from "@effect/vitest"
import { SessionEvent } from "../../src/domain/Run.js"
import { emptyWidget, messageOf, widgetLineChars, widgetLines, widgetMaxLines, withMessage, withPosts, withTeam } from "../../src/pi/Widget.js"
import type { TeamMember } from "../../src/view/Team.js"

const event = (type: string, data: Record<string, unknown>, text = "Message from run:a (note)") =>
  new SessionEvent({ id: 1, session: "s1", run_id: "a", generation: "g", type, at: 1, text, data })

const member = (name: string, group = "s1"): TeamMember => ({ kind: "worker", group, name, run: name, status: "idle" })

describe("Widget", () => {
  it("a message event becomes a preview (summary, else the body); other events do not", () => {
    expect(messageOf(event("message", { envelope: { from: "run:a", type: "note", summary: "hi  there\n" } }))).toEqual({ from: "run:a", type: "note", summary: "hi there" })
    expect(messageOf(event("message", { envelope: { from: "run:a", type: "data", body: { n: 1 } } }))?.summary).toBe('{"n":1}')
    expect(messageOf(event("message", {}, "Message from run:a (note): raw\nbody"))).toEqual({ from: "run:a", type: "message", summary: "Message from run:a (note): raw" })
    expect(messageOf(event("run.done", {}))).toBeUndefined()
  })

  it("nothing to show clears the widget; posts newest first; at most the bound, team lines kept", () => {
    expect(widgetLines(emptyWidget)).toBeUndefined()
    let w = withPosts(emptyWidget, [
      { room: "room:a", from: "run:a", type: "note", summary: "old", at: 1 },
      { room: "room:b", from: "run:b", type: "note", summary: "new", at: 3 },
      { room: "room:a", from: "run:a", type: "note", summary: "mid", at: 2 }
    ])
    for (let i = 0; i < 5; i++) w = withMessage(w, { from: "run:a", type: "note", summary: `m${i} ${"y".repeat(300)}` })
    expect(widgetLines(w)!.map((l) => l.slice(0, 24))).toEqual(["room:b run:b note: new", "room:a run:a note: mid", "✉ run:a note: m4 yyyyyyy", "✉ run:a note: m3 yyyyyyy"])
    w = withTeam(w, [member("a", "s1"), member("b", "s2"), member("c", "s3"), member("d", "s4"), member("e", "s5")])
    const lines = widgetLines(w)!
    expect(lines).toHaveLength(widgetMaxLines)
    expect(lines.slice(-5).every((l) => l.startsWith("swarm "))).toBe(true)
    expect(lines.every((l) => l.length <= widgetLineChars)).toBe(true)
  })
})
