/**
 * Batched follow-ups across a daemon restart (issue 19 item 3): the adapter on the fake Pi host
 * over the real daemon (started on demand, as in Pi). Ten runs end during a turn, the daemon is
 * stopped, ten more runs end (the next tool call starts a new daemon; the event follower
 * reconnects and replays from its cursor) — still one follow-up listing all twenty, each event
 * id once, and nothing of them afterwards.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, beforeEach, expect, it } from "vitest"
import { daemonPid } from "../../src/daemon/Client.js"
import { install } from "../../src/pi/Adapter.js"
import { FakePiHost } from "../../src/testing/index.js"
import { pollUntil, troupeBin } from "../support/exec.js"

let dir: string
let home: string
let pi: FakePiHost

const env = () => ({ ...process.env, TROUPE_HOME: home, NO_COLOR: "1", TROUPE_SESSION: "", TROUPE_TOKEN: "", TROUPE_KILL_GRACE_MS: "300" })

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "troupe-batch-restart-"))
  home = join(dir, "home")
  pi = new FakePiHost()
  install(pi, { config: { home, userRecipes: join(dir, "recipes"), killGraceMs: 300 }, statusIntervalMs: 40, followUpWindowMs: 50 })
})

afterEach(async () => {
  await pi.shutdown()
  await troupeBin(["daemon", "stop"], { env: env(), timeout: 60_000 })
  rmSync(dir, { recursive: true, force: true })
})

/** Spawns `template` as `as`; a call that finds the daemon gone is tried again (the next one reconnects). */
const spawn = async (as: string) => {
  let last = ""
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const r = await pi.call("spawn", { template: "true", as })
      return r.content[0]!.text
    } catch (error) {
      last = String(error)
      if (!/daemon/.test(last)) throw error
    }
  }
  throw new Error(`spawn ${as} kept failing: ${last}`)
}

const waiting = (n: number) => pi.statuses.some((s) => s.text?.endsWith(` · ${n} to report`) === true)

it("20 runs ending in one turn across a daemon restart → one follow-up listing 20, no re-delivery, nothing lost", async () => {
  await pi.startSession("s-restart")
  pi.agentStart()
  for (let i = 0; i < 10; i++) expect(await spawn(`a${i}`)).toContain(`spawned run:a${i}`)
  expect(await pollUntil(() => waiting(10), 30_000)).toBe(true)

  const first = daemonPid(home)
  expect(first).toBeDefined()
  const stop = await troupeBin(["daemon", "stop"], { env: env(), timeout: 60_000 })
  expect(stop.code, stop.stderr).toBe(0)

  for (let i = 0; i < 10; i++) expect(await spawn(`b${i}`)).toContain(`spawned run:b${i}`)
  const second = daemonPid(home)
  expect(second).toBeDefined()
  expect(second).not.toBe(first)
  expect(await pollUntil(() => waiting(20), 30_000)).toBe(true)
  expect(pi.followUps).toHaveLength(0)

  pi.agentEnd()
  expect(await pollUntil(() => pi.followUps.length > 0, 15_000)).toBe(true)
  const details = pi.followUps[0]!.details as { count: number; event_ids: Array<number> }
  expect(details.count).toBe(20)
  expect(new Set(details.event_ids).size).toBe(20)
  for (const id of [...Array.from({ length: 10 }, (_, i) => `a${i}`), ...Array.from({ length: 10 }, (_, i) => `b${i}`)]) {
    expect(pi.followUps[0]!.content).toContain(`- run:${id} `)
  }

  // The next run's follow-up comes next, alone: nothing of the twenty was delivered again.
  await spawn("after")
  expect(await pollUntil(() => pi.followUps.length > 1, 15_000)).toBe(true)
  expect(pi.followUps).toHaveLength(2)
  expect(pi.followUps[1]!.details).toMatchObject({ run: "run:after" })
})
