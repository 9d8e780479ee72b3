/**
 * Batched follow-ups (issue 19 item 3; pi-actors 0.52: one batch per settled agent turn): the
 * batch state on its own, then the adapter on the fake Pi host over the in-process runtime —
 * twenty runs ending during one agent turn become one follow-up listing twenty, exactly once.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { SessionEvent } from "../../src/domain/Run.js"
import { install } from "../../src/pi/Adapter.js"
import { batchMessage, eventMessage, isUrgent, makeFollowUpBatch } from "../../src/pi/FollowUpBatch.js"
import type { PiMessage } from "../../src/pi/PiHost.js"
import { Troupe } from "../../src/Troupe.js"
import { FakePiHost } from "../../src/testing/index.js"
import { pollUntil } from "../support/exec.js"

const event = (id: number, type = "run.done", data: Record<string, unknown> = {}) =>
  new SessionEvent({ id, session: "s", run_id: `r${id}`, generation: "g1", type, at: 1_000 + id, text: `Run r${id} completed successfully.\nArtifacts: none`, data })

const urgent = (id: number) => event(id, "message", { envelope: { to: "coordinator", from: `run:r${id}`, type: "help.needed", metadata: { attention: "steer" } } })

describe("batch messages", () => {
  it("a batch of one is exactly the single follow-up", () => {
    const e = event(7)
    expect(batchMessage([e])).toEqual(eventMessage(e))
    expect(eventMessage(e).details).toMatchObject({ event_id: 7, run: "run:r7", type: "run.done" })
  })

  it("several events: one line each up to the limit, then the count of the rest; every id in details", () => {
    const events = Array.from({ length: 25 }, (_, i) => event(i + 1))
    const m = batchMessage(events, 20)
    const lines = m.content.split("\n")
    expect(lines[0]).toBe("troupe: 25 events since the last turn (25 run(s) ended):")
    expect(lines.filter((l) => l.startsWith("- run:"))).toHaveLength(20)
    expect(lines).toContain("- run:r1 Run r1 completed successfully.")
    expect(m.content).not.toContain("run:r21 ")
    expect(m.content).toContain("- and 5 more: troupe ps, or inspect target=coordinator view=runs.")
    expect(m.details).toMatchObject({ batch: true, count: 25, event_ids: events.map((e) => e.id) })
    expect((m.details as { events: Array<unknown> }).events).toHaveLength(20)
  })

  it("urgent means a message whose metadata says attention: steer", () => {
    expect(isUrgent(urgent(1))).toBe(true)
    expect(isUrgent(event(2, "message", { envelope: { metadata: { attention: "normal" } } }))).toBe(false)
    expect(isUrgent(event(3))).toBe(false)
  })
})

describe("the batch", () => {
  const make = (options: { closed?: boolean; foreground?: ReadonlyArray<string> } = {}) => {
    const sent: Array<PiMessage> = []
    const steered: Array<PiMessage> = []
    const notes: Array<string> = []
    const batch = makeFollowUpBatch({
      seen: new Set(),
      closed: () => options.closed ?? false,
      foreground: new Set(options.foreground ?? []),
      send: (m) => void sent.push(m),
      steer: (m) => void steered.push(m),
      notify: (t) => void notes.push(t)
    })
    return { batch, sent, steered, notes }
  }

  it("collects until flushed, once per event id; urgent messages steer at once; command.done notifies", () => {
    const { batch, sent, steered, notes } = make({ foreground: ["r4"] })
    for (const e of [event(1), event(2), event(1), urgent(3), event(4), event(5, "command.done", { status: "failed" })]) batch.offer(e)
    expect(steered.map((m) => (m.details as { event_id: number }).event_id)).toEqual([3])
    expect(notes).toHaveLength(1)
    expect(batch.pending()).toBe(2)
    expect(sent).toHaveLength(0)
    batch.flush()
    batch.flush()
    expect(sent).toHaveLength(1)
    expect(sent[0]!.details).toMatchObject({ event_ids: [1, 2] })
    batch.offer(event(2))
    expect(batch.pending()).toBe(0)
  })

  it("sends nothing after shutdown", () => {
    const { batch, sent } = make({ closed: true })
    batch.offer(event(1))
    batch.flush()
    expect(sent).toHaveLength(0)
  })
})

describe("the adapter", () => {
  let dir: string
  let pi: FakePiHost

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "troupe-batch-"))
    const config = { home: join(dir, "home"), userRecipes: join(dir, "recipes"), killGraceMs: 300 }
    pi = new FakePiHost()
    install(pi, { actors: (session) => Troupe.layer({ ...config, session }), config, statusIntervalMs: 40, followUpWindowMs: 50 })
  })

  afterEach(async () => {
    await pi.shutdown()
    rmSync(dir, { recursive: true, force: true })
  })

  const runOf = (m: PiMessage) => (m.details as { run?: string }).run

  it("20 runs ending during one agent turn → one follow-up listing all 20, exactly once", async () => {
    await pi.startSession("s-batch")
    pi.agentStart()
    for (let i = 0; i < 20; i++) {
      const r = await pi.call("spawn", { template: "true", as: `b${i}` })
      expect(r.content[0]!.text).toContain(`spawned run:b${i}`)
    }
    // The status shows them waiting: all twenty reached the adapter while the agent was busy.
    expect(await pollUntil(() => pi.statuses.some((s) => s.text?.endsWith(" · 20 to report") === true), 20_000)).toBe(true)
    expect(pi.followUps).toHaveLength(0)
    pi.agentEnd()
    expect(await pollUntil(() => pi.followUps.length > 0, 10_000)).toBe(true)
    const batch = pi.followUps[0]!
    const details = batch.details as { batch: boolean; count: number; event_ids: Array<number> }
    expect(details).toMatchObject({ batch: true, count: 20 })
    expect(new Set(details.event_ids).size).toBe(20)
    for (let i = 0; i < 20; i++) expect(batch.content).toContain(`- run:b${i} `)

    // One more run, the agent idle: its own follow-up comes next — nothing of the 20 again.
    await pi.call("spawn", { template: "true", as: "after" })
    expect(await pollUntil(() => pi.followUps.length > 1, 10_000)).toBe(true)
    expect(pi.followUps).toHaveLength(2)
    expect(runOf(pi.followUps[1]!)).toBe("run:after")
    expect(details.event_ids).not.toContain((pi.followUps[1]!.details as { event_id: number }).event_id)
  })

  it("an urgent coordinator message steers at once, while the agent is busy", async () => {
    await pi.startSession("s-steer")
    pi.agentStart()
    await pi.call("spawn", { template: "sleep 30", as: "asker" })
    await pi.call("message", { to: "coordinator", from: "run:asker", type: "help.needed", body: "stuck", metadata: { attention: "steer" } })
    expect(await pollUntil(() => pi.steers.length > 0, 10_000)).toBe(true)
    expect(pi.steers[0]!.details).toMatchObject({ run: "run:asker", type: "message" })
    expect(pi.followUps).toHaveLength(0)
  })
})
