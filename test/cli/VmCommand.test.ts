/**
 * `troupe vm …` as a user runs it: the built CLI (`npm test` builds first) through an
 * auto-started daemon, against a fake Vers fleet on loopback. The README's "VMs" flow is run
 * verbatim (the lines under its `vms-flow` marker, by bash, with `troupe` on PATH); errors are
 * one line naming the VM and what to do, and never carry the API key.
 */
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startFakeVers, type StartedFakeVers } from "../../src/testing/FakeVers.js"
import { pollUntil, run, troupeBin, troupeBinPath } from "../support/exec.js"

/** The shell lines of the README's VM flow (the fenced block after the `vms-flow` marker). */
const readmeFlow = (): string => {
  const readme = readFileSync(join(process.cwd(), "README.md"), "utf8")
  const at = readme.indexOf("<!-- vms-flow")
  expect(at).toBeGreaterThan(0)
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(at))
  return block![1]!
}

let fleet: StartedFakeVers
const dirs: Array<string> = []
const homes: Array<{ home: string; env: NodeJS.ProcessEnv }> = []

const tempDir = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix))
  dirs.push(d)
  return d
}

/** An environment with its own TROUPE_HOME and HOME (no ~/.vers), `troupe` on PATH, and `vers` variables. */
const environment = (vers: Record<string, string>) => {
  const bin = tempDir("troupe-bin-")
  writeFileSync(join(bin, "troupe"), `#!/bin/sh\nexec "${process.execPath}" "${troupeBinPath}" "$@"\n`)
  chmodSync(join(bin, "troupe"), 0o755)
  const home = tempDir("troupe-vm-home-")
  const env: NodeJS.ProcessEnv = {
    PATH: `${bin}:${process.env.PATH ?? ""}`,
    HOME: tempDir("troupe-user-"),
    TROUPE_HOME: home,
    ...vers
  }
  homes.push({ home, env })
  return env
}

beforeAll(async () => {
  fleet = await startFakeVers({ bootMs: 0 })
})

