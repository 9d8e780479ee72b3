/**
 * pi-actors 0.17's README room workflow through the Pi `message` and `inspect` tools (a fake
 * Pi host, the real in-process runtime): the session joins its run's room as
 * `branch:review/security` with role, caps and claim, reads roster, contacts and previews,
 * and leaves (SPEC-messaging §2, "Who may speak as whom"); a later session does not speak for
 * the first one's run.
 */
import { cpSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { install } from "../../src/pi/Adapter.js"
import { FakePiHost } from "../../src/testing/index.js"
import { Troupe } from "../../src/Troupe.js"

const fixtures = join(import.meta.dirname, "..", "fixtures", "pi-actors-0.17")
const text = (r: { content: ReadonlyArray<{ text: string }> }) => r.content.map((c) => c.text).join("\n")

let dir: string
let pi: FakePiHost

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "troupe-pi-room-"))
  const recipes = join(dir, "recipes")
  cpSync(fixtures, recipes, { recursive: true })
  pi = new FakePiHost()
  const config = { home: join(dir, "home"), userRecipes: recipes, killGraceMs: 300 }
  install(pi, { actors: (session) => Troupe.layer({ ...config, session }), config, statusIntervalMs: 50 })
})

afterEach(async () => {
  await pi.shutdown()
  rmSync(dir, { recursive: true, force: true })
})

describe("the README room workflow through the Pi tools", () => {
  it("message joins as branch:review/security (role, caps, claim); inspect shows roster, contacts, previews with provenance; leave keeps the member as left", async () => {
    await pi.startSession("s1")
    await pi.call("spawn", { template: "sleep 30", as: "review" })

    const joined = await pi.call("message", {
      to: "room:review",
      from: "branch:review/security",
      type: "actor.join",
      summary: "Security reviewer joined",
      body: { role: "reviewer", caps: ["security-review"], claim: "Review auth boundary risks" }
    })
    expect(text(joined)).toContain("from=branch:review/security sender=session:s1 to=room:review")
    expect(text(joined)).toContain("consumer=room-timeline")

    const roster = await pi.call("inspect", { target: "room:review", view: "roster" })
    expect(text(roster)).toContain("address=branch:review/security role=reviewer status=present claim=Review_auth_boundary_risks caps=security-review")
    const contacts = await pi.call("inspect", { target: "room:review", view: "contacts", verbose: true })
    const list = (contacts.details as { data: { contacts: ReadonlyArray<{ address: string; caps: ReadonlyArray<string>; claim?: string }> } }).data.contacts
    expect(list.find((c) => c.address === "branch:review/security")).toMatchObject({ caps: ["security-review"], claim: "Review auth boundary risks" })
    const previews = await pi.call("inspect", { target: "room:review", view: "previews" })
    expect(text(previews)).toContain("from=branch:review/security sender=session:s1 type=actor.join summary=Security_reviewer_joined")
    expect(text(previews)).toContain("from=run:review sender=runtime type=actor.join")

    await pi.call("message", { to: "room:review", from: "branch:review/security", type: "actor.leave" })
    expect(text(await pi.call("inspect", { target: "room:review", view: "roster" }))).toContain("address=branch:review/security role=reviewer status=left")
    const messages = await pi.call("inspect", { target: "room:review", view: "messages" })
    expect(text(messages)).toContain("from=branch:review/security sender=session:s1 type=actor.leave")
  })

  it("another session does not speak for the first session's run", async () => {
    await pi.startSession("s1")
    await pi.call("spawn", { template: "sleep 30", as: "review" })
    await pi.shutdown()
    await pi.startSession("s2")
    await expect(pi.call("message", { to: "room:review", from: "branch:review/security", type: "actor.join" })).rejects.toThrow(
      "cannot send as branch:review/security: run:review belongs to another session (a session speaks only for runs it owns)"
    )
  })
})
