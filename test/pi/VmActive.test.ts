/**
 * The active VM on a fake Pi host (`vers_vm_use`, `vers_vm_local`, `vers_vm_copy`) against a
 * fake fleet: after `vers_vm_use`, Pi's own `bash`, `read`, `write` and `edit` (routed as
 * `troupe/pi` registers them, `src/pi/Builtins.ts`) act on the VM root and not locally, with
 * Pi's result formats; `vers_vm_local` restores local tools. No daemon: these tools talk SSH
 * in-process.
 */
import { ConfigProvider, Layer } from "effect"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as VersLive from "../../src/layers/Vers.js"
import { install } from "../../src/pi/Adapter.js"
import { type BuiltinFactories, routedBuiltins } from "../../src/pi/Builtins.js"
import type { PiContext, PiTool, PiToolResult } from "../../src/pi/PiHost.js"
import { FakePiHost } from "../../src/testing/index.js"
import { newVm, startFleet, type StartedFleet } from "../support/fakeFleet.js"

let fleet: StartedFleet
let dir: string
let local: string
let pi: FakePiHost
let ctx: PiContext
let vm: string
let vm2: string

const text = (r: PiToolResult) => r.content.map((c) => c.text).join("\n")
const root = (id: string) => fleet.ssh.vm(id)!.root

// Pi 1.6's package entry needs Node 22 (the suite runs on 20); its tool modules load on 20.
const tools = join(process.cwd(), "node_modules/@earendil-works/pi-coding-agent/dist/core/tools")
const factories = async (): Promise<BuiltinFactories> => ({
  ...(await import(join(tools, "bash.js"))),
  ...(await import(join(tools, "read.js"))),
  ...(await import(join(tools, "write.js"))),
  ...(await import(join(tools, "edit.js")))
})

/** Pi's definition as the fake host's tool, with the minimal Pi context its execute reads. */
const asPiTool = (def: ReturnType<typeof routedBuiltins>[number]): PiTool => ({
  name: def.name,
  label: def.label,
  description: def.description,
  parameters: def.parameters as never,
  execute: (id, params, signal, onUpdate, c) =>
    def.execute(id, params as never, signal, onUpdate as never, {
      cwd: c.cwd,
      sessionManager: { getSessionId: () => "s1", getSessionFile: () => undefined }
    } as never) as Promise<PiToolResult>
})

beforeAll(async () => {
  fleet = await startFleet()
  dir = mkdtempSync(join(tmpdir(), "troupe-pi-vm-"))
  local = join(dir, "local")
  mkdirSync(local)
  const ssh = VersLive.sshLayer(join(dir, "home")).pipe(
    Layer.provide(VersLive.layer({ versHome: join(dir, "no-vers") })),
    Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(fleet.env)))))
  )
  pi = new FakePiHost()
  const pif = await factories()
  pi.routeBuiltins = (active) => {
    for (const def of routedBuiltins(pif, active)) pi.registerTool(asPiTool(def))
  }
  install(pi, { config: { home: join(dir, "home"), userRecipes: join(dir, "recipes") }, ssh })
  ctx = pi.context("s1", { cwd: local })
  vm = (await newVm(fleet)).id
  vm2 = (await newVm(fleet)).id
})

afterAll(async () => {
  await pi?.shutdown()
  await fleet?.close()
  rmSync(dir, { recursive: true, force: true })
})

