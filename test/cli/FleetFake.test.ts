/**
 * `troupe fleet fake` as a user runs it (the built CLI, `npm test` builds first): it prints the
 * base URL, key and SSH variables (JSON with `--json`, `export` lines without), answers API calls with that
 * key, and exits 0 on SIGTERM and on SIGINT.
 */
import { type ChildProcessByStdio, spawn } from "node:child_process"
import type { Readable } from "node:stream"
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { createServer } from "node:net"
import { run, troupeBin, troupeBinPath } from "../support/exec.js"

type Child = ChildProcessByStdio<null, Readable, Readable>

/** Starts the CLI and resolves with the child and its first stdout lines (waits for `lines` lines, bounded). */
const startFake = (args: ReadonlyArray<string>, lines: number) =>
  new Promise<{ child: Child; lines: Array<string>; exited: Promise<{ code: number | null; signal: string | null }> }>((resolve, reject) => {
    const child = spawn(process.execPath, [troupeBinPath, "fleet", "fake", ...args], { stdio: ["ignore", "pipe", "pipe"] })
    const exited = new Promise<{ code: number | null; signal: string | null }>((done) => child.on("exit", (code, signal) => done({ code, signal })))
    let out = ""
    let err = ""
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`no output from troupe fleet fake within 60 s: ${err}`))
    }, 60_000)
    child.stderr.setEncoding("utf8").on("data", (s: string) => (err += s))
    child.stdout.setEncoding("utf8").on("data", (s: string) => {
      out += s
      const got = out.split("\n")
      if (got.length > lines) {
        clearTimeout(timer)
        resolve({ child, lines: got.slice(0, lines), exited })
      }
    })
    child.on("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`troupe fleet fake exited ${code} before printing: ${err}`))
    })
  })

describe("troupe fleet fake", () => {
  it("--json: prints base_url and api_key, serves the API with that key, exits 0 on SIGTERM", async () => {
    const { child, lines, exited } = await startFake(["--json", "--boot-ms", "0"], 1)
    const info = JSON.parse(lines[0]!) as { base_url: string; api_key: string; port: number; ssh_port: number; dir: string; env: Record<string, string> }
    expect(info.base_url).toBe(`http://127.0.0.1:${info.port}/api/v1`)
    expect(info.env).toEqual({
      VERS_BASE_URL: info.base_url,
      VERS_API_KEY: info.api_key,
      VERS_SSH_HOST: "{vm_id}.vm.vers.sh",
      VERS_SSH_ADDRESS: "127.0.0.1",
      VERS_SSH_PORT: String(info.ssh_port),
      VERS_SSH_CA: `${info.dir}/ca.pem`
    })
    expect(readFileSync(info.env.VERS_SSH_CA!, "utf8")).toMatch(/^-----BEGIN CERTIFICATE-----/)
    expect(statSync(info.env.VERS_SSH_CA!).mode & 0o777).toBe(0o600)
    const auth = { authorization: `Bearer ${info.api_key}`, "content-type": "application/json" }
    const created = await fetch(`${info.base_url}/vm/new_root`, { method: "POST", headers: auth, body: JSON.stringify({ vm_config: {} }) })
    expect(created.status).toBe(201)
    const { vm_id } = (await created.json()) as { vm_id: string }
    const status = (await (await fetch(`${info.base_url}/vm/${vm_id}/status`, { headers: auth })).json()) as { state: string }
    expect(status.state).toBe("running")
    // The SSH side answers as the printed variables say.
    const { ssh_private_key } = (await (await fetch(`${info.base_url}/vm/${vm_id}/ssh_key`, { headers: auth })).json()) as { ssh_private_key: string }
    const host = info.env.VERS_SSH_HOST!.replace("{vm_id}", vm_id)
    const proxy = `ProxyCommand=openssl s_client -connect ${info.env.VERS_SSH_ADDRESS}:${info.env.VERS_SSH_PORT} -servername %h -quiet -verify_return_error -CAfile ${info.env.VERS_SSH_CA}`
    writeFileSync(`${info.dir}/id_vm`, ssh_private_key, { mode: 0o600 })
    const ssh = await run("ssh", ["-F", "/dev/null", "-i", `${info.dir}/id_vm`, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", proxy, `root@${host}`, "echo hi; exit 3"], { timeout: 20_000 })
    expect([ssh.code, ssh.stdout]).toEqual([3, "hi\n"])
    expect((await fetch(`${info.base_url}/vms`)).status).toBe(401)
    child.kill("SIGTERM")
    expect(await exited).toEqual({ code: 0, signal: null })
    // The fleet directory was a temp dir: gone with the fake.
    expect(existsSync(info.dir)).toBe(false)
  })

  it("text: export lines for VERS_BASE_URL, VERS_API_KEY and the SSH variables; exits 0 on SIGINT", async () => {
    const { child, lines, exited } = await startFake([], 6)
    expect(lines[0]).toMatch(/^export VERS_BASE_URL=http:\/\/127\.0\.0\.1:\d+\/api\/v1$/)
    expect(lines[1]).toMatch(/^export VERS_API_KEY=fake-vers-[0-9a-f]{32}$/)
    expect(lines.slice(2)).toEqual([
      "export VERS_SSH_HOST='{vm_id}.vm.vers.sh'",
      "export VERS_SSH_ADDRESS=127.0.0.1",
      expect.stringMatching(/^export VERS_SSH_PORT=\d+$/),
      expect.stringMatching(/^export VERS_SSH_CA=\/.+\/ca\.pem$/)
    ])
    const base = lines[0]!.split("=")[1]!
    const key = lines[1]!.split("=")[1]!
    expect((await fetch(`${base}/vms`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200)
    child.kill("SIGINT")
    expect(await exited).toEqual({ code: 0, signal: null })
  })

  it("a taken port is one error line and exit 1; a port out of range is a usage error (exit 2)", async () => {
    const taken = createServer()
    const port = await new Promise<number>((resolve) => taken.listen(0, "127.0.0.1", () => resolve((taken.address() as { port: number }).port)))
    try {
      const r = await troupeBin(["fleet", "fake", "--port", String(port)])
      expect([r.code, r.stdout, r.stderr]).toEqual([1, "", `error: The fake Vers fleet cannot listen on 127.0.0.1:${port}: EADDRINUSE\n`])
    } finally {
      taken.close()
    }
    const bad = await troupeBin(["fleet", "fake", "--port", "70000"])
    expect([bad.code, bad.stderr]).toEqual([2, "error: --port must be within 0..65535, not 70000\n"])
  })
})
