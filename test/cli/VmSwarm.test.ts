/**
 * A 3-worker swarm on fake VMs end to end (issue 16 "Done when"): the built CLI and a real
 * daemon over a FakeFleet; `troupe swarm spawn --count 3` restores one VM per worker from a
 * commit of a fake VM (`VERS_GOLDEN_COMMIT_ID`) and runs FakePi there (`--pi "<node>
 * <fake-pi.mjs>"`, the remote agent process); `swarm task` gives each a task, `swarm wait`
 * returns the three results, and `swarm teardown` leaves zero live VMs in the fake ledger and
 * no worker's supervisor or Pi running.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import { join } from "node:path"
import { afterAll } from "vitest"
import { fakePiProgram } from "../../src/testing/FakePi.js"
import { troupeBin } from "../support/exec.js"
import { api, startFleet, type StartedFleet } from "../support/fakeFleet.js"
import { scratch } from "../support/graph.js"

let fleet: StartedFleet | undefined
afterAll(async () => {
  await fleet?.close()
}, 30_000)

const running = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"))
  } catch {
    return false
  }
}

interface Worker {
  readonly label: string
  readonly run: string
  readonly vm_id: string | null
  readonly state: string
  readonly turns: number
  readonly last_output: string | null
  readonly error?: string
}

describe("troupe swarm on fake VMs (FakePi as the VMs' pi)", () => {
  it("spawn --count 3 on restored VMs → a task each → wait returns three results → teardown leaves zero VMs", async () => {
    fleet = await startFleet()
    const f = fleet
    // The golden: a commit of a fake VM (the base VM is deleted, so only workers' VMs are live).
    const base = await api(f, "POST", "/vm/new_root", { vm_config: {} })
    expect(base.status).toBe(201)
    const committed = await api(f, "POST", `/vm/${base.json.vm_id}/commit`, {})
    expect(committed.status).toBe(201)
    const commit: string = committed.json.commit_id
    expect((await api(f, "DELETE", `/vm/${base.json.vm_id}`)).status).toBe(200)
    expect(f.vers.ledger.live()).toEqual([])

    const dir = scratch("troupe-vm-swarm-cli-")
    const env = {
      ...process.env,
      ...f.env,
      VERS_GOLDEN_COMMIT_ID: commit,
      TROUPE_HOME: join(dir, "home"),
      NO_COLOR: "1",
      TROUPE_SESSION: "",
      TROUPE_TOKEN: "",
      TROUPE_KILL_GRACE_MS: "300",
      // FakeVm does not chroot: keep the env file inside the VM's root.
      TROUPE_AGENT_ENV_FILE: ".troupe/etc/troupe-agent.sh"
    }
    const troupe = (args: ReadonlyArray<string>) => troupeBin(args, { env, cwd: dir, timeout: 60_000 })
    const json = async <A>(args: ReadonlyArray<string>): Promise<A> => {
      const r = await troupe([...args, "--json"])
      if (r.code !== 0 || r.stdout === "") throw new Error(`troupe ${args.join(" ")} exited ${r.code ?? r.signal}: ${r.stderr}`)
      return JSON.parse(r.stdout) as A
    }
    try {
      const pi = `env FAKE_PI_DELAY_MS=200 ${process.execPath} ${fakePiProgram()!} --fake-mode slow`
      const spawned = await json<{ placement: string; commit_id: string; workers: ReadonlyArray<Worker>; failures: ReadonlyArray<unknown> }>(
        ["swarm", "spawn", "vs", "--count", "3", "--pi", pi]
      )
      expect(spawned.failures).toEqual([])
      expect(spawned).toMatchObject({ placement: "vm", commit_id: commit })
      expect(spawned.workers.map((w) => [w.label, w.state])).toEqual([["agent-1", "idle"], ["agent-2", "idle"], ["agent-3", "idle"]])
      const vmIds = spawned.workers.map((w) => w.vm_id!)
      expect(new Set(vmIds).size).toBe(3)
      // The workers' VMs exist (restored from the commit) and are the only live ones.
      expect(f.vers.ledger.live().map((v) => v.vm_id).sort()).toEqual([...vmIds].sort())
      for (const id of vmIds) expect(f.ssh.vm(id)).toBeDefined()

      for (const w of spawned.workers) {
        const sent = await troupe(["swarm", "task", "vs", w.label, `job ${w.label}`])
        expect(sent.code).toBe(0)
      }
      const done = await json<{ timed_out: boolean; waited: ReadonlyArray<string>; workers: ReadonlyArray<Worker> }>(["swarm", "wait", "vs", "--timeout", "40s"])
      expect(done.timed_out).toBe(false)
      expect(done.waited.length).toBeGreaterThan(0)
      expect(done.workers.map((w) => [w.label, w.state, w.turns, w.last_output])).toEqual([
        ["agent-1", "idle", 1, "done: job agent-1"],
        ["agent-2", "idle", 1, "done: job agent-2"],
        ["agent-3", "idle", 1, "done: job agent-3"]
      ])
      const text = (await troupe(["swarm", "wait", "vs"])).stdout
      expect(text).toContain("=== agent-2 [idle] ===\ndone: job agent-2")

      // Each worker's Pi ran on its own VM: the supervisor's pid file is in that VM's root (FakeVm's processes are local).
      const pids = spawned.workers.map((w) => Number(fs.readFileSync(join(f.ssh.vm(w.vm_id!)!.root, ".troupe/agents", w.run, "pid"), "utf8").trim()))
      expect(pids.every(running)).toBe(true)

      const down = await json<{ stopped: ReadonlyArray<string>; vms_deleted: ReadonlyArray<string> }>(["swarm", "teardown", "vs"])
      expect([...down.vms_deleted].sort()).toEqual([...vmIds].sort())
      expect(down.stopped).toEqual(["vs-agent-1", "vs-agent-2", "vs-agent-3", "vs"])
      expect(f.vers.ledger.live()).toEqual([])
      expect(pids.some(running)).toBe(false)
    } finally {
      await troupe(["daemon", "stop"])
    }
  }, 120_000)
})
