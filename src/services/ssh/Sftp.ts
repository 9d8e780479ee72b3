/**
 * SFTP on a pooled connection (docs/ssh.md "Files"): streamed reads, atomic streamed writes
 * (`<path>.troupe-tmp-<random>` then an OpenSSH `posix-rename` over the target; the temp is
 * removed on failure), stat, readDir, mkdir (recursive), chmod, remove. Bytes are passed
 * through untouched: no trailing newline added, no encoding applied.
 *
 * pi-vers wrote files with `cat > path <<'EOF'` heredocs (a trailing newline added, broken past
 * 128 KiB of argv) and read them with `cat`; here every file operation is SFTP.
 */
import { Effect, Fiber, Option, Stream, type Scope } from "effect"
import { randomBytes } from "node:crypto"
import { posix } from "node:path"
import type { FileEntryWithStats, OpenMode, SFTPWrapper, Stats } from "ssh2"
import { SftpError, SshMessages } from "../../domain/SshErrors.js"

/** What `stat`/`readDir` report: sizes in bytes, `mode` the permission bits (`0o755`), `mtimeMs` epoch ms. */
export interface RemoteStat {
  readonly type: "file" | "directory" | "symlink" | "other"
  readonly size: number
  readonly mode: number
  readonly mtimeMs: number
}

/** One directory entry. */
export interface RemoteEntry extends RemoteStat {
  readonly name: string
}

/** SFTP status codes (draft-ietf-secsh-filexfer-02 §7). */
const noSuchFile = 2
const permissionDenied = 3

const reasonOf = (e: unknown): SftpError["reason"] => {
  const code = (e as { code?: unknown }).code
  return code === noSuchFile ? "not-found" : code === permissionDenied ? "permission" : "failure"
}

const sftpError = (vmId: string, operation: string, path: string) => (e: unknown) => {
  const reason = reasonOf(e)
  const detail = reason === "not-found" ? "no such file or directory" : reason === "permission" ? "permission denied" : e instanceof Error ? e.message : String(e)
  return new SftpError({ vmId, operation, path, reason, message: SshMessages.sftp(vmId, operation, path, detail) })
}

/** Calls an ssh2 callback-style SFTP method as an effect failing with SftpError. */
const call = <A>(vmId: string, operation: string, path: string, f: (cb: (err: Error | null | undefined, a: A) => void) => void) =>
  Effect.async<A, SftpError>((resume) => {
    try {
      f((err, a) => resume(err ? Effect.fail(sftpError(vmId, operation, path)(err)) : Effect.succeed(a)))
    } catch (e) {
      resume(Effect.fail(sftpError(vmId, operation, path)(e)))
    }
  })

const toStat = (s: Stats): RemoteStat => ({
  type: s.isFile() ? "file" : s.isDirectory() ? "directory" : s.isSymbolicLink() ? "symlink" : "other",
  size: s.size,
  mode: s.mode & 0o7777,
  mtimeMs: s.mtime * 1000
})

/** Chunk size of reads and writes, bytes (ssh2 splits further to the server's limits). */
const chunkBytes = 64 * 1024

/**
 * Runs a closing step from a finalizer, bounded (5 s): in an interruptible child fiber so the
 * bound fires even when the session died and its answer never comes.
 */
const settle = (effect: Effect.Effect<void>) => Effect.flatMap(Effect.fork(Effect.interruptible(Effect.ignore(Effect.timeout(effect, 5_000)))), Fiber.join)

