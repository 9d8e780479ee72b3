/**
 * `troupe spawn --agent --on vm:<id> --pi "<node> <fake-pi.mjs>"` through the built CLI and a
 * real daemon, on a FakeFleet VM: the task settles on the VM (inspect status shows the VM and
 * the role), `output` has the text, and `troupe kill` stops the VM's supervisor and Pi (the fake
 * VM's processes are local: checked in /proc).
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import { join } from "node:path"
import { afterAll } from "vitest"
import { fakePiProgram } from "../../src/testing/FakePi.js"
import { pollUntil, troupeBin } from "../support/exec.js"
import { scratch } from "../support/graph.js"
import { daemonPid } from "../support/procs.js"
import { closeVmFleet, vmFleet } from "../support/vmHosts.js"
import { createHash } from "node:crypto"

afterAll(closeVmFleet, 30_000)

const running = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"))
  } catch {
    return false
  }
}

describe("troupe spawn --agent --on vm:<id> (FakePi on a fake VM)", () => {
  it("spawn → settles on the VM → inspect status/output → kill stops the supervisor and Pi", async () => {
    const { fleet, vm } = await vmFleet()
    const dir = scratch("troupe-remote-agent-cli-")
    const env = {
      ...process.env,
      ...fleet.env,
      TROUPE_HOME: join(dir, "home"),
      NO_COLOR: "1",
      TROUPE_SESSION: "",
      TROUPE_TOKEN: "",
      TROUPE_KILL_GRACE_MS: "300",
      // FakeVm does not chroot: keep the env file inside the VM's root.
      TROUPE_AGENT_ENV_FILE: ".troupe/etc/troupe-agent.sh"
    }
    const troupe = (args: ReadonlyArray<string>) => troupeBin(args, { env, cwd: dir, timeout: 30_000 })
    try {
      const spawned = await troupe(["spawn", "--agent", "--on", `vm:${vm}`, "--pi", `${process.execPath} ${fakePiProgram()!}`, "--as", "far", "hello", "vm"])
      expect(spawned.stderr).toBe("")
      expect(spawned.stdout).toContain("run:far ")

      let status: { data: { state: string; agent: { state: string; turns: number; pid: number } | null } } | undefined
      await pollUntil(async () => {
        status = JSON.parse((await troupe(["inspect", "run:far", "status", "--json"])).stdout)
        return status!.data.agent?.turns === 1
      }, 20_000)
      const text = (await troupe(["inspect", "run:far", "status"])).stdout
      expect(text).toContain(`vm=${vm} role=agent`)
      expect((await troupe(["inspect", "run:far", "output"])).stdout).toContain("done: hello vm")

      const root = fleet.ssh.vm(vm)!.root
      const pid = Number(fs.readFileSync(join(root, ".troupe/agents/far/pid"), "utf8").trim())
      expect(status!.data.agent!.pid).toBe(pid)
      expect(running(pid)).toBe(true)
      expect(fs.statSync(join(root, ".troupe/etc/troupe-agent.sh")).mode & 0o777).toBe(0o600)
      const killed = await troupe(["kill", "run:far"])
      expect(killed.code).toBe(0)
      expect(running(pid)).toBe(false)
    } finally {
      await troupe(["daemon", "stop"])
    }
  }, 90_000)

  it("daemon SIGKILL mid-turn, then a restart: the run re-attaches and folds FakePi's events exactly once", async () => {
    const { fleet, vm } = await vmFleet()
    const dir = scratch("troupe-remote-agent-restart-")
    const home = join(dir, "home")
    const env = {
      ...process.env,
      ...fleet.env,
      TROUPE_HOME: home,
      NO_COLOR: "1",
      TROUPE_SESSION: "",
      TROUPE_TOKEN: "",
      TROUPE_KILL_GRACE_MS: "300",
      TROUPE_AGENT_ENV_FILE: ".troupe/etc/troupe-agent.sh"
    }
    const troupe = (args: ReadonlyArray<string>) => troupeBin(args, { env, cwd: dir, timeout: 30_000 })
    const pi = `env FAKE_PI_CHATTY_PAUSE_MS=40 ${process.execPath} ${fakePiProgram()!} --fake-mode chatty`
    type Status = { data: { state: string; state_dir: string; agent: { state: string; turns: number; stream?: { offset: number; events: number; digest: string } } | null } }
    const status = async (): Promise<Status> => JSON.parse((await troupe(["inspect", "run:rs", "status", "--json"])).stdout)
    try {
      const spawned = await troupe(["spawn", "--agent", "--on", `vm:${vm}`, "--pi", pi, "--as", "rs", "go"])
      expect(spawned.stderr).toBe("")
      let before: Status | undefined
      await pollUntil(async () => {
        before = await status()
        // Streaming: FakePi's turn began (its deltas take ~2 s); text deltas are folded in memory, so the mark on disk is early in the turn.
        return before.data.agent?.state === "streaming" && (before.data.agent.stream?.events ?? 0) > 0
      }, 20_000)
      expect(before!.data.agent!.turns).toBe(0)
      const root = fleet.ssh.vm(vm)!.root
      const supervisorPid = Number(fs.readFileSync(join(root, ".troupe/agents/rs/pid"), "utf8").trim())
      const daemon = daemonPid(home)
      process.kill(daemon, "SIGKILL")
      await pollUntil(async () => !running(daemon), 10_000)
      expect(running(supervisorPid)).toBe(true)

      // The next command starts a new daemon, which re-attaches to the agent on the VM.
      let after: Status | undefined
      await pollUntil(async () => {
        after = await status()
        return after.data.agent?.turns === 1
      }, 40_000)
      expect(after!.data.state).toBe("running")
      const events = await troupe(["events"])
      expect(events.stdout).toContain("Agent rs finished task 1")

      // The fold is FakePi's sequence: every event line of the VM's file, once, in order.
      let digest = ""
      let count = 0
      let emitted = -1
      for (const line of fs.readFileSync(join(root, ".troupe/agents/rs/events.jsonl"), "utf8").split("\n").slice(0, -1)) {
        const record = JSON.parse(line) as { type: string; count?: number }
        if (record.type === "response") continue
        count++
        if (record.type === "fake_pi_emitted") emitted = record.count!
        digest = createHash("sha256").update(digest).update(line).digest("hex")
      }
      await pollUntil(async () => {
        after = await status()
        return after.data.agent?.stream?.events === count
      }, 20_000)
      expect(emitted).toBe(count - 1)
      expect(after!.data.agent!.stream).toMatchObject({ events: count, digest })

      expect((await troupe(["kill", "run:rs"])).code).toBe(0)
      expect(running(supervisorPid)).toBe(false)
    } finally {
      await troupe(["daemon", "stop"])
    }
  }, 120_000)
})