describe("the active VM", () => {
  it("vers_vm_use routes bash/read/write/edit to the VM; vers_vm_local restores them", async () => {
    // Before any VM: Pi's built-ins are not replaced.
    expect(pi.tools.has("bash")).toBe(false)
    const used = await pi.call("vers_vm_use", { vmId: vm }, { ctx })
    expect(text(used)).toContain(`cwd ${root(vm)}`)
    expect(pi.tools.has("bash")).toBe(true)

    // bash: runs in the VM root, Pi's format (output, then the exit-code line on failure).
    const pwd = await pi.call("bash", { command: "pwd; echo hi > made-by-bash" }, { ctx })
    expect(text(pwd).trim()).toBe(root(vm))
    expect(readFileSync(join(root(vm), "made-by-bash"), "utf8")).toBe("hi\n")
    expect(existsSync(join(local, "made-by-bash"))).toBe(false)
    const failed = await pi.call("bash", { command: "echo before; exit 7" }, { ctx })
    expect(text(failed)).toBe("before\n\n\nCommand exited with code 7")
    expect((failed as { structuredContent?: unknown }).structuredContent).toMatchObject({ exit_code: 7, output: "before\n", truncated: false })

    // write: atomic, byte-exact (no newline added), parents created.
    const wrote = await pi.call("write", { path: "sub/dir/file.txt", content: "one\ntwo\nthree" }, { ctx })
    expect(text(wrote)).toBe("Successfully wrote to sub/dir/file.txt")
    expect(readFileSync(join(root(vm), "sub/dir/file.txt"), "utf8")).toBe("one\ntwo\nthree")
    expect(existsSync(join(local, "sub"))).toBe(false)

    // read: Pi's offset/limit and continuation notice.
    const all = await pi.call("read", { path: "sub/dir/file.txt" }, { ctx })
    expect(text(all)).toBe("one\ntwo\nthree")
    const part = await pi.call("read", { path: `${root(vm)}/sub/dir/file.txt`, offset: 2, limit: 1 }, { ctx })
    expect(text(part)).toMatch(/^two\n\n\[1 more lines? in file\. Use offset=3 to continue\.\]$/)
    await expect(pi.call("read", { path: "missing.txt" }, { ctx })).rejects.toThrow(/ENOENT/)

    // edit: exact and unique match rules, Pi's messages.
    const edited = await pi.call("edit", { path: "sub/dir/file.txt", edits: [{ oldText: "two", newText: "2" }] }, { ctx })
    expect(text(edited)).toMatch(/Successfully replaced/)
    expect(readFileSync(join(root(vm), "sub/dir/file.txt"), "utf8")).toBe("one\n2\nthree")
    await expect(pi.call("edit", { path: "sub/dir/file.txt", edits: [{ oldText: "absent", newText: "x" }] }, { ctx })).rejects.toThrow(/Could not find/)
    writeFileSync(join(root(vm), "dup.txt"), "a\na\n")
    await expect(pi.call("edit", { path: "dup.txt", edits: [{ oldText: "a", newText: "b" }] }, { ctx })).rejects.toThrow(/occurrences|unique/)

    // Back to local: the same tools act on this machine again.
    const back = await pi.call("vers_vm_local", {}, { ctx })
    expect(text(back)).toMatch(/^Back to local/)
    await pi.call("write", { path: "here.txt", content: "local" }, { ctx })
    expect(readFileSync(join(local, "here.txt"), "utf8")).toBe("local")
    expect(existsSync(join(root(vm), "here.txt"))).toBe(false)
    expect(text(await pi.call("bash", { command: "pwd" }, { ctx })).trim()).toBe(local)
  })

  it("plan mode with a VM active: the VM-routed write, edit and bash are refused, read reads the VM, /plan off restores them", async () => {
    await pi.call("vers_vm_use", { vmId: vm }, { ctx })
    const before = [...pi.active]
    expect(before).toEqual(expect.arrayContaining(["bash", "read", "write", "edit"]))
    const plan = pi.commands.get("plan")!.handler
    await plan("on", ctx)
    expect(pi.active).toContain("read")
    expect(pi.active).toContain("plan_write")
    for (const off of ["bash", "write", "edit", "vers_vm_copy", "vers_vm_delete"]) expect(pi.active).not.toContain(off)
    await expect(pi.call("write", { path: "planned.txt", content: "x" }, { ctx })).rejects.toThrow(/^Plan mode is on: write is disabled/)
    await expect(pi.call("bash", { command: "touch planned-bash" }, { ctx })).rejects.toThrow(/^Plan mode is on: bash is disabled/)
    expect(existsSync(join(root(vm), "planned.txt"))).toBe(false)
    expect(existsSync(join(root(vm), "planned-bash"))).toBe(false)
    writeFileSync(join(root(vm), "to-read.txt"), "on the vm")
    expect(text(await pi.call("read", { path: "to-read.txt" }, { ctx }))).toBe("on the vm")
    // Pi's grep reads this machine only: off while the VM is active, on once back to local.
    pi.foreignTools.push("grep")
    await pi.call("vers_vm_use", { vmId: vm }, { ctx })
    expect(pi.active).not.toContain("grep")
    await pi.call("vers_vm_local", {}, { ctx })
    expect(pi.active).toContain("grep")
    expect(pi.active).not.toContain("write")
    await pi.call("vers_vm_use", { vmId: vm }, { ctx })
    expect(pi.active).not.toContain("grep")

    await plan("off", ctx)
    expect(pi.active).toEqual(before)
    expect(pi.active).not.toContain("grep")
    await pi.call("write", { path: "planned.txt", content: "x" }, { ctx })
    expect(readFileSync(join(root(vm), "planned.txt"), "utf8")).toBe("x")
    await pi.call("vers_vm_local", {}, { ctx })
  })

  it("vers_vm_use fails with one sentence for a VM that does not answer, and stays local", async () => {
    await pi.call("vers_vm_local", {}, { ctx })
    await expect(pi.call("vers_vm_use", { vmId: "00000000-0000-4000-8000-000000000000" }, { ctx })).rejects.toThrow(/^Could not connect to VM/)
    expect(text(await pi.call("bash", { command: "pwd" }, { ctx })).trim()).toBe(local)
  })

  it("on a Pi without the tool factories, vers_vm_use says so and changes nothing", async () => {
    const bare = new FakePiHost()
    install(bare, { config: { home: join(dir, "home"), userRecipes: join(dir, "recipes") } })
    await expect(bare.call("vers_vm_use", { vmId: vm }, { ctx: bare.context("s2", { cwd: local }) })).rejects.toThrow(/^This Pi cannot run bash, read, write and edit on a VM/)
    expect(bare.tools.has("bash")).toBe(false)
  })

  it("vers_vm_copy: local → VM, VM → VM, VM → local (pi-vers parameters; recursive by default)", async () => {
    mkdirSync(join(local, "tree", "in"), { recursive: true })
    writeFileSync(join(local, "tree", "in", "b.bin"), Buffer.from([0, 0xff, 0x80]))
    writeFileSync(join(local, "tree", "empty"), "")
    const up = await pi.call("vers_vm_copy", { src: "tree", dst: `vm:${vm}:tree` }, { ctx })
    expect(text(up)).toMatch(/2 file\(s\), 2 directories, 3 bytes/)
    expect([...readFileSync(join(root(vm), "tree", "in", "b.bin"))]).toEqual([0, 0xff, 0x80])
    await pi.call("vers_vm_copy", { src: `vm:${vm}:tree`, dst: `vm:${vm2}:copied` }, { ctx })
    expect(statSync(join(root(vm2), "copied", "empty")).size).toBe(0)
    await pi.call("vers_vm_copy", { src: `vm:${vm2}:copied/in/b.bin`, dst: "back.bin" }, { ctx })
    expect([...readFileSync(join(local, "back.bin"))]).toEqual([0, 0xff, 0x80])
    await expect(pi.call("vers_vm_copy", { src: "tree", dst: `vm:${vm}:t2`, recursive: false }, { ctx })).rejects.toThrow(/is a directory/)
    await expect(pi.call("vers_vm_copy", { src: "a", dst: "b" }, { ctx })).rejects.toThrow(/Both paths are local/)
  })
})
