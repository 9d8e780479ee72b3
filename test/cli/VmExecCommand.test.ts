/**
 * `troupe vm exec` and `troupe vm cp` as a user runs them: the built CLI (`npm test` builds
 * first) against a fake fleet on loopback (each fake VM's commands are local processes with
 * cwd = HOME = the VM root; relative SFTP paths resolve under it). No daemon is involved: both
 * talk SSH in-process.
 */
import { spawn } from "node:child_process"
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { pollUntil, troupeBin, troupeBinPath } from "../support/exec.js"
import { newVm, startFleet, type StartedFleet } from "../support/fakeFleet.js"

let fleet: StartedFleet
let env: NodeJS.ProcessEnv
let vm: string
let vm2: string
const dirs: Array<string> = []

const tempDir = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix))
  dirs.push(d)
  return d
}

const root = (id: string) => fleet.ssh.vm(id)!.root
const mode = (path: string) => statSync(path).mode & 0o7777

beforeAll(async () => {
  fleet = await startFleet()
  env = { PATH: process.env.PATH ?? "", HOME: tempDir("troupe-user-"), TROUPE_HOME: tempDir("troupe-home-"), ...fleet.env }
  vm = (await newVm(fleet)).id
  vm2 = (await newVm(fleet)).id
})

afterAll(async () => {
  await fleet?.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe("troupe vm exec", () => {
  it("streams stdout and stderr, and exits with the remote code (128+n for a signal)", async () => {
    const ok = await troupeBin(["vm", "exec", vm, "--", "sh", "-c", "echo out; echo err >&2; pwd; exit 3"], { env })
    expect(ok.stdout).toBe(`out\n${root(vm)}\n`)
    expect(ok.stderr).toBe("err\n")
    expect(ok.code).toBe(3)
    expect((await troupeBin(["vm", "exec", vm, "--", "true"], { env })).code).toBe(0)
    const killed = await troupeBin(["vm", "exec", vm, "--", "sh", "-c", "kill -9 $$"], { env })
    expect(killed.code).toBe(137)
    // argv words keep their spaces and quotes
    const quoted = await troupeBin(["vm", "exec", vm, "--", "printf", "[%s]", "a b", "it's"], { env })
    expect(quoted.stdout).toBe("[a b][it's]")
  })

  it("passes stdin when it is not a terminal, while output streams back", async () => {
    const piped = await troupeBin(["vm", "exec", vm, "--", "cat"], { env, input: "line one\nno newline" })
    expect(piped.stdout).toBe("line one\nno newline")
    expect(piped.code).toBe(0)
    // Interactive: the first line arrives before stdin is written, then the answer.
    const child = spawn(process.execPath, [troupeBinPath, "vm", "exec", vm, "--", "sh", "-c", "echo ready; read x; echo got $x"], { env })
    let out = ""
    child.stdout.setEncoding("utf8").on("data", (s: string) => (out += s))
    const closed = new Promise<number | null>((resolve) => child.on("close", resolve))
    expect(await pollUntil(() => out === "ready\n", 20_000)).toBe(true)
    child.stdin.end("hello\n")
    expect(await closed).toBe(0)
    expect(out).toBe("ready\ngot hello\n")
  })

  it("Ctrl-C (SIGINT) stops the remote command and exits 130", async () => {
    const child = spawn(process.execPath, [troupeBinPath, "vm", "exec", vm, "--", "sh", "-c", "echo $$ > sleeper.pid; echo ready; exec sleep 30"], { env })
    let out = ""
    child.stdout.setEncoding("utf8").on("data", (s: string) => (out += s))
    const closed = new Promise<number | null>((resolve) => child.on("close", resolve))
    expect(await pollUntil(() => out === "ready\n", 20_000)).toBe(true)
    const pid = Number(readFileSync(join(root(vm), "sleeper.pid"), "utf8").trim())
    expect(existsSync(`/proc/${pid}`)).toBe(true)
    child.kill("SIGINT")
    expect(await closed).toBe(130)
    expect(await pollUntil(() => !existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, "utf8").split(" ")[2] === "Z", 10_000)).toBe(true)
  })

  it("fails with one sentence: no command, a VM that does not answer", async () => {
    const none = await troupeBin(["vm", "exec", vm], { env })
    expect(none.code).toBe(2)
    expect(none.stderr).toMatch(/^error: troupe vm exec needs a command/)
    const missing = await troupeBin(["vm", "exec", "00000000-0000-4000-8000-000000000000", "--", "true"], { env })
    expect(missing.code).toBe(1)
    expect(missing.stderr.trim().split("\n")).toHaveLength(1)
    expect(missing.stderr).toMatch(/^error: Could not connect to VM/)
    expect(missing.stderr).not.toContain(fleet.vers.apiKey)
  })
})

describe("troupe vm cp", () => {
  it("local → VM → local keeps bytes (0 bytes, 1 MB, non-UTF-8) and modes, recursively", async () => {
    const src = join(tempDir("troupe-cp-"), "tree")
    mkdirSync(join(src, "sub", "deeper"), { recursive: true })
    writeFileSync(join(src, "empty"), "")
    writeFileSync(join(src, "text"), "no trailing newline")
    const big = Buffer.alloc(1024 * 1024)
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff
    writeFileSync(join(src, "sub", "big.bin"), big)
    writeFileSync(join(src, "sub", "deeper", "latin1"), Buffer.from([0xff, 0xfe, 0x00, 0xe9, 0x0a]))
    chmodSync(join(src, "text"), 0o600)
    chmodSync(join(src, "sub", "big.bin"), 0o755)
    chmodSync(join(src, "sub"), 0o751)

    const up = await troupeBin(["vm", "cp", "-r", src, `vm:${vm}:up`], { env })
    expect(up.stderr).toBe("")
    expect(up.code).toBe(0)
    expect(up.stdout).toMatch(/4 file\(s\), 3 directories, 1048600 bytes/)
    const there = join(root(vm), "up")
    expect(readFileSync(join(there, "empty")).length).toBe(0)
    expect(readFileSync(join(there, "text"), "utf8")).toBe("no trailing newline")
    expect(readFileSync(join(there, "sub", "big.bin")).equals(big)).toBe(true)
    expect([...readFileSync(join(there, "sub", "deeper", "latin1"))]).toEqual([0xff, 0xfe, 0x00, 0xe9, 0x0a])
    expect([mode(join(there, "text")), mode(join(there, "sub", "big.bin")), mode(join(there, "sub"))]).toEqual([0o600, 0o755, 0o751])

    // Into an existing directory: under the source's name.
    const back = tempDir("troupe-back-")
    const down = await troupeBin(["vm", "cp", "-r", `vm:${vm}:up`, back], { env })
    expect(down.code).toBe(0)
    expect(readFileSync(join(back, "up", "sub", "big.bin")).equals(big)).toBe(true)
    expect(readFileSync(join(back, "up", "empty")).length).toBe(0)
    expect(mode(join(back, "up", "text"))).toBe(0o600)
    expect(mode(join(back, "up", "sub"))).toBe(0o751)

    // One file, to a new name.
    const single = await troupeBin(["vm", "cp", `vm:${vm}:up/sub/deeper/latin1`, join(back, "one")], { env })
    expect(single.code).toBe(0)
    expect([...readFileSync(join(back, "one"))]).toEqual([0xff, 0xfe, 0x00, 0xe9, 0x0a])
  })

  it("VM → VM copies a directory tree", async () => {
    mkdirSync(join(root(vm), "proj", "src"), { recursive: true })
    writeFileSync(join(root(vm), "proj", "src", "main.c"), "int main(){}")
    writeFileSync(join(root(vm), "proj", "run.sh"), "#!/bin/sh\n")
    chmodSync(join(root(vm), "proj", "run.sh"), 0o750)
    const r = await troupeBin(["vm", "cp", "-r", `vm:${vm}:proj`, `vm:${vm2}:copy`], { env })
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    expect(readFileSync(join(root(vm2), "copy", "src", "main.c"), "utf8")).toBe("int main(){}")
    expect(mode(join(root(vm2), "copy", "run.sh"))).toBe(0o750)
  })

  it("a missing source, a directory without -r and two local paths are one clear sentence", async () => {
    const missing = await troupeBin(["vm", "cp", `vm:${vm}:no/such/file`, tempDir("troupe-x-")], { env })
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/^error: vm:\S+:no\/such\/file does not exist\n$/)
    mkdirSync(join(root(vm), "adir"), { recursive: true })
    const dir = await troupeBin(["vm", "cp", `vm:${vm}:adir`, tempDir("troupe-x-")], { env })
    expect(dir.code).toBe(1)
    expect(dir.stderr).toMatch(/^error: vm:\S+:adir is a directory \(copy it with -r/)
    const itself = await troupeBin(["vm", "cp", "-r", `vm:${vm}:adir`, `vm:${vm}:adir/inner`], { env })
    expect(itself.code).toBe(1)
    expect(itself.stderr).toMatch(/^error: Cannot copy vm:\S+:adir into itself/)
    const local = await troupeBin(["vm", "cp", "a", "b"], { env })
    expect(local.code).toBe(2)
    expect(local.stderr).toMatch(/give one side as vm:<id>:<path>/)
  })
})
