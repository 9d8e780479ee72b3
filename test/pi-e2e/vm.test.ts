/**
 * The active VM inside a real Pi: `vers_vm_use` on a fake VM (a `troupe fleet fake` process,
 * so Pi's SSH reaches it while this test waits on Pi synchronously), then Pi's own `bash` and
 * `read` run in the VM root with Pi's formats; `vers_vm_local` brings them back to the
 * session's cwd.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { fauxExtension, makeWorld, piPrint, script, troupe, troupeBin, troupeExtension, type World } from "./support.js"

interface Fleet {
  readonly base_url: string
  readonly api_key: string
  readonly dir: string
  readonly env: Record<string, string>
}

describe("the active VM in a real Pi", () => {
  let world: World
  let child: ChildProcess
  let fleet: Fleet
  let vmId: string

  beforeAll(async () => {
    world = makeWorld("vm")
    child = spawn(process.execPath, [troupeBin, "fleet", "fake", "--boot-ms", "0", "--json"], { stdio: ["ignore", "pipe", "pipe"] })
    fleet = await new Promise<Fleet>((resolve, reject) => {
      let out = ""
      child.stdout!.setEncoding("utf8").on("data", (s: string) => {
        out += s
        const nl = out.indexOf("\n")
        if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)) as Fleet)
      })
      child.on("exit", (code) => reject(new Error(`troupe fleet fake exited ${code}`)))
    })
    const r = await fetch(`${fleet.base_url}/vm/new_root`, {
      method: "POST",
      headers: { authorization: `Bearer ${fleet.api_key}`, "content-type": "application/json" },
      body: JSON.stringify({ vm_config: {} })
    })
    vmId = ((await r.json()) as { vm_id: string }).vm_id
    writeFileSync(join(fleet.dir, "vms", vmId, "root", "notes.txt"), "alpha\nbeta\ngamma")
  })

  afterAll(async () => {
    troupe(world, "daemon", "stop")
    if (child?.pid !== undefined && child.exitCode === null) {
      const gone = new Promise((resolve) => child.on("exit", resolve))
      child.kill("SIGINT")
      await gone
    }
    rmSync(world.dir, { recursive: true, force: true })
  })

  it("bash and read run on the VM after vers_vm_use, and locally after vers_vm_local", () => {
    const root = join(fleet.dir, "vms", vmId, "root")
    const r = piPrint(world, [fauxExtension, troupeExtension], script([
      [{ name: "vers_vm_use", arguments: { vmId } }],
      [{ name: "bash", arguments: { command: "pwd; wc -l < notes.txt" } }],
      [{ name: "read", arguments: { path: "notes.txt", offset: 2, limit: 1 } }],
      [{ name: "vers_vm_local", arguments: {} }],
      [{ name: "bash", arguments: { command: "pwd" } }]
    ]), { env: fleet.env })
    expect(r.code, r.stderr).toBe(0)
    const results = r.stdout.split("\n").filter((l) => l.startsWith("RESULT "))
    expect(r.stdout).toContain(`RESULT vers_vm_use: Using VM`)
    expect(r.stdout).toContain(`RESULT bash: ${root}\n2`)
    expect(r.stdout).toContain("RESULT read: beta\n\n[1 more line")
    expect(results.at(-1)).toBe(`RESULT bash: ${world.cwd}`)
  })
})
