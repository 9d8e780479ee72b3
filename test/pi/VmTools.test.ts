/**
 * The Pi VM tools (`vers_vms`, `vers_vm_create`, `vers_vm_delete`, `vers_vm_branch`,
 * `vers_vm_commit`, `vers_vm_restore`, `vers_vm_state`) on a fake Pi host, through the real
 * daemon (auto-started from the built CLI, as in Pi) against a fake Vers fleet: pi-vers names
 * and parameters, no credential parameter, compact text with JSON details, the Pi session owns
 * the VMs it creates, errors are one line.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { install } from "../../src/pi/Adapter.js"
import { FakePiHost } from "../../src/testing/index.js"
import { startFakeVers, type StartedFakeVers } from "../../src/testing/FakeVers.js"
import { troupeBin } from "../support/exec.js"

let fleet: StartedFakeVers
let dir: string
let pi: FakePiHost
const saved = { base: process.env.VERS_BASE_URL, key: process.env.VERS_API_KEY, home: process.env.HOME }

const text = (r: { content: ReadonlyArray<{ text: string }> }) => r.content.map((c) => c.text).join("\n")

beforeAll(async () => {
  fleet = await startFakeVers({ bootMs: 0 })
  dir = mkdtempSync(join(tmpdir(), "troupe-pi-vms-"))
  // The daemon this session auto-starts inherits these (as from the shell that started Pi).
  process.env.VERS_BASE_URL = fleet.baseUrl
  process.env.VERS_API_KEY = fleet.apiKey
  process.env.HOME = dir
  pi = new FakePiHost()
  install(pi, { config: { home: join(dir, "home"), userRecipes: join(dir, "recipes"), killGraceMs: 300 }, statusIntervalMs: 50 })
})

afterAll(async () => {
  await pi.shutdown()
  await troupeBin(["daemon", "stop"], { env: { ...process.env, TROUPE_HOME: join(dir, "home") } })
  for (const [k, v] of [["VERS_BASE_URL", saved.base], ["VERS_API_KEY", saved.key], ["HOME", saved.home]] as const) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  await fleet.close()
  rmSync(dir, { recursive: true, force: true })
})

describe("Pi VM tools", () => {
  it("are registered with pi-vers' names; no parameter is a credential", () => {
    const names = ["vers_vms", "vers_vm_create", "vers_vm_delete", "vers_vm_branch", "vers_vm_commit", "vers_vm_restore", "vers_vm_state"]
    for (const name of names) expect(pi.tools.has(name)).toBe(true)
    const params = names.flatMap((n) => Object.keys((pi.tools.get(n)!.parameters as { properties: Record<string, unknown> }).properties))
    expect(params.filter((p) => /key|token|secret|password|auth/i.test(p))).toEqual([])
    expect((pi.tools.get("vers_vm_state")!.parameters as { required: Array<string> }).required).toEqual(["vmId", "state"])
  })

  it("create, branch, commit, restore, pause, resume, list owned, delete — as the Pi session", async () => {
    await pi.startSession("pi-s1")
    const updates: Array<string> = []
    const created = await pi.call("vers_vm_create", {}, { onUpdate: (u) => updates.push(text(u)) })
    expect(updates).toEqual(["Creating VM… (waiting until it runs)"])
    const vm = (created.details as { vmId: string; session: string }).vmId
    expect(text(created)).toBe(`Created VM ${vm} (running).`)
    expect((created.details as { session: string }).session).toBe("pi-s1")

    const branched = await pi.call("vers_vm_branch", { vmId: vm })
    const branch = (branched.details as { vmId: string }).vmId
    expect(text(branched)).toBe(`Branched VM ${vm} → ${branch} (running).`)
    const committed = await pi.call("vers_vm_commit", { vmId: vm })
    const commit = (committed.details as { commitId: string }).commitId
    expect(text(committed)).toBe(`Committed VM ${vm} → commit ${commit}.`)
    const restored = await pi.call("vers_vm_restore", { commitId: commit })
    const fromCommit = (restored.details as { vmId: string; parent: string }).vmId
    expect((restored.details as { parent: string }).parent).toBe(commit)

    expect(text(await pi.call("vers_vm_state", { vmId: vm, state: "Paused" }))).toBe(`VM ${vm} is paused.`)
    expect(text(await pi.call("vers_vm_state", { vmId: vm, state: "Running" }))).toBe(`VM ${vm} is running.`)

    const owned = await pi.call("vers_vms", { owned: true })
    expect((owned.details as { count: number }).count).toBe(3)
    expect(text(owned).split("\n")).toEqual([
      `${vm} running (troupe: session pi-s1)`,
      `${branch} running (troupe: session pi-s1, branch of ${vm})`,
      `${fromCommit} running (troupe: session pi-s1, restore of ${commit})`
    ])
    // No result (text or details) carries the key.
    for (const r of [created, branched, committed, restored, owned]) expect(JSON.stringify(r)).not.toContain(fleet.apiKey)

    for (const id of [fromCommit, branch, vm]) expect(text(await pi.call("vers_vm_delete", { vmId: id }))).toBe(`Deleted VM ${id}.`)
    expect(text(await pi.call("vers_vms", {}))).toBe("No VMs.")
    expect(fleet.ledger.live()).toEqual([])
  })

  it("errors are one line naming the VM", async () => {
    await expect(pi.call("vers_vm_delete", { vmId: "0b9a7a52-0000-4000-8000-000000000000" })).rejects.toThrow(
      /^Vers could not find VM 0b9a7a52… \(delete\): it may have been deleted$/
    )
    await expect(pi.call("vers_vm_state", { vmId: "x", state: "Sleeping" })).rejects.toThrow("state must be Paused or Running")
    await expect(pi.call("vers_vm_branch", {})).rejects.toThrow("vmId must be a non-empty string")
  })
})
