/**
 * The SFTP subsystem of a fake VM (protocol version 3, as ssh2 and OpenSSH's sftp-server speak
 * it) over the host's real filesystem. Relative paths resolve against the VM's root (the
 * session's home directory); absolute paths are the host's own paths — the fake is not a
 * sandbox, so tests build paths under `vm.root`.
 *
 * Faithful to OpenSSH's sftp-server where clients notice: `RENAME` onto an existing file fails
 * (`FAILURE`, as its link()-then-unlink() does), `READ` at the end answers `EOF`, a directory
 * listing ends with `EOF`, and errno values map to `NO_SUCH_FILE`, `PERMISSION_DENIED` or
 * `FAILURE` with OpenSSH's texts (never a host path). A `posix-rename@openssh.com` request is
 * served (replacing the target), but ssh2's server cannot advertise extensions in its VERSION
 * answer, so ssh2 clients will not send it: a client's atomic write (temp + rename) must fall
 * back to remove-then-rename when the extension is not advertised.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import ssh2, { type Attributes, type SFTPWrapper } from "ssh2"

const { STATUS_CODE } = ssh2.utils.sftp

type Handle = { readonly kind: "file"; readonly fd: fs.FileHandle } | { readonly kind: "dir"; readonly path: string; done: boolean }

const statusOf = (e: unknown): number => {
  const code = (e as NodeJS.ErrnoException | undefined)?.code
  if (code === "ENOENT" || code === "ENOTDIR") return STATUS_CODE.NO_SUCH_FILE
  if (code === "EACCES" || code === "EPERM") return STATUS_CODE.PERMISSION_DENIED
  return STATUS_CODE.FAILURE
}

const attrsOf = (s: import("node:fs").Stats): Attributes => ({
  mode: s.mode,
  uid: s.uid,
  gid: s.gid,
  size: s.size,
  atime: Math.floor(s.atimeMs / 1000),
  mtime: Math.floor(s.mtimeMs / 1000)
})

const typeChar = (s: import("node:fs").Stats) => (s.isDirectory() ? "d" : s.isSymbolicLink() ? "l" : "-")
const permText = (mode: number) =>
  [0o400, 0o200, 0o100, 0o40, 0o20, 0o10, 0o4, 0o2, 0o1].map((bit, i) => ((mode & bit) !== 0 ? "rwx"[i % 3] : "-")).join("")

/** An `ls -l` line, as OpenSSH's sftp-server sends in `longname`. */
const longname = (name: string, s: import("node:fs").Stats) =>
  `${typeChar(s)}${permText(s.mode)} ${s.nlink} ${s.uid} ${s.gid} ${s.size} ${new Date(s.mtimeMs).toISOString().slice(0, 16).replace("T", " ")} ${name}`

/** Applies the fields an `ATTRS` block carries (absent fields are left alone). */
const applyAttrs = async (target: string | fs.FileHandle, attrs: Partial<Attributes>) => {
  const isPath = typeof target === "string"
  if (attrs.size !== undefined) await (isPath ? fs.truncate(target, attrs.size) : target.truncate(attrs.size))
  if (attrs.uid !== undefined && attrs.gid !== undefined) {
    // Ownership changes need privileges a test run may not have; like chown(1) as a user, ignore a refusal only when nothing would change.
    await (isPath ? fs.chown(target, attrs.uid, attrs.gid) : target.chown(attrs.uid, attrs.gid)).catch(async (e: unknown) => {
      const s = await (isPath ? fs.stat(target) : target.stat())
      if (s.uid !== attrs.uid || s.gid !== attrs.gid) throw e
    })
  }
  if (attrs.mode !== undefined) await (isPath ? fs.chmod(target, attrs.mode & 0o7777) : target.chmod(attrs.mode & 0o7777))
  if (attrs.atime !== undefined && attrs.mtime !== undefined) await (isPath ? fs.utimes(target, attrs.atime, attrs.mtime) : target.utimes(attrs.atime, attrs.mtime))
}

