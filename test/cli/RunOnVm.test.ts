/**
 * `troupe run --on vm:<id> repo-health` (the built CLI, a FakeFleet VM whose root holds a git
 * repository) prints the same report as `troupe run repo-health` run locally in that directory.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { run } from "../support/exec.js"
import { api } from "../support/fakeFleet.js"
import { closeVmFleet, vmFleet } from "../support/vmHosts.js"

const cli = path.resolve("dist/bin/cli.cjs")
const home = fs.mkdtempSync(path.join(os.tmpdir(), "troupe-runonvm-"))

afterAll(async () => {
  await closeVmFleet()
  fs.rmSync(home, { recursive: true, force: true })
}, 30_000)

const git = (cwd: string, ...args: Array<string>) =>
  execFileSync("git", args, { cwd, env: { ...process.env, GIT_AUTHOR_NAME: "Ada", GIT_AUTHOR_EMAIL: "a@x", GIT_COMMITTER_NAME: "Ada", GIT_COMMITTER_EMAIL: "a@x", GIT_AUTHOR_DATE: "2026-01-02T03:04:05Z", GIT_COMMITTER_DATE: "2026-01-02T03:04:05Z" } })

describe("troupe run --on vm:", () => {
  it("repo-health on a VM prints the same report as locally", async () => {
    const { fleet, vm } = await vmFleet()
    const root = fleet.ssh.vm(vm)!.root
    git(root, "init", "-q")
    fs.writeFileSync(path.join(root, "a.ts"), "// TODO: one\nexport const a = 1\n")
    fs.writeFileSync(path.join(root, "b.md"), "# b\nFIXME later\n")
    git(root, "add", "a.ts", "b.md")
    git(root, "commit", "-q", "-m", "first")
    const env = { ...process.env, ...fleet.env, TROUPE_HOME: home, NO_COLOR: "1" }
    // The recipe folder is staged on the VM at its own path; on FakeVm that is this folder, already there: nothing is rewritten.
    const recipeFiles = () =>
      (fs.readdirSync("recipes", { recursive: true }) as Array<string>).sort().map((f) => {
        const st = fs.statSync(path.join("recipes", f))
        return `${f} ${st.ino} ${st.mtimeMs}`
      })
    const before = recipeFiles()
    expect(before.some((f) => f.startsWith("scripts/repo-health-report.mjs "))).toBe(true)
    const onVm = await run(process.execPath, [cli, "run", "--on", `vm:${vm}`, "repo-health"], { env, cwd: os.tmpdir(), timeout: 90_000 })
    expect(recipeFiles()).toEqual(before)
    const local = await run(process.execPath, [cli, "run", "repo-health"], { env, cwd: root, timeout: 90_000 })
    expect(local.code, local.stderr).toBe(0)
    expect(onVm.code, onVm.stderr).toBe(0)
    expect(onVm.stdout).toContain("first")
    expect(onVm.stdout).toBe(local.stdout)
  }, 120_000)

  it("--on commit:<id>: one VM restored for the run and deleted when it ends", async () => {
    const { fleet, vm } = await vmFleet()
    fs.writeFileSync(path.join(fleet.ssh.vm(vm)!.root, "marker.txt"), "from the commit\n")
    const commit = await api(fleet, "POST", `/vm/${vm}/commit`, {})
    expect(commit.status).toBe(201)
    const before = (await api(fleet, "GET", "/vms")).json.map((v: { vm_id: string }) => v.vm_id)
    const createdBefore = fleet.vers.ledger.created().length
    const env = { ...process.env, ...fleet.env, TROUPE_HOME: home, NO_COLOR: "1" }
    const template = JSON.stringify({ template: ["cat marker.txt", "sh -c 'cat; pwd'"] })
    const result = await run(process.execPath, [cli, "run", "--on", `commit:${commit.json.commit_id}`, "--template", template], { env, cwd: os.tmpdir(), timeout: 90_000 })
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toContain("from the commit")
    // It ran on another VM than the source, restored for the run: a different root.
    expect(result.stdout).not.toContain(vm)
    const after = (await api(fleet, "GET", "/vms")).json.map((v: { vm_id: string }) => v.vm_id)
    expect(after).toEqual(before)
    // Exactly one VM was created for the run (FakeVers' ledger), and none is left.
    expect(fleet.vers.ledger.created().length).toBe(createdBefore + 1)
    expect(fleet.vers.ledger.live().map((v) => v.vm_id)).toEqual(before)
  }, 120_000)

  it("--on golden without VERS_GOLDEN_COMMIT_ID, and a VM without Vers configuration: one sentence each, no crash", async () => {
    const { fleet } = await vmFleet()
    const env: NodeJS.ProcessEnv = { ...process.env, ...fleet.env, TROUPE_HOME: home, NO_COLOR: "1" }
    delete env.VERS_GOLDEN_COMMIT_ID
    const golden = await run(process.execPath, [cli, "run", "--on", "golden", "--template", "true"], { env, cwd: os.tmpdir(), timeout: 60_000 })
    expect(golden.code).not.toBe(0)
    expect(golden.stdout + golden.stderr).toContain("set VERS_GOLDEN_COMMIT_ID")
    const bare: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, TROUPE_HOME: home, NO_COLOR: "1" }
    const unconfigured = await run(process.execPath, [cli, "run", "--on", "vm:0b5e8a52-3f57-4e5b-9d0c-7a1f2e3d4c5b", "--template", "true"], { env: bare, cwd: os.tmpdir(), timeout: 60_000 })
    expect(unconfigured.code).not.toBe(0)
    expect(unconfigured.stdout + unconfigured.stderr).toContain("VERS_API_KEY")
    expect(unconfigured.stderr).not.toMatch(/\n\s+at /)
  }, 120_000)

  it("a recipe file's own folder is staged on the VM: past the size cap the leaf fails with one sentence (locally it runs); within it, nothing on FakeVm is rewritten", async () => {
    const { fleet, vm } = await vmFleet()
    const env = { ...process.env, ...fleet.env, TROUPE_HOME: home, NO_COLOR: "1" }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "troupe-runonvm-recipe-"))
    fs.writeFileSync(path.join(dir, "hello.json"), JSON.stringify({ template: "sh {recipe_dir}/hello.sh" }))
    fs.writeFileSync(path.join(dir, "hello.sh"), "echo hello from the recipe\n")
    // Sparse: 65 MiB by size, nothing on disk.
    fs.writeFileSync(path.join(dir, "big.bin"), "")
    fs.truncateSync(path.join(dir, "big.bin"), 65 * 1024 * 1024)
    const recipe = path.join(dir, "hello.json")
    const local = await run(process.execPath, [cli, "run", recipe], { env, cwd: os.tmpdir(), timeout: 90_000 })
    expect(local.code, local.stderr).toBe(0)
    expect(local.stdout).toBe("hello from the recipe\n")
    const tooBig = await run(process.execPath, [cli, "run", "--on", `vm:${vm}`, recipe], { env, cwd: os.tmpdir(), timeout: 90_000 })
    expect(tooBig.code).not.toBe(0)
    expect(tooBig.stdout + tooBig.stderr).toContain(`Could not stage recipe folder ${dir} on VM `)
    expect(tooBig.stdout + tooBig.stderr).toContain("it holds more than 67108864 bytes (the limit of a staged recipe folder).")
    fs.rmSync(path.join(dir, "big.bin"))
    const stamp = () => ["hello.json", "hello.sh"].map((f) => `${fs.statSync(path.join(dir, f)).ino} ${fs.statSync(path.join(dir, f)).mtimeMs}`)
    const before = stamp()
    const onVm = await run(process.execPath, [cli, "run", "--on", `vm:${vm}`, recipe], { env, cwd: os.tmpdir(), timeout: 90_000 })
    expect(onVm.code, onVm.stderr).toBe(0)
    expect(onVm.stdout).toBe("hello from the recipe\n")
    expect(stamp()).toEqual(before)
    fs.rmSync(dir, { recursive: true, force: true })
  }, 120_000)
})
