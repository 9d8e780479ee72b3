/**
 * Run-owned VMs through the built CLI and a real daemon against a fake Vers fleet:
 * - a VM held for a run is deleted when the run ends (kill), its ledger record says `scope`;
 * - SIGKILL the daemon while a run owns VMs; the next daemon reaps the run (lost), and startup
 *   reconciliation deletes its VM (the fleet's ledger shows it gone), keeps the `--keep` one
 *   and the session's own VM, and reports what it did (daemon log line + `vm.reconciled` event).
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import Database from "better-sqlite3"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startFakeVers, type StartedFakeVers } from "../../src/testing/FakeVers.js"
import { pollUntil, troupeBin, troupeBinPath } from "../support/exec.js"

let fleet: StartedFakeVers
/** A directory with a `troupe` script (the built CLI), for actor processes' PATH. */
let troupeDir: string
const envs: Array<NodeJS.ProcessEnv> = []
const dirs: Array<string> = []

const freshEnv = (): NodeJS.ProcessEnv => {
  const home = mkdtempSync(join(tmpdir(), "troupe-vmrec-"))
  const user = mkdtempSync(join(tmpdir(), "troupe-vmrec-user-"))
  dirs.push(home, user)
  const env = { ...process.env, HOME: user, TROUPE_HOME: home, VERS_BASE_URL: fleet.baseUrl, VERS_API_KEY: fleet.apiKey, TROUPE_SESSION: "" }
  envs.push(env)
  return env
}

const troupe = async (env: NodeJS.ProcessEnv, args: ReadonlyArray<string>) => {
  const r = await troupeBin(args, { env })
  if (r.code !== 0) throw new Error(`troupe ${args.join(" ")} exited ${r.code}: ${r.stderr}`)
  return r.stdout.trim()
}

const live = () => new Set(fleet.vms().map((v) => v.vm_id))
const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

beforeAll(async () => {
  fleet = await startFakeVers({ bootMs: 0 })
  troupeDir = mkdtempSync(join(tmpdir(), "troupe-vmrec-bin-"))
  dirs.push(troupeDir)
  writeFileSync(join(troupeDir, "troupe"), `#!/bin/sh\nexec "${process.execPath}" "${troupeBinPath}" "$@"\n`)
  chmodSync(join(troupeDir, "troupe"), 0o755)
})

afterAll(async () => {
  for (const env of envs) await troupeBin(["daemon", "stop"], { env })
  await fleet.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe("run-owned VMs", () => {
  it("a VM held for a run is deleted when the run ends; the ledger says scope", async () => {
    const env = freshEnv()
    await troupe(env, ["spawn", "--template", "sleep 600", "--as", "holder"])
    const vm = await troupe(env, ["vm", "create", "--run", "holder", "-q"])
    expect(live().has(vm)).toBe(true)
    const status = JSON.parse(await troupe(env, ["vm", "status", vm, "--json"])) as { labels: Record<string, string>; ledger: { run: string } }
    expect(status.labels["troupe-run"]).toBe("holder")
    expect(status.ledger.run).toBe("holder")
    await troupe(env, ["kill", "run:holder"])
    expect(await pollUntil(() => !live().has(vm))).toBe(true)
    expect(await troupe(env, ["vm", "ls", "--owned"])).toBe("no VMs")
    // A run that has ended cannot own a new VM.
    const late = await troupeBin(["vm", "create", "--run", "holder"], { env })
    expect([late.code, late.stderr]).toEqual([2, "error: run:holder has ended (killed): a VM it owned would be deleted at once\n"])
    // The daemon holds the store exclusively: stop it to read the ledger.
    await troupe(env, ["daemon", "stop"])
    const db = new Database(join(env.TROUPE_HOME!, "troupe.db"), { readonly: true })
    try {
      expect(db.prepare("SELECT vm_id, run, source, delete_reason FROM vm_ledger").all()).toEqual([{ vm_id: vm, run: "holder", source: "root", delete_reason: "scope" }])
    } finally {
      db.close()
    }
  })

  it("daemon SIGKILL while a run owns VMs: the next daemon deletes the orphan, keeps --keep and session VMs, and reports it", async () => {
    const env = freshEnv()
    await troupe(env, ["spawn", "--template", "sleep 600", "--as", "owner"])
    const orphan = await troupe(env, ["vm", "create", "--run", "owner", "-q"])
    const kept = await troupe(env, ["vm", "create", "--run", "owner", "--keep", "-q"])
    const mine = await troupe(env, ["vm", "create", "-q"])
    // All three exist before the crash.
    expect([orphan, kept, mine].every((v) => live().has(v))).toBe(true)

    const pid = Number(readFileSync(join(env.TROUPE_HOME!, "daemon.pid"), "utf8").trim())
    process.kill(pid, "SIGKILL")
    expect(await pollUntil(() => !alive(pid))).toBe(true)
    // Nobody deleted anything: the owner died without its finalizers.
    expect([orphan, kept, mine].every((v) => live().has(v))).toBe(true)

    // The next client starts a daemon: it reaps the run (lost) and reconciles in the background.
    expect(await troupe(env, ["ps"])).toContain("run=owner status=lost")
    expect(await pollUntil(() => !live().has(orphan))).toBe(true)
    expect(live().has(kept)).toBe(true)
    expect(live().has(mine)).toBe(true)

    // The report: a `vm.reconciled` event to the owning session, and the daemon's log line.
    expect(await pollUntil(async () => (await troupe(env, ["events"])).includes(`vm.reconciled run:owner Deleted VM ${orphan}: run owner is lost (startup reconciliation)`))).toBe(true)
    expect(readFileSync(join(env.TROUPE_HOME!, "daemon.log"), "utf8")).toContain(`VM reconciliation: deleted 1 orphaned VM(s) (${orphan} of run:owner)`)
    const owned = await troupe(env, ["vm", "ls", "--owned"])
    expect(owned).toContain(`vm=${kept} `)
    expect(owned).toContain("run=owner kept")
    expect(owned).toContain(`vm=${mine} `)
    expect(owned).not.toContain(orphan)

    await troupe(env, ["vm", "delete", kept])
    await troupe(env, ["vm", "delete", mine])
    expect(fleet.ledger.live()).toEqual([])
  })

  it("a `troupe vm create` inside an actor process gives a VM owned by its run, deleted when the run ends", async () => {
    const env = freshEnv()
    env.PATH = `${troupeDir}:${env.PATH ?? ""}`
    await troupe(env, ["spawn", "--template", '["troupe vm create -q", "sleep 600"]', "--as", "inner"])
    let owned = ""
    expect(await pollUntil(async () => (owned = await troupe(env, ["vm", "ls", "--owned"])).includes("run=inner"))).toBe(true)
    const vm = /vm=(\S+)/.exec(owned)![1]!
    expect(live().has(vm)).toBe(true)
    await troupe(env, ["kill", "run:inner"])
    expect(await pollUntil(() => !live().has(vm))).toBe(true)

    // A graceful daemon stop ends the runs, and their VMs with them.
    await troupe(env, ["spawn", "--template", "sleep 600", "--as", "last"])
    const last = await troupe(env, ["vm", "create", "--run", "last", "-q"])
    expect(live().has(last)).toBe(true)
    await troupe(env, ["daemon", "stop"])
    expect(live().has(last)).toBe(false)
  })
})
