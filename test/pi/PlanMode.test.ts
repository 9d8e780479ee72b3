/**
 * Plan mode (`/plan`, issue 19 item 4; pi-vers `plan-mode`) on the fake Pi host over the
 * in-process runtime: write-capable tools (Pi's and troupe's) are deactivated and refused,
 * read-only ones and other extensions' tools stay, the plan file is kept, and `/plan off`
 * restores exactly the tools that were active. The VM case is in VmActive.test.ts.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { install } from "../../src/pi/Adapter.js"
import type { PiTool } from "../../src/pi/PiHost.js"
import { planFile } from "../../src/pi/PlanMode.js"
import { Troupe } from "../../src/Troupe.js"
import { FakePiHost } from "../../src/testing/index.js"
import { pollUntil } from "../support/exec.js"

let dir: string
let cwd: string
let recipes: string
let pi: FakePiHost
/** Calls of the fake built-ins that actually ran. */
let ran: Array<string>

/** A stand-in for one of Pi's built-ins: records that it ran. */
const builtin = (name: string): PiTool => ({
  name,
  label: name,
  description: `Pi's ${name}`,
  parameters: { type: "object", properties: {}, additionalProperties: true },
  execute: async () => {
    ran.push(name)
    return { content: [{ type: "text", text: `${name} ran` }], details: undefined }
  }
})

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "troupe-plan-"))
  cwd = join(dir, "work")
  recipes = join(dir, "recipes")
  mkdirSync(cwd)
  mkdirSync(recipes)
  writeFileSync(join(recipes, "greet.json"), JSON.stringify({ description: "say hi", template: "echo hi" }))
  ran = []
  pi = new FakePiHost()
  // Pi's built-ins: read, bash, edit, write active by default; grep, find, ls registered but off.
  for (const name of ["read", "bash", "edit", "write", "grep", "find", "ls"]) pi.registerTool(builtin(name))
  pi.active = pi.active.filter((n) => !["grep", "find", "ls"].includes(n))
  pi.foreignTools.push("other_ext_tool")
  pi.active.push("other_ext_tool")
  const config = { home: join(dir, "home"), userRecipes: recipes, killGraceMs: 300 }
  install(pi, { actors: (session) => Troupe.layer({ ...config, session }), config, statusIntervalMs: 1000 })
})

afterEach(async () => {
  await pi.shutdown()
  rmSync(dir, { recursive: true, force: true })
})

describe("/plan", () => {
  it("deactivates and refuses write-capable tools, keeps read-only ones, and /plan off restores exactly the previous tools", async () => {
    await pi.startSession("s-plan", { cwd })
    expect(pi.active).toContain("greet")
    const before = [...pi.active]

    await pi.command("plan")
    const on = new Set(pi.active)
    for (const kept of ["read", "grep", "find", "ls", "inspect", "bg_list", "bg_logs", "vers_vms", "other_ext_tool", "plan_write"]) expect(on, kept).toContain(kept)
    for (const off of ["write", "edit", "bash", "spawn", "message", "register_tool", "bg_start", "bg_stop", "vers_vm_create", "vers_vm_delete", "vers_vm_copy", "greet"]) {
      expect(on, off).not.toContain(off)
    }
    expect(pi.statuses.at(-1)).toEqual({ key: "troupe-plan", text: "⏸ plan" })
    expect(pi.notifications.at(-1)?.message).toContain(planFile(cwd))

    // Refused even when called: Pi's write never runs, nor does troupe's spawn.
    await expect(pi.call("write", { path: "x", content: "y" })).rejects.toThrow(/^Plan mode is on: write is disabled/)
    await expect(pi.call("spawn", { template: "true" })).rejects.toThrow(/^Plan mode is on: spawn is disabled/)
    await expect(pi.call("greet", {})).rejects.toThrow(/^Plan mode is on: greet is disabled/)
    expect(ran).toEqual([])
    expect((await pi.call("read", {})).content[0]!.text).toBe("read ran")
    expect((await pi.call("inspect", { target: "coordinator" })).content[0]!.text).toMatch(/\S/)

    // The plan file: written (and appended to) under the session's cwd.
    const saved = await pi.call("plan_write", { content: "# Plan\n1. read\n" })
    expect(saved.content[0]!.text).toBe(`Plan saved to ${planFile(cwd)} (15 bytes).`)
    await pi.call("plan_write", { content: "2. change", append: true })
    expect(readFileSync(join(cwd, ".troupe", "plan.md"), "utf8")).toBe("# Plan\n1. read\n2. change")

    await pi.command("plan", "off")
    expect(pi.active).toEqual(before)
    expect(pi.statuses.at(-1)).toEqual({ key: "troupe-plan", text: undefined })
    expect(existsSync(planFile(cwd))).toBe(true)
    expect((await pi.call("write", {})).content[0]!.text).toBe("write ran")
    expect(pi.blocked.map((b) => b.tool)).toEqual(["write", "spawn", "greet"])
  })

  it("a recipe tool that appears during plan mode stays off until /plan off", async () => {
    await pi.startSession("s-plan2", { cwd })
    await pi.command("plan", "on")
    writeFileSync(join(recipes, "later.json"), JSON.stringify({ description: "later", template: "echo later" }))
    expect(await pollUntil(() => pi.tools.has("later"), 15_000)).toBe(true)
    expect(pi.active).not.toContain("later")
    await expect(pi.call("later", {})).rejects.toThrow(/^Plan mode is on: later is disabled/)
    await pi.command("plan", "off")
    expect(pi.active).toContain("later")
    expect(pi.active).toContain("write")
  })

  it("/plan toggles, /plan on twice is harmless, a bad argument gets the usage, and shutdown restores the tools", async () => {
    await pi.startSession("s-plan3", { cwd })
    const before = [...pi.active]
    await pi.command("plan", "sideways")
    expect(pi.notifications.at(-1)).toEqual({ message: expect.stringMatching(/^usage: \/plan \[on\|off\]/), level: "warning" })
    await pi.command("plan")
    await pi.command("plan", "on")
    expect(pi.notifications.at(-1)?.message).toMatch(/already on/)
    await pi.command("plan")
    expect(pi.active).toEqual(before)
    await pi.command("plan", "on")
    expect(pi.active).not.toContain("write")
    await pi.shutdown()
    expect(pi.active).toEqual(before)
  })
})
