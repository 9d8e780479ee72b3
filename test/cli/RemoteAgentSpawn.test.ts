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
import { closeVmFleet, vmFleet } from "../support/vmHosts.js"

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
})
