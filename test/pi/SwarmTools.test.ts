/**
 * The Pi swarm and lieutenant tools on a fake Pi host, through the real daemon (auto-started
 * from the built CLI) with FakePi as the daemon's `PI_PATH`: pi-vers' names and parameters and
 * no credential parameter; a local swarm spawned, tasked, waited on and torn down; a
 * lieutenant created, sent to and read; session shutdown keeps lieutenants (detached), and a
 * new session destroys them.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { install } from "../../src/pi/Adapter.js"
import { FakePiHost } from "../../src/testing/index.js"
import { pollUntil, troupeBin } from "../support/exec.js"
import { fakePiFor, gitRepo, worktreesOf } from "../support/swarm.js"

let dir: string
let repo: string
let pi: FakePiHost
const saved = { piPath: process.env.PI_PATH, golden: process.env.VERS_GOLDEN_COMMIT_ID }

const text = (r: { content: ReadonlyArray<{ text: string }> }) => r.content.map((c) => c.text).join("\n")

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "troupe-pi-swarm-"))
  repo = await Effect.runPromise(gitRepo)
  // The daemon this session auto-starts inherits it (as from the shell that started Pi).
  process.env.PI_PATH = fakePiFor("pi-tools")
  delete process.env.VERS_GOLDEN_COMMIT_ID
  pi = new FakePiHost()
  install(pi, { config: { home: join(dir, "home"), userRecipes: join(dir, "recipes"), killGraceMs: 300 }, statusIntervalMs: 50 })
})

afterAll(async () => {
  await pi.shutdown()
  await troupeBin(["daemon", "stop"], { env: { ...process.env, TROUPE_HOME: join(dir, "home") } })
  for (const [k, v] of [["PI_PATH", saved.piPath], ["VERS_GOLDEN_COMMIT_ID", saved.golden]] as const) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  rmSync(dir, { recursive: true, force: true })
})

describe("Pi swarm and lieutenant tools", () => {
  it("are registered with pi-vers' names; no parameter is a credential", () => {
    const names = [
      "vers_swarm_spawn", "vers_swarm_task", "vers_swarm_wait", "vers_swarm_status", "vers_swarm_read", "vers_swarm_teardown", "vers_swarm_discover",
      "vers_lt_create", "vers_lt_send", "vers_lt_read", "vers_lt_status", "vers_lt_pause", "vers_lt_resume", "vers_lt_destroy", "vers_lt_discover"
    ]
    for (const name of names) expect(pi.tools.has(name)).toBe(true)
    const params = names.flatMap((n) => Object.keys((pi.tools.get(n)!.parameters as { properties: Record<string, unknown> }).properties))
    expect(params.filter((p) => /key|token|secret|password|auth/i.test(p))).toEqual([])
    expect((pi.tools.get("vers_swarm_task")!.parameters as { required: Array<string> }).required).toEqual(["agentId", "task"])
  })

  it("a local swarm: spawn, task, wait, read, teardown", async () => {
    await pi.startSession("pi-swarm", { cwd: repo })
    const spawned = await pi.call("vers_swarm_spawn", { count: 2, local: true })
    expect(text(spawned)).toContain("Swarm swarm (local, 2 workers; posts in room:swarm)")
    await pi.call("vers_swarm_task", { agentId: "agent-1", task: "alpha" })
    await pi.call("vers_swarm_task", { agentId: "agent-2", task: "beta" })
    const waited = await pi.call("vers_swarm_wait", { timeoutSeconds: 30 })
    expect(text(waited)).toContain("=== agent-1 [idle] ===\ndone: alpha")
    expect(text(waited)).toContain("=== agent-2 [idle] ===\ndone: beta")
    expect((waited.details as { timed_out: boolean }).timed_out).toBe(false)
    expect(text(await pi.call("vers_swarm_read", { agentId: "agent-2", tail: 4 }))).toBe("[agent-2] (idle):\nbeta")
    expect(await Effect.runPromise(worktreesOf(repo))).toHaveLength(3)
    const down = await pi.call("vers_swarm_teardown", {})
    expect(text(down)).toBe("Swarm swarm torn down: 3 runs stopped, 0 VMs deleted.")
    expect(await Effect.runPromise(worktreesOf(repo))).toHaveLength(1)
    await expect(pi.call("vers_swarm_status", {})).rejects.toThrow("no swarm swarm in this session")
  }, 60_000)

  it("a lieutenant: create, send, read; kept across a session shutdown; destroyed from the next session", async () => {
    await pi.shutdown()
    await pi.startSession("pi-lt")
    const created = await pi.call("vers_lt_create", { name: "infra", role: "owns deploys", local: true })
    expect(text(created)).toContain(`Lieutenant "infra" is ready.`)
    const idle = async () => ((await pi.call("vers_lt_status", { name: "infra" })).details as { lieutenants: Array<{ state: string; tasks: number }> }).lieutenants[0]!
    expect(await pollUntil(async () => (await idle()).state === "idle", 20_000)).toBe(true)
    expect(text(await pi.call("vers_lt_send", { name: "infra", message: "deploy it" }))).toBe("Sent to infra (prompt).")
    expect(await pollUntil(async () => { const l = await idle(); return l.state === "idle" && l.tasks === 2 }, 20_000)).toBe(true)
    const read = await pi.call("vers_lt_read", { name: "infra", history: 1 })
    expect(text(read)).toContain("=== Current (idle) ===\ndone: deploy it")
    expect(text(read)).toContain("=== Response 1 ===")
    await pi.shutdown()
    await pi.startSession("pi-lt")
    expect(text(await pi.call("vers_lt_status", {}))).toMatch(/^infra \[idle\] local, 2 tasks — owns deploys$/)
    expect(text(await pi.call("vers_lt_destroy", { name: "*" }))).toBe("Destroyed infra.")
  }, 60_000)
})