afterAll(async () => {
  for (const h of homes) await troupeBin(["daemon", "stop"], { env: h.env })
  await fleet.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe("troupe vm", () => {
  it("a daemon started before VERS_* were exported serves the README flow with the caller's settings", async () => {
    const env = environment({ VERS_BASE_URL: fleet.baseUrl, VERS_API_KEY: fleet.apiKey })
    const { VERS_BASE_URL: _url, VERS_API_KEY: _key, ...bare } = env
    // The daemon knows no Vers settings (HOME has no ~/.vers either)…
    expect((await troupeBin(["daemon", "start"], { env: bare })).code).toBe(0)
    const refused = await troupeBin(["vm", "ls"], { env: bare })
    expect(refused.code).not.toBe(0)
    // …yet every VM command run with them exported works, each carrying them to the daemon.
    const created = fleet.ledger.created().length
    const r = await run("bash", ["-c", `set -euo pipefail\n${readmeFlow()}`], { env, timeout: 120_000 })
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    expect(r.stdout.trim().split("\n").at(-1)).toBe("no VMs")
    expect(fleet.ledger.created().length).toBeGreaterThanOrEqual(created + 3)
    expect(fleet.ledger.live()).toEqual([])
    for (const file of readdirSync(env.TROUPE_HOME!).filter((f) => f === "daemon.log" || f.startsWith("troupe.db"))) {
      expect(readFileSync(join(env.TROUPE_HOME!, file)).includes(fleet.apiKey), file).toBe(false)
    }
  })

  it("the README flow, verbatim: create, branch, commit, restore, pause, resume, ls --owned, delete — and vm ls ends empty", async () => {
    const env = environment({ VERS_BASE_URL: fleet.baseUrl, VERS_API_KEY: fleet.apiKey })
    const flow = readmeFlow()
    const r = await run("bash", ["-c", `set -euo pipefail\n${flow}`], { env, timeout: 120_000 })
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    const lines = r.stdout.trim().split("\n")
    expect(lines[0]).toMatch(/^vm=\S+ state=paused created=\S+ session=cli$/)
    expect(lines[1]).toMatch(/^vm=\S+ state=running created=\S+ session=cli$/)
    // ls --owned: the three VMs, with their origin.
    const owned = lines.slice(2, 5)
    expect(owned[0]).toMatch(/session=cli$/)
    expect(owned[1]).toMatch(/session=cli branch-of=\S+$/)
    expect(owned[2]).toMatch(/session=cli restore-of=\S+$/)
    expect(lines.slice(5)).toEqual(["deleted vm=" + owned[2]!.split(" ")[0]!.slice(3), "deleted vm=" + owned[1]!.split(" ")[0]!.slice(3), "deleted vm=" + owned[0]!.split(" ")[0]!.slice(3), "no VMs"])
    // The fleet agrees: three VMs were made and none is left.
    expect(fleet.ledger.created().length).toBeGreaterThanOrEqual(3)
    expect(fleet.ledger.live()).toEqual([])
    expect(r.stdout).not.toContain(fleet.apiKey)
    // Nothing the daemon wrote holds the key: every file under TROUPE_HOME (log, store, WAL, run
    // directories), the daemon's command line, or a request the fleet recorded (Authorization aside).
    const files = readdirSync(env.TROUPE_HOME!, { recursive: true, withFileTypes: true }).filter((d) => d.isFile())
    expect(files.map((d) => d.name)).toContain("daemon.log")
    for (const d of files) expect(readFileSync(join(d.parentPath, d.name)).includes(fleet.apiKey), d.name).toBe(false)
    const pid = Number(readFileSync(join(env.TROUPE_HOME!, "daemon.pid"), "utf8").trim())
    expect(readFileSync(`/proc/${pid}/cmdline`, "latin1")).toContain("daemon")
    expect(readFileSync(`/proc/${pid}/cmdline`, "latin1")).not.toContain(fleet.apiKey)
    expect(fleet.ledger.requests().length).toBeGreaterThan(0)
    expect(JSON.stringify(fleet.ledger.requests())).not.toContain(fleet.apiKey)
  })

  it("--json shapes; a VM of another session is refused; errors are one line naming the VM and what to do", async () => {
    const env = environment({ VERS_BASE_URL: fleet.baseUrl, VERS_API_KEY: fleet.apiKey })
    const created = await troupeBin(["vm", "create", "--json"], { env })
    expect(created.code).toBe(0)
    const record = JSON.parse(created.stdout) as { vm_id: string; session: string; run: null; source: string; kept: boolean; deleted_at: null }
    expect(record).toMatchObject({ session: "cli", run: null, source: "root", kept: false, deleted_at: null })
    const status = JSON.parse((await troupeBin(["vm", "status", record.vm_id, "--json"], { env })).stdout) as { state: string; labels: Record<string, string> }
    expect(status.state).toBe("running")
    expect(status.labels["troupe-session"]).toBe("cli")

    const other = await troupeBin(["vm", "delete", record.vm_id, "--session", "other"], { env })
    expect([other.code, other.stderr]).toEqual([1, `error: VM ${record.vm_id.slice(0, 8)}… belongs to session cli: act as it (--session cli) or use --all\n`])
    expect((await troupeBin(["vm", "ls", "--owned", "--session", "other"], { env })).stdout).toBe("no VMs\n")

    expect((await troupeBin(["vm", "delete", record.vm_id], { env })).code).toBe(0)
    const gone = await troupeBin(["vm", "status", record.vm_id], { env })
    expect([gone.code, gone.stdout]).toEqual([1, ""])
    expect(gone.stderr).toBe(`error: Vers could not find VM ${record.vm_id.slice(0, 8)}… (status): it may have been deleted (list VMs with: troupe vm ls)\n`)
    const bad = await troupeBin(["vm", "restore", "not-a-commit"], { env })
    expect([bad.code, bad.stderr]).toEqual([2, "error: \"not-a-commit\" is not a commit id (a UUID, as troupe vm commit prints it)\n"])
    const keep = await troupeBin(["vm", "create", "--keep"], { env })
    expect([keep.code, keep.stderr]).toEqual([2, "error: --keep is for run-owned VMs (--run); a session's VM lives until troupe vm delete\n"])
    const help = await troupeBin(["vm", "create", "--help"], { env })
    expect(help.stdout).toContain("VM=$(troupe vm create -q)")
  })

  it("no API key: the daemon starts, and a VM command fails with one sentence that names no key", async () => {
    const env = environment({ VERS_BASE_URL: fleet.baseUrl })
    const r = await troupeBin(["vm", "ls"], { env })
    expect(r.code).toBe(1)
    expect(r.stderr.split("\n")).toHaveLength(2)
    expect(r.stderr).toMatch(/^error: Vers list needs an API key, but none is set: set VERS_API_KEY, or put .* in ~\/\.vers\/keys\.json, or versApiKey in ~\/\.vers\/config\.json \(each troupe vm command sends its VERS_API_KEY and VERS_BASE_URL to the daemon, which otherwise uses its own environment or ~\/\.vers: export them and retry\)\n$/)
    expect(r.stderr).not.toContain(fleet.apiKey)
    // The daemon is up and serves everything else.
    expect((await troupeBin(["ps"], { env })).stdout).toBe("no runs\n")
    // Reconciliation ran in the background and said why it did nothing.
    expect(await pollUntil(() => readFileSync(join(env.TROUPE_HOME!, "daemon.log"), "utf8").includes("VM reconciliation skipped: no Vers API key is set"))).toBe(true)
  })

  it("a malformed Vers variable does not stop the daemon: VM commands fail with its sentence", async () => {
    const env = environment({ VERS_BASE_URL: fleet.baseUrl, VERS_API_KEY: fleet.apiKey, VERS_SSH_PORT: "x" })
    expect((await troupeBin(["ps"], { env })).stdout).toBe("no runs\n")
    // A VM command that brings no Vers settings of its own meets the daemon's sentence…
    const { VERS_BASE_URL: _url, VERS_API_KEY: _key, ...bare } = env
    const r = await troupeBin(["vm", "ls"], { env: bare })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^error: The Vers configuration is invalid: VERS_SSH_PORT must be an integer from 1 to 65535, not "x" \(/)
    expect(r.stderr).not.toContain(fleet.apiKey)
    // …one that brings them is served with them.
    const ok = await troupeBin(["vm", "ls"], { env })
    expect(ok.code, ok.stderr).toBe(0)
  })

  it.runIf(existsSync("/usr/bin/script"))("on a terminal, a progress line shows while the VM boots and is cleared", async () => {
    const slow = await startFakeVers({ bootMs: 1200 })
    try {
      const env = environment({ VERS_BASE_URL: slow.baseUrl, VERS_API_KEY: slow.apiKey })
      // `script` gives the CLI a pseudo-terminal.
      const r = await run("/usr/bin/script", ["-qec", `troupe vm create`, "/dev/null"], { env, timeout: 60_000 })
      expect(r.code).toBe(0)
      // The spinner line (src/cli/Progress.ts, drawn by log-update), erased before the result.
      expect(r.stdout).toContain("⠋ creating VM (booting) 0s")
      expect(r.stdout).toMatch(/\u001b\[2K\u001b\[G(\u001b\[\?2026l)?vm=\S+ state=running source=root session=cli\r?\n$/)
      // Without a terminal: no progress line at all.
      const plain = await troupeBin(["vm", "create"], { env })
      expect([plain.code, plain.stderr]).toEqual([0, ""])
      await troupeBin(["daemon", "stop"], { env })
      expect(slow.vms()).toHaveLength(2)
    } finally {
      await slow.close()
    }
  })
})
