/**
 * `troupe spawn --agent` through the built CLI and a real daemon, with FakePi as Pi (`PI_PATH`
 * in the CLI's environment names a wrapper): the task settles (inspect status polled: agent
 * runs do not end by themselves), `output` has the text, the owner's events carry the
 * `agent.settled` follow-up, and `troupe kill` leaves no process of the run.
 */
import { describe, expect, it } from "@effect/vitest"
import { chmodSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fakePiProgram } from "../../src/testing/FakePi.js"
import { pollUntil, troupeBin } from "../support/exec.js"
import { scratch } from "../support/graph.js"
import { alive, pidsWithEnv } from "../support/procs.js"

const runPids = (home: string, run: string) => {
  const ofRun = new Set(pidsWithEnv("TROUPE_RUN", run))
  return pidsWithEnv("TROUPE_HOME", home).filter((pid) => ofRun.has(pid))
}

describe("troupe spawn --agent (FakePi)", () => {
  it("spawn → settles → inspect status/output, events follow-up → kill leaves no process", async () => {
    const dir = scratch("troupe-agent-cli-")
    const home = join(dir, "home")
    const pi = join(dir, "pi")
    writeFileSync(pi, `#!/bin/sh\nexec "${process.execPath}" "${fakePiProgram()!}" "$@" --fake-mode normal\n`)
    chmodSync(pi, 0o755)
    const env = { ...process.env, TROUPE_HOME: home, NO_COLOR: "1", TROUPE_SESSION: "", TROUPE_TOKEN: "", TROUPE_KILL_GRACE_MS: "300", PI_PATH: pi }
    const troupe = (args: ReadonlyArray<string>) => troupeBin(args, { env, cwd: dir, timeout: 30_000 })
    try {
      const spawned = await troupe(["spawn", "--agent", "--as", "a1", "hello", "there"])
      expect(spawned.stderr).toBe("")
      expect(spawned.stdout).toContain("run:a1 ")
      expect(spawned.stdout).toContain("(agent,")

      let status: { data: { state: string; agent: { state: string; turns: number; pid: number } | null } } | undefined
      await pollUntil(async () => {
        status = JSON.parse((await troupe(["inspect", "run:a1", "status", "--json"])).stdout)
        return status!.data.agent?.turns === 1
      }, 10_000)
      expect(status!.data).toMatchObject({ state: "running", agent: { state: "idle", turns: 1 } })
      const text = (await troupe(["inspect", "run:a1", "status"])).stdout
      expect(text).toContain("agent=idle turns=1")

      expect((await troupe(["inspect", "run:a1", "output"])).stdout).toContain("done: hello there")
      const events = await troupe(["events"])
      expect(events.stdout).toContain("Agent a1 finished task 1:")

      const pid = status!.data.agent!.pid
      expect(alive(pid)).toBe(true)
      expect(runPids(home, "a1")).toContain(pid)
      const killed = await troupe(["kill", "run:a1"])
      expect(killed.code).toBe(0)
      expect(alive(pid)).toBe(false)
      expect(runPids(home, "a1")).toEqual([])
    } finally {
      await troupe(["daemon", "stop"])
    }
  }, 60_000)

  it("troupe run refuses an agent recipe, naming spawn", async () => {
    const dir = scratch("troupe-agent-run-")
    writeFileSync(join(dir, "helper.json"), JSON.stringify({ kind: "agent", task: "t" }))
    const r = await troupeBin(["run", "helper"], { env: { ...process.env, TROUPE_HOME: join(dir, "home"), TROUPE_RECIPES: dir, NO_COLOR: "1" }, cwd: dir })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("helper is an agent recipe: start it as an actor with troupe spawn helper")
  })
})
