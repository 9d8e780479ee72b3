/**
 * FakeVm's SFTP subsystem through the raw ssh2 client: byte-exact round trips (0 B, 1 B, 1 MB,
 * non-UTF-8), directories, stat, modes, OpenSSH's rename rule (plain RENAME refuses to replace
 * a file), and relative paths resolving against the VM's root.
 */
import { randomBytes } from "node:crypto"
import { readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { promisify } from "node:util"
import ssh2 from "ssh2"
import { afterEach, describe, expect, it } from "vitest"
import { connect, newVm, startFleet, type StartedFleet } from "../support/fakeFleet.js"

const fleets: Array<StartedFleet> = []
const clients: Array<ssh2.Client> = []
afterEach(async () => {
  for (const c of clients.splice(0)) c.end()
  await Promise.all(fleets.splice(0).map((f) => f.close()))
})

const setup = async () => {
  const fleet = await startFleet()
  fleets.push(fleet)
  const vm = await newVm(fleet)
  const { client } = await connect(fleet, vm.id, vm.key)
  clients.push(client)
  const sftp = await new Promise<ssh2.SFTPWrapper>((resolve, reject) => client.sftp((e, s) => (e ? reject(e) : resolve(s))))
  return { fleet, root: fleet.ssh.vm(vm.id)!.root, sftp }
}

/** Writes with open/write/close in 32 KiB requests, as a streaming client does. */
const writeAll = async (sftp: ssh2.SFTPWrapper, path: string, data: Buffer, mode = 0o644) => {
  const handle = await new Promise<Buffer>((resolve, reject) => sftp.open(path, "w", { mode }, (e, h) => (e ? reject(e) : resolve(h))))
  for (let at = 0; at < data.length; at += 32_768) {
    const chunk = data.subarray(at, at + 32_768)
    await new Promise<void>((resolve, reject) => sftp.write(handle, chunk, 0, chunk.length, at, (e) => (e ? reject(e) : resolve())))
  }
  await promisify(sftp.close.bind(sftp))(handle)
}

const readAll = (sftp: ssh2.SFTPWrapper, path: string) => new Promise<Buffer>((resolve, reject) => sftp.readFile(path, (e, b) => (e ? reject(e) : resolve(b))))

describe("FakeVm SFTP", () => {
  it("round-trips bytes exactly: 0 B, 1 B, 1 MB, non-UTF-8", async () => {
    const { root, sftp } = await setup()
    const cases: Record<string, Buffer> = { empty: Buffer.alloc(0), one: Buffer.from([0x0a]), mega: randomBytes(1024 * 1024), latin: Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0x80]) }
    for (const [name, data] of Object.entries(cases)) {
      await writeAll(sftp, name, data)
      expect(readFileSync(join(root, name)).equals(data)).toBe(true)
      expect((await readAll(sftp, name)).equals(data)).toBe(true)
    }
    writeFileSync(join(root, "from-host"), cases.mega!)
    expect((await readAll(sftp, `${root}/from-host`)).equals(cases.mega!)).toBe(true)
  })

  it("keeps and sets modes", async () => {
    const { root, sftp } = await setup()
    await writeAll(sftp, "script.sh", Buffer.from("#!/bin/sh\n"), 0o755)
    expect(statSync(join(root, "script.sh")).mode & 0o777).toBe(0o755)
    await promisify(sftp.chmod.bind(sftp))("script.sh", 0o600)
    expect(statSync(join(root, "script.sh")).mode & 0o777).toBe(0o600)
    expect(((await promisify(sftp.stat.bind(sftp))("script.sh")).mode & 0o777)).toBe(0o600)
    const handle = await promisify(sftp.open.bind(sftp))("script.sh", "r")
    await promisify(sftp.fchmod.bind(sftp))(handle, 0o700)
    expect((await promisify(sftp.fstat.bind(sftp))(handle)).size).toBe(10)
    await promisify(sftp.close.bind(sftp))(handle)
    expect(statSync(join(root, "script.sh")).mode & 0o777).toBe(0o700)
  })

  it("makes, lists, renames and removes", async () => {
    const { root, sftp } = await setup()
    expect(await promisify(sftp.realpath.bind(sftp))(".")).toBe(root)
    await new Promise<void>((resolve, reject) => sftp.mkdir("dir", { mode: 0o750 }, (e) => (e ? reject(e) : resolve())))
    expect(statSync(join(root, "dir")).isDirectory()).toBe(true)
    await writeAll(sftp, "dir/a", Buffer.from("a"))
    await writeAll(sftp, "dir/b", Buffer.from("bb"))
    const listing = await promisify(sftp.readdir.bind(sftp))("dir")
    expect(listing.map((e) => e.filename).sort()).toEqual(["a", "b"])
    expect(listing.find((e) => e.filename === "b")!.attrs.size).toBe(2)
    expect((await promisify(sftp.lstat.bind(sftp))("dir")).isDirectory()).toBe(true)
    // OpenSSH's plain RENAME does not replace an existing file.
    await expect(promisify(sftp.rename.bind(sftp))("dir/a", "dir/b")).rejects.toThrow()
    await promisify(sftp.rename.bind(sftp))("dir/a", "dir/c")
    expect(readFileSync(join(root, "dir/c"), "utf8")).toBe("a")
    await promisify(sftp.unlink.bind(sftp))("dir/b")
    await promisify(sftp.unlink.bind(sftp))("dir/c")
    await promisify(sftp.rmdir.bind(sftp))("dir")
    await expect(promisify(sftp.stat.bind(sftp))("dir")).rejects.toThrow(/No such file/)
  })
})
