/**
 * `troupe swarm …` and `troupe lt …` through the built CLI and a real daemon, with FakePi as Pi
 * (`PI_PATH`): a local swarm spawned, tasked, waited on (JSON), torn down; a lieutenant created,
 * sent to, read and destroyed; errors are one line naming what to do.
 */
import { describe, expect, it } from "@effect/vitest"
import { join } from "node:path"
import { pollUntil, troupeBin } from "../support/exec.js"
import { scratch } from "../support/graph.js"
import { fakePiFor } from "../support/swarm.js"

describe("troupe swarm / troupe lt (FakePi)", () => {
  it("swarm spawn → task → wait --json → teardown; lt create → send → read → destroy; one-line errors", async () => {
    const dir = scratch("troupe-swarm-cli-")
    const env = { ...process.env, TROUPE_HOME: join(dir, "home"), NO_COLOR: "1", TROUPE_SESSION: "", TROUPE_TOKEN: "", TROUPE_KILL_GRACE_MS: "300", PI_PATH: fakePiFor("cli", { "-a": "slow" }, 200), VERS_GOLDEN_COMMIT_ID: "" }
    const troupe = (args: ReadonlyArray<string>) => troupeBin(args, { env, cwd: dir, timeout: 30_000 })
    try {
      const spawned = await troupe(["swarm", "spawn", "cs", "--labels", "a,b", "--no-worktree"])
      expect(spawned.code).toBe(0)
      expect(spawned.stdout).toContain("swarm=cs placement=local workers=2 room=room:cs")
      expect(spawned.stdout).toMatch(/ {2}a state=idle run=cs-a turns=0/)
      expect(spawned.stderr).toContain("swarm cs: a waiting for Pi to be ready")
      expect((await troupe(["swarm", "task", "cs", "a", "alpha"])).stdout).toBe("sent to a (run:cs-a); collect with: troupe swarm wait cs\n")
      const waited = JSON.parse((await troupe(["swarm", "wait", "cs", "--timeout", "30s", "--json"])).stdout)
      // `waited` is ["a"], or [] when a's task settled before this process got to look (a loaded machine).
      expect(waited).toMatchObject({ swarm: "cs", timed_out: false })
      expect(waited.waited.filter((l: string) => l !== "a")).toEqual([])
      expect(waited.workers.map((w: { label: string; last_output: string | null }) => [w.label, w.last_output])).toEqual([["a", "done: alpha"], ["b", null]])
      expect((await troupe(["swarm", "read", "cs", "a"])).stdout).toBe("[a] (idle, 1 tasks):\ndone: alpha\n")
      expect((await troupe(["swarm", "teardown", "cs"])).stdout).toBe("swarm cs torn down: 3 runs stopped, 0 VMs deleted\n")
      const missing = await troupe(["swarm", "status", "cs"])
      expect(missing.code).not.toBe(0)
      expect(missing.stderr).toBe("error: no swarm cs in this session (see: troupe swarm discover)\n")

      const created = await troupe(["lt", "create", "ops", "--role", "runs the ops", "--local", "--json"])
      expect(JSON.parse(created.stdout)).toMatchObject({ name: "ops", run: "lt-ops", role: "runs the ops", placement: "local" })
      await pollUntil(async () => JSON.parse((await troupe(["lt", "status", "ops", "--json"])).stdout)[0].state === "idle", 20_000)
      expect(JSON.parse((await troupe(["lt", "send", "ops", "check the disks", "--json"])).stdout)).toEqual({ name: "ops", mode: "prompt", auto: false })
      await pollUntil(async () => JSON.parse((await troupe(["lt", "read", "ops", "--json"])).stdout).last_output === "done: check the disks", 20_000)
      const read = JSON.parse((await troupe(["lt", "read", "ops", "--json"])).stdout)
      expect(read.history).toHaveLength(1)
      expect((await troupe(["lt", "destroy", "*"])).stdout).toBe("destroyed ops\n")
      expect((await troupe(["lt", "status"])).stdout).toBe("no lieutenants\n")
      const bad = await troupe(["lt", "create", "../x", "--role", "r"])
      expect(bad.stderr).toBe(`error: lieutenant name "../x" must be 1-40 letters, digits, _ . - (starting with a letter or digit)\n`)
    } finally {
      await troupe(["daemon", "stop"])
    }
  }, 90_000)
})