/** The SFTP operations over one session (`vmId` names the VM in errors). */
export const make = (vmId: string, sftp: SFTPWrapper) => {
  const open = (path: string, flags: OpenMode, mode?: number) =>
    Effect.acquireRelease(
      call<Buffer>(vmId, "open", path, (cb) => (mode === undefined ? sftp.open(path, flags, cb) : sftp.open(path, flags, mode, cb))),
      (handle) =>
        settle(Effect.async<void>((resume) => {
          try {
            sftp.close(handle, () => resume(Effect.void))
          } catch {
            resume(Effect.void)
          }
        }))
    )

  const stat = (path: string) => Effect.map(call<Stats>(vmId, "stat", path, (cb) => sftp.stat(path, cb)), toStat)

  /** Reads `path` as a stream of chunks, one outstanding read at a time (memory: one chunk). */
  const readFile = (path: string): Stream.Stream<Uint8Array, SftpError> =>
    Stream.unwrapScoped(
      Effect.map(open(path, "r"), (handle) =>
        Stream.unfoldEffect(0, (position: number) =>
          Effect.async<Option.Option<readonly [Uint8Array, number]>, SftpError>((resume) => {
            const buf = Buffer.allocUnsafe(chunkBytes)
            sftp.read(handle, buf, 0, chunkBytes, position, (err, bytesRead) => {
              // End of file: SSH_FX_EOF (code 1) from OpenSSH, or 0 bytes.
              if (err && (err as { code?: unknown }).code !== 1) return resume(Effect.fail(sftpError(vmId, "read", path)(err)))
              const n = err ? 0 : bytesRead
              resume(Effect.succeed(n === 0 ? Option.none() : Option.some([new Uint8Array(buf.buffer, buf.byteOffset, n), position + n] as const)))
            })
          })
        )
      )
    )

  const writeAll = (handle: Buffer, path: string, data: Uint8Array, position: number) =>
    call<void>(vmId, "write", path, (cb) => sftp.write(handle, Buffer.from(data.buffer, data.byteOffset, data.byteLength), 0, data.byteLength, position, cb as never))

  /**
   * Writes `data` to `path` atomically: into `<path>.troupe-tmp-<random>` (mode `mode`, else the
   * target's current mode, else 0o644), then renamed over `path`. On any failure the temp is removed.
   */
  const writeFile = <E>(path: string, data: Stream.Stream<Uint8Array, E>, options: { readonly mode?: number | undefined } = {}) =>
    Effect.gen(function* () {
      const mode = options.mode ?? (yield* stat(path).pipe(Effect.map((s) => s.mode), Effect.orElseSucceed(() => 0o644)))
      const temp = `${path}.troupe-tmp-${randomBytes(6).toString("hex")}`
      const written = Effect.scoped(
        Effect.gen(function* () {
          const handle = yield* open(temp, "w", mode)
          let position = 0
          yield* Stream.runForEach(Stream.rechunk(data, 1), (bytes) => {
            const at = position
            position += bytes.byteLength
            return bytes.byteLength === 0 ? Effect.void : writeAll(handle, temp, bytes, at)
          })
          // The umask applied at open; set the exact mode.
          yield* call<void>(vmId, "chmod", temp, (cb) => sftp.fchmod(handle, mode, cb))
        })
      )
      yield* written.pipe(
        Effect.zipRight(rename(temp, path)),
        Effect.onError(() => call<void>(vmId, "remove", temp, (cb) => sftp.unlink(temp, cb)).pipe(Effect.ignore))
      )
    })

  /** Renames over an existing target (OpenSSH's `posix-rename@openssh.com`; plain SFTP rename refuses an existing target). */
  const rename = (from: string, to: string) =>
    call<void>(vmId, "rename", to, (cb) => {
      const ext = (sftp as unknown as { ext_openssh_rename?: (a: string, b: string, cb: (err?: Error) => void) => void }).ext_openssh_rename
      try {
        if (ext === undefined) throw new Error("no posix-rename")
        ext.call(sftp, from, to, (err) => cb(err, undefined))
      } catch {
        // Without posix-rename, plain SFTP RENAME refuses an existing target: remove it, then
        // rename (not atomic, but the only way on such a server; the temp file is complete).
        sftp.rename(from, to, (err) => {
          if (!err) return cb(undefined, undefined)
          sftp.unlink(to, (gone) => (gone ? cb(err, undefined) : sftp.rename(from, to, (again) => cb(again, undefined))))
        })
      }
    })

  const readDir = (path: string) =>
    Effect.map(call<Array<FileEntryWithStats>>(vmId, "readdir", path, (cb) => sftp.readdir(path, cb)), (entries): ReadonlyArray<RemoteEntry> =>
      entries
        .filter((e) => e.filename !== "." && e.filename !== "..")
        .map((e) => ({ name: e.filename, ...toStat(e.attrs as unknown as Stats) }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)))

  const mkdirOne = (path: string, mode: number | undefined) =>
    call<void>(vmId, "mkdir", path, (cb) => (mode === undefined ? sftp.mkdir(path, cb) : sftp.mkdir(path, { mode }, cb)))

  /** Creates `path`; with `recursive`, its missing parents too and an existing directory is fine. */
  const mkdir = (path: string, options: { readonly recursive?: boolean | undefined; readonly mode?: number | undefined } = {}): Effect.Effect<void, SftpError> =>
    options.recursive !== true
      ? mkdirOne(path, options.mode)
      : Effect.gen(function* () {
          const existing = yield* stat(path).pipe(Effect.option)
          if (existing._tag === "Some") {
            if (existing.value.type === "directory") return
            return yield* new SftpError({ vmId, operation: "mkdir", path, reason: "exists", message: SshMessages.sftp(vmId, "mkdir", path, "it exists and is not a directory") })
          }
          const parent = posix.dirname(path)
          if (parent !== path) yield* mkdir(parent, { recursive: true })
          yield* mkdirOne(path, options.mode).pipe(Effect.catchIf((e) => e.reason === "failure", (e) => Effect.flatMap(stat(path), (s) => (s.type === "directory" ? Effect.void : Effect.fail(e)))))
        })

  const chmod = (path: string, mode: number) => call<void>(vmId, "chmod", path, (cb) => sftp.chmod(path, mode, cb))

  /** Removes a file, symlink or empty directory; with `recursive`, a directory and everything in it. */
  const remove = (path: string, options: { readonly recursive?: boolean | undefined } = {}): Effect.Effect<void, SftpError> =>
    Effect.gen(function* () {
      const s = yield* call<Stats>(vmId, "lstat", path, (cb) => sftp.lstat(path, cb)).pipe(Effect.map(toStat))
      if (s.type !== "directory") return yield* call<void>(vmId, "remove", path, (cb) => sftp.unlink(path, cb))
      if (options.recursive === true) {
        for (const entry of yield* readDir(path)) yield* remove(posix.join(path, entry.name), options)
      }
      yield* call<void>(vmId, "rmdir", path, (cb) => sftp.rmdir(path, cb))
    })

  return { readFile, writeFile, stat, readDir, mkdir, chmod, remove }
}

export type SftpOps = ReturnType<typeof make>

/** Opens an SFTP session on `client` in the current scope. */
export const openSession = (vmId: string, client: { sftp: (cb: (err: Error | undefined, sftp: SFTPWrapper) => void) => void }): Effect.Effect<SFTPWrapper, SftpError, Scope.Scope> =>
  Effect.acquireRelease(
    call<SFTPWrapper>(vmId, "start", "(session)", (cb) => client.sftp((err, s) => cb(err ?? null, s))),
    (s) =>
      Effect.sync(() => {
        try {
          s.end()
        } catch {
          // the connection is gone already
        }
      })
  )
