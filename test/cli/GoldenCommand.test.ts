/**
 * `troupe vm golden build | ls` as a user runs them: the built CLI through an auto-started
 * daemon (which ledgers the build VM), SSH in-process, against a FakeFleet on loopback. Pi
 * comes from a local tarball under an npm prefix inside the VM root (no network).
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startFleet, type StartedFleet } from "../support/fakeFleet.js"
import { troupeBin, troupeBinPath } from "../support/exec.js"
import { fakePiTarball, filesContaining, vmNpmPrefix } from "../support/golden.js"

let fleet: StartedFleet
let env: NodeJS.ProcessEnv
const dirs: Array<string> = []
const llmKey = "sk-llm-cli-golden-0123456789"

const tempDir = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix))
  dirs.push(d)
  return d
}

beforeAll(async () => {
  fleet = await startFleet()
  env = { PATH: process.env.PATH, HOME: tempDir("troupe-golden-user-"), TROUPE_HOME: tempDir("troupe-golden-home-"), LLM_PROXY_KEY: llmKey, ...fleet.env }
}, 30_000)

afterAll(async () => {
  await troupeBin(["daemon", "stop"], { env })
  await fleet.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
}, 30_000)

describe("troupe vm golden", () => {
  it("build prints progress on stderr and the record on stdout; ls lists it; no VM is left and no secret is in the commit", async () => {
    expect((await troupeBin(["vm", "golden", "ls"], { env })).stdout).toBe("no golden images recorded (build one with: troupe vm golden build)\n")
    const r = await troupeBin(["vm", "golden", "build", "--name", "cli", "--pi-package", fakePiTarball(), "--npm-prefix", vmNpmPrefix, "--json"], { env, timeout: 120_000 })
    expect(r.stderr).toMatch(/\[1\/7\] Node >= 20: present .* \(skipped\)\n/)
    expect(r.stderr).toMatch(/\[3\/7\] Pi \(.*\): installed 1\.6\.0\n/)
    expect(r.stderr).toMatch(/deleted the build VM /)
    expect(r.code).toBe(0)
    const image = JSON.parse(r.stdout)
    expect(image).toMatchObject({ name: "cli", from: null, vm_kept: false })
    expect(`${r.stdout}${r.stderr}`).not.toContain(llmKey)
    expect(`${r.stdout}${r.stderr}`).not.toContain(fleet.vers.apiKey)

    expect((await troupeBin(["vm", "golden", "ls", "-q"], { env })).stdout).toBe(`${image.commit_id}\n`)
    const ls = await troupeBin(["vm", "golden", "ls"], { env })
    expect(ls.stdout).toMatch(new RegExp(`^commit=${image.commit_id} name=cli created=\\S+ troupe=\\S+ \\(node present [^,]+, git present [^,]+, pi installed 1\\.6\\.0, workspace configured, broker installed exec-broker-[0-9a-f]{12}\\.mjs\\)\\n$`))

    expect(fleet.vers.ledger.created().map((v) => v.vm_id)).toEqual([image.vm_id])
    expect(fleet.vers.ledger.live()).toEqual([])
    expect((await troupeBin(["vm", "ls", "--owned", "--json"], { env })).stdout).toBe("[]\n")
    expect(filesContaining(fleet.ssh.commitRoot(image.commit_id), [llmKey, fleet.vers.apiKey])).toEqual([])
  }, 150_000)

  it("a failed build says which step failed in one line and leaves no VM", async () => {
    const before = fleet.vers.ledger.created().length
    const r = await troupeBin(["vm", "golden", "build", "--pi-package", join(tmpdir(), "no-such-pi.tgz"), "--npm-prefix", vmNpmPrefix], { env, timeout: 120_000 })
    expect(r.code).not.toBe(0)
    const last = r.stderr.trim().split("\n").at(-1)!
    expect(last).toMatch(/Golden image build failed at step pi on VM [0-9a-f]{8}/)
    expect(fleet.vers.ledger.created()).toHaveLength(before + 1)
    expect(fleet.vers.ledger.live()).toEqual([])
    expect((await troupeBin(["vm", "golden", "ls", "--json"], { env })).stdout).not.toContain(fleet.vers.ledger.created().at(-1)!.vm_id)
  }, 150_000)

  it("Ctrl-C mid-provision stops the build and deletes the build VM", async () => {
    const before = fleet.vers.ledger.created().length
    const child = spawn(process.execPath, [troupeBinPath, "vm", "golden", "build", "--pi-package", fakePiTarball(), "--npm-prefix", vmNpmPrefix], { env })
    let stderr = ""
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no step started: ${stderr}`)), 60_000)
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString("utf8")
        if (stderr.includes("[2/7]")) {
          clearTimeout(timer)
          resolve()
        }
      })
    })
    // The build VM existed when the interruption came.
    expect(fleet.vers.ledger.live()).toHaveLength(1)
    child.kill("SIGINT")
    const code = await exited
    expect(stderr).toMatch(/deleted the build VM /)
    expect(stderr).not.toMatch(/committing/)
    expect(code).toBe(130)
    expect(fleet.vers.ledger.created()).toHaveLength(before + 1)
    expect(fleet.vers.ledger.live()).toEqual([])
  }, 120_000)
})
