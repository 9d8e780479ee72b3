/**
 * pi-actors 0.17's README room workflow through the built CLI and a real daemon
 * (SPEC-messaging §2, "Who may speak as whom"): the owning session posts `actor.join` as
 * `branch:review/security` with role, caps and claim, reads the room's roster, contacts and
 * previews, and leaves — exactly the words of the README. Around it: the provenance every
 * stored envelope records (`sender`), a run's token that cannot speak for a sibling run, and
 * a second session that cannot speak for the first one's run.
 */
import { afterAll, describe, expect, it } from "vitest"
import { bin, isolatedEnv, troupe } from "../recipes/support.js"

interface Preview {
  readonly from: string
  readonly sender?: string
  readonly type: string
  readonly summary?: string
  readonly body_preview?: string
}
interface Member {
  readonly address: string
  readonly role: string
  readonly caps: ReadonlyArray<string>
  readonly claim?: string
  readonly status: string
}
interface Entry {
  readonly envelope: { readonly from: string; readonly type: string; readonly sender?: string }
}

describe("the README room workflow through the CLI", () => {
  const base = isolatedEnv()
  const asA = { ...base, TROUPE_SESSION: "session-a" }
  const asB = { ...base, TROUPE_SESSION: "session-b" }
  const ok = async (args: ReadonlyArray<string>, env: Record<string, string> = asA) => {
    const r = await troupe(args, { env })
    expect(r.code, `troupe ${args.join(" ")}: ${r.stderr}`).toBe(0)
    return r.stdout
  }
  const data = async <A>(args: ReadonlyArray<string>, env: Record<string, string> = asA): Promise<A> => (JSON.parse(await ok([...args, "--json"], env)) as { data: A }).data
  afterAll(async () => {
    await troupe(["daemon", "stop"], { env: asA })
  })

  it("the owner joins as branch:review/security, reads roster/contacts/previews, leaves; provenance is recorded; nobody else speaks for the run", async () => {
    // The room's run; its own process posts once by token, as one of its branches.
    const tokenPost = `${process.execPath} ${bin} message to=room:review from=branch:review/worker type=note.posted body=by-token`
    await ok(["spawn", "--template", `sh -c '${tokenPost} && exec sleep 300'`, "--as", "review"])

    // Verbatim from pi-actors 0.17.1's README ("Actor Rooms").
    const joined = JSON.parse(await ok([
      "message",
      "to=room:review",
      "from=branch:review/security",
      "type=actor.join",
      "summary=Security reviewer joined",
      `body={"role":"reviewer","caps":["security-review"],"claim":"Review auth boundary risks"}`,
      "--json"
    ])) as { from: string; sender: string; consumer: string; delivered: boolean }
    expect(joined).toMatchObject({ from: "branch:review/security", sender: "session:session-a", consumer: "room-timeline", delivered: true })

    const roster = (await data<{ roster: ReadonlyArray<Member> }>(["inspect", "room:review", "view=roster"])).roster
    expect(roster.find((m) => m.address === "branch:review/security")).toMatchObject({
      role: "reviewer",
      caps: ["security-review"],
      claim: "Review auth boundary risks",
      status: "present"
    })
    expect(roster.find((m) => m.address === "run:review")).toMatchObject({ role: "run", status: "present" })
    const contacts = (await data<{ contacts: ReadonlyArray<Member> }>(["inspect", "room:review", "view=contacts"])).contacts
    expect(contacts.map((c) => c.address)).toContain("branch:review/security")
    expect(await ok(["inspect", "room:review", "view=contacts"])).toContain("address=branch:review/security role=reviewer status=present claim=Review_auth_boundary_risks caps=security-review")

    // The actor's own post arrives through its token (a positive signal, polled with a bound).
    const deadline = Date.now() + 60_000
    let previews = (await data<{ previews: ReadonlyArray<Preview> }>(["inspect", "room:review", "view=previews"])).previews
    while (!previews.some((p) => p.type === "note.posted")) {
      expect(Date.now() < deadline, "the run's own post did not arrive within 60 s").toBe(true)
      await new Promise((resolve) => setTimeout(resolve, 100))
      previews = (await data<{ previews: ReadonlyArray<Preview> }>(["inspect", "room:review", "view=previews"])).previews
    }
    expect(previews.find((p) => p.type === "actor.join" && p.from === "branch:review/security")).toMatchObject({
      sender: "session:session-a",
      summary: "Security reviewer joined",
      body_preview: `{"role":"reviewer","caps":["security-review"],"claim":"Review auth boundary risks"}`
    })
    expect(previews.find((p) => p.type === "note.posted")).toMatchObject({ from: "branch:review/worker", sender: "token", body_preview: "by-token" })
    expect(await ok(["inspect", "room:review", "view=previews"])).toContain("from=branch:review/security sender=session:session-a type=actor.join")

    // Leave (docs/actor-messages.md): the member stays on the roster as `left`, the timeline keeps both.
    expect(await ok(["message", "to=room:review", "from=branch:review/security", "type=actor.leave"])).toMatch(
      /^msg_\w+ to=room:review from=branch:review\/security sender=session:session-a consumer=room-timeline delivered=true/
    )
    // Without `from`, a session's post is from coordinator (docs/cli.md), as `room post` does.
    expect(await ok(["message", "to=room:review", "type=note.posted", "body=status?"])).toMatch(
      /^msg_\w+ to=room:review from=coordinator sender=session:session-a consumer=room-timeline delivered=true/
    )
    const after = (await data<{ roster: ReadonlyArray<Member> }>(["inspect", "room:review", "view=roster"])).roster
    expect(after.find((m) => m.address === "branch:review/security")?.status).toBe("left")
    const entries = (await data<{ entries: ReadonlyArray<Entry> }>(["inspect", "room:review", "view=messages"])).entries
    const rows = entries.map((e) => [e.envelope.from, e.envelope.type, e.envelope.sender])
    // The run's own post and the owner's join race at start-up: their order is not fixed.
    expect(rows[0]).toEqual(["run:review", "actor.join", "runtime"])
    expect(rows.slice(1, 3)).toEqual(expect.arrayContaining([
      ["branch:review/security", "actor.join", "session:session-a"],
      ["branch:review/worker", "note.posted", "token"]
    ]))
    expect(rows.slice(3)).toEqual([["branch:review/security", "actor.leave", "session:session-a"], ["coordinator", "note.posted", "session:session-a"]])

    // The owner speaks as the run to one of its branches: stored with the session's provenance.
    await ok(["message", "to=branch:review/security", "from=run:review", "type=task.assign", "body=look at auth"])
    expect(await ok(["inspect", "branch:review/security", "inbox"])).toContain("from=run:review sender=session:session-a type=task.assign")

    // Session B does not speak for session A's run.
    const stranger = await troupe(["message", "to=room:review", "from=branch:review/security", "type=actor.join"], { env: asB })
    expect(stranger.code).not.toBe(0)
    expect(stranger.stderr).toContain("cannot send as branch:review/security: run:review belongs to another session")

    // A run's token does not speak for a sibling run (same owner).
    const forge = `${process.execPath} ${bin} message to=room:review from=branch:review/security type=actor.join body=forged`
    await ok(["spawn", "--template", forge, "--as", "sibling"])
    const waited = await troupe(["wait", "run:sibling", "--timeout", "60s"], { env: asA })
    expect(waited.stdout + waited.stderr).toMatch(/failed/)
    expect(await ok(["logs", "run:sibling", "--stderr"])).toContain("run:sibling cannot send as branch:review/security: an actor sends as its run or one of its branches")
    const final = (await data<{ entries: ReadonlyArray<Entry> }>(["inspect", "room:review", "view=messages"])).entries
    expect(final.filter((e) => e.envelope.type === "actor.join" && e.envelope.from === "branch:review/security")).toHaveLength(1)

    await ok(["kill", "run:review"])
  }, 180_000)
})
