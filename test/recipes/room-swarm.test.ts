/**
 * recipes/room-swarm.json end to end through the daemon: participants (branches of the run)
 * join `room:<run>`, post rounds of stub-`pi` contributions that see the earlier ones, leave,
 * and the synthesis step writes the transcript artifact. A failing participant fails the run.
 */
import { readFileSync } from "node:fs"
import { afterAll, describe, expect, it } from "vitest"
import { stubPi, troupe } from "./support.js"

describe("room-swarm", () => {
  const pi = stubPi("p1 in round 1 FAIL")
  afterAll(async () => {
    await troupe(["daemon", "stop"], { env: pi.env })
  })

  it("participants join, post rounds that build on each other, leave; the transcript is an artifact", async () => {
    expect((await troupe(["spawn", "room-swarm", "topic=naming things", "model=m1", "participants=3", "rounds=2", "--as", "swarm"], { env: pi.env })).code).toBe(0)
    const waited = await troupe(["wait", "run:swarm", "--timeout", "60s"], { env: pi.env })
    expect(waited.code).toBe(0)
    expect(waited.stdout).toContain("# Room swarm: naming things")
    expect(waited.stdout).toContain("Room: room:swarm · participants: 3 · contributions: 6")

    const roster = await troupe(["inspect", "room:swarm", "roster", "--json"], { env: pi.env })
    const members = (JSON.parse(roster.stdout) as { data: { roster: Array<{ address: string; status: string; role: string }> } }).data.roster
    expect(members.map((m) => [m.address, m.status]).sort()).toEqual([
      ["branch:swarm/p0", "left"],
      ["branch:swarm/p1", "left"],
      ["branch:swarm/p2", "left"],
      ["run:swarm", "present"]
    ])
    const artifacts = JSON.parse((await troupe(["inspect", "run:swarm", "artifacts", "--json"], { env: pi.env })).stdout) as {
      data: { artifacts: Array<{ name: string; path: string; exists: boolean }> }
    }
    const transcript = artifacts.data.artifacts.find((a) => a.name === "transcript")!
    expect(transcript.exists).toBe(true)
    const text = readFileSync(transcript.path, "utf8")
    expect(text.indexOf("## Round 1")).toBeLessThan(text.indexOf("## Round 2"))
    expect(text.match(/^- \*\*p\d\*\*: answer: /gm)).toHaveLength(6)

    // Six pi calls; every round-2 prompt carries the three round-1 contributions.
    const prompts = pi.calls().map((c) => c.messages[0]!)
    expect(prompts).toHaveLength(6)
    const second = prompts.filter((p) => p.includes("round 2 of 2"))
    expect(second).toHaveLength(3)
    for (const p of second) expect(p.match(/branch:swarm\/p\d \(round 1\): answer:/g)).toHaveLength(3)
  })

  it("when pi fails the participants fail, and so does the run (min_successful = participants)", async () => {
    // The stub fails every prompt containing the marker (the topic is in every prompt).
    expect((await troupe(["spawn", "room-swarm", "topic=p1 in round 1 FAIL maybe", "model=m1", "participants=2", "rounds=2", "wait_ms=1500", "--as", "broken"], { env: pi.env })).code).toBe(0)
    const waited = await troupe(["wait", "run:broken", "--timeout", "60s"], { env: pi.env })
    expect(waited.code).not.toBe(0)
    expect(waited.stderr).toContain("run:broken failed")
  })
})