const exists = (p: string) => fs.lstat(p).then(() => true, () => false)

/**
 * Serves SFTP requests on `sftp` with `root` as the home directory until the channel closes;
 * then closes every handle left open.
 */
export const serveSftp = (sftp: SFTPWrapper, root: string): void => {
  const handles = new Map<number, Handle>()
  let counter = 0
  const resolve = (p: string) => (path.isAbsolute(p) ? path.normalize(p) : path.resolve(root, p))
  const newHandle = (h: Handle) => {
    const id = ++counter
    handles.set(id, h)
    const buf = Buffer.alloc(4)
    buf.writeUInt32BE(id)
    return buf
  }
  const handleOf = (buf: Buffer) => (buf.length === 4 ? handles.get(buf.readUInt32BE()) : undefined)
  /** Runs one request; a thrown fs error answers its SFTP status. */
  const serve = (reqId: number, work: () => Promise<void>) => {
    work().catch((e: unknown) => {
      try {
        // OpenSSH's texts: a client must not depend on (or see) the host's paths in them.
        const code = statusOf(e)
        sftp.status(reqId, code, code === STATUS_CODE.NO_SUCH_FILE ? "No such file" : code === STATUS_CODE.PERMISSION_DENIED ? "Permission denied" : "Failure")
      } catch {
        // The channel closed meanwhile: nobody waits for the answer.
      }
    })
  }
  const ok = (reqId: number) => sftp.status(reqId, STATUS_CODE.OK)
  const badHandle = (reqId: number) => sftp.status(reqId, STATUS_CODE.FAILURE, "Invalid handle")

  sftp.on("OPEN", (reqId, filename, flags, attrs) =>
    serve(reqId, async () => {
      const mode = ssh2.utils.sftp.flagsToString(flags)
      if (mode === null) return void sftp.status(reqId, STATUS_CODE.OP_UNSUPPORTED, "Unsupported open flags")
      const fd = await fs.open(resolve(filename), mode, (attrs as Partial<Attributes>).mode ?? 0o666)
      sftp.handle(reqId, newHandle({ kind: "file", fd }))
    })
  )
  sftp.on("READ", (reqId, handle, offset, len) =>
    serve(reqId, async () => {
      const h = handleOf(handle)
      if (h?.kind !== "file") return badHandle(reqId)
      const buf = Buffer.alloc(len)
      const { bytesRead } = await h.fd.read(buf, 0, len, offset)
      if (bytesRead === 0) sftp.status(reqId, STATUS_CODE.EOF)
      else sftp.data(reqId, buf.subarray(0, bytesRead))
    })
  )
  sftp.on("WRITE", (reqId, handle, offset, data) =>
    serve(reqId, async () => {
      const h = handleOf(handle)
      if (h?.kind !== "file") return badHandle(reqId)
      let done = 0
      while (done < data.length) done += (await h.fd.write(data, done, data.length - done, offset + done)).bytesWritten
      ok(reqId)
    })
  )
  sftp.on("CLOSE", (reqId, handle) =>
    serve(reqId, async () => {
      const h = handleOf(handle)
      if (h === undefined) return badHandle(reqId)
      handles.delete(handle.readUInt32BE())
      if (h.kind === "file") await h.fd.close()
      ok(reqId)
    })
  )
  sftp.on("FSTAT", (reqId, handle) =>
    serve(reqId, async () => {
      const h = handleOf(handle)
      if (h === undefined) return badHandle(reqId)
      sftp.attrs(reqId, attrsOf(h.kind === "file" ? await h.fd.stat() : await fs.stat(h.path)))
    })
  )
  sftp.on("FSETSTAT", (reqId, handle, attrs) =>
    serve(reqId, async () => {
      const h = handleOf(handle)
      if (h === undefined) return badHandle(reqId)
      await applyAttrs(h.kind === "file" ? h.fd : h.path, attrs)
      ok(reqId)
    })
  )
  sftp.on("SETSTAT", (reqId, p, attrs) => serve(reqId, async () => (await applyAttrs(resolve(p), attrs), ok(reqId))))
  sftp.on("STAT", (reqId, p) => serve(reqId, async () => sftp.attrs(reqId, attrsOf(await fs.stat(resolve(p))))))
  sftp.on("LSTAT", (reqId, p) => serve(reqId, async () => sftp.attrs(reqId, attrsOf(await fs.lstat(resolve(p))))))
  sftp.on("OPENDIR", (reqId, p) =>
    serve(reqId, async () => {
      const dir = resolve(p)
      if (!(await fs.stat(dir)).isDirectory()) return void sftp.status(reqId, STATUS_CODE.FAILURE, `${p} is not a directory`)
      sftp.handle(reqId, newHandle({ kind: "dir", path: dir, done: false }))
    })
  )
  sftp.on("READDIR", (reqId, handle) =>
    serve(reqId, async () => {
      const h = handleOf(handle)
      if (h?.kind !== "dir") return badHandle(reqId)
      if (h.done) return void sftp.status(reqId, STATUS_CODE.EOF)
      h.done = true
      const names = [".", "..", ...(await fs.readdir(h.path))]
      const entries = await Promise.all(
        names.map(async (filename) => {
          const s = await fs.lstat(path.join(h.path, filename)).catch(() => undefined)
          return s === undefined ? undefined : { filename, longname: longname(filename, s), attrs: attrsOf(s) }
        })
      )
      sftp.name(reqId, entries.filter((e) => e !== undefined))
    })
  )
  sftp.on("MKDIR", (reqId, p, attrs) => serve(reqId, async () => (await fs.mkdir(resolve(p), { mode: (attrs as Partial<Attributes>).mode ?? 0o777 }), ok(reqId))))
  sftp.on("RMDIR", (reqId, p) => serve(reqId, async () => (await fs.rmdir(resolve(p)), ok(reqId))))
  sftp.on("REMOVE", (reqId, p) => serve(reqId, async () => (await fs.unlink(resolve(p)), ok(reqId))))
  sftp.on("RENAME", (reqId, from, to) =>
    serve(reqId, async () => {
      if (await exists(resolve(to))) return void sftp.status(reqId, STATUS_CODE.FAILURE, `${to} already exists`)
      await fs.rename(resolve(from), resolve(to))
      ok(reqId)
    })
  )
  sftp.on("REALPATH", (reqId, p) =>
    serve(reqId, async () => {
      const full = resolve(p)
      const real = await fs.realpath(full).catch(() => full)
      sftp.name(reqId, [{ filename: real, longname: real, attrs: {} as Attributes }])
    })
  )
  sftp.on("READLINK", (reqId, p) =>
    serve(reqId, async () => {
      const target = await fs.readlink(resolve(p))
      sftp.name(reqId, [{ filename: target, longname: target, attrs: {} as Attributes }])
    })
  )
  // ssh2 swaps OpenSSH's reversed SYMLINK arguments back: (the link's path, its target).
  sftp.on("SYMLINK", (reqId, linkPath, targetPath) => serve(reqId, async () => (await fs.symlink(targetPath, resolve(linkPath)), ok(reqId))))
  sftp.on("EXTENDED", (reqId, name, data) =>
    serve(reqId, async () => {
      if (name !== "posix-rename@openssh.com" || data === undefined) return void sftp.status(reqId, STATUS_CODE.OP_UNSUPPORTED, `Unsupported extended request ${name}`)
      const fromLen = data.readUInt32BE(0)
      const from = data.subarray(4, 4 + fromLen).toString("utf8")
      const toLen = data.readUInt32BE(4 + fromLen)
      const to = data.subarray(8 + fromLen, 8 + fromLen + toLen).toString("utf8")
      await fs.rename(resolve(from), resolve(to))
      ok(reqId)
    })
  )
  sftp.on("close", () => {
    for (const h of handles.values()) if (h.kind === "file") void h.fd.close().catch(() => {})
    handles.clear()
  })
}
