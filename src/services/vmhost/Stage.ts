/**
 * Staging a recipe folder on a VM (docs/vmhost.md "Recipe folders on VMs"): the folder is
 * copied over SFTP to the SAME absolute path on the VM, so a leaf's argv that names
 * `{recipe_dir}/script.sh` runs unchanged there.
 *
 * What is copied: the regular files of the folder and its subfolders, byte-exact, with their
 * permission bits. A symbolic link is followed only when its target lies inside the folder (a
 * link out of it, or to something that is neither a file nor a directory, is skipped with a
 * warning). The folder may hold at most {@link maxStageBytes} bytes in
 * at most {@link maxStageFiles} files; past that, staging fails with one sentence.
 *
 * What is skipped: a file whose copy on the VM is a regular file of the same size and the same
 * SHA-256 (hashed on the VM with `sha256sum`, in batches; a VM without it gets every such file
 * again) — content, not mtime, decides, so a second run copies nothing and a VM whose paths are
 * this machine's (FakeVm) is never written to. A matching file whose mode differs gets only a
 * `chmod`. Every write is atomic (`Ssh.writeFile`: temp + rename), so a file that vanishes or
 * fails mid-way leaves the VM's copy as it was and no temp behind.
 *
 * pi-vers had no such step: a recipe's own scripts had to be put on the VM by hand.
 */
import { Effect, Option, Stream } from "effect"
import { createHash } from "node:crypto"
import { createReadStream } from "node:fs"
import * as fsp from "node:fs/promises"
import { posix } from "node:path"
import { shellQuoteWord } from "../../domain/ShellQuote.js"
import { shortVmId, type VmId } from "../../domain/Vers.js"
import { HostError } from "../Host.js"
import type { RemoteEntry, SshShape } from "../Ssh.js"

/** Size cap of one staged folder: 64 MiB in all its files. */
export const maxStageBytes = 64 * 1024 * 1024

/** File-count cap of one staged folder. */
export const maxStageFiles = 10_000

/** Files hashed per `sha256sum` command on the VM. */
const hashBatch = 200

/** Options of {@link stageDir}. */
export interface StageOptions {
  /** Size cap in bytes (default {@link maxStageBytes}). */
  readonly maxBytes?: number | undefined
  /** File-count cap (default {@link maxStageFiles}). */
  readonly maxFiles?: number | undefined
}

/** What {@link stageDir} did: files in the folder, files written, bytes written, modes fixed. */
export interface StageSummary {
  readonly files: number
  readonly written: number
  readonly bytes: number
  readonly chmods: number
}

/** A regular file of the folder: absolute path (same on the VM), size in bytes, permission bits. */
interface LocalFile {
  readonly path: string
  readonly size: number
  readonly mode: number
}

interface LocalTree {
  /** Absolute directories, parents first (the folder itself first). */
  readonly dirs: ReadonlyArray<{ readonly path: string; readonly mode: number }>
  readonly files: ReadonlyArray<LocalFile>
}

const errorText = (e: unknown) => {
  const code = (e as NodeJS.ErrnoException | undefined)?.code
  if (code === "ENOENT") return "no such file or directory"
  if (code === "EACCES" || code === "EPERM") return "permission denied"
  return e instanceof Error ? e.message.split("\n")[0]! : String(e)
}

/** A staging failure: `unavailable` when the VM could not be reached (an SSH transport error), else `spawn`. */
const stageFailure = (dir: string, vmId: VmId, e: string | { readonly _tag: string; readonly message: string }) =>
  new HostError({
    reason: typeof e !== "string" && e._tag.startsWith("Ssh") ? "unavailable" : "spawn",
    code: 1,
    message: `Could not stage recipe folder ${dir} on VM ${shortVmId(vmId)}: ${typeof e === "string" ? e : e.message.replace(/\.$/, "")}.`
  })

const inside = (root: string, p: string) => p === root || p.startsWith(root.endsWith("/") ? root : `${root}/`)

/**
 * Lists the folder's directories and regular files (see the module doc for symlinks and caps).
 * Pure local reads; fails with a sentence (`why`) as a string.
 */
const listLocal = (dir: string, maxBytes: number, maxFiles: number) =>
  Effect.gen(function* () {
    const io = <A>(what: string, path: string, f: () => Promise<A>) =>
      Effect.tryPromise({ try: f, catch: (e) => `cannot ${what} ${path} (${errorText(e)})` })
    const real = yield* io("read", dir, () => fsp.realpath(dir))
    const rootStat = yield* io("read", dir, () => fsp.stat(real))
    if (!rootStat.isDirectory()) return yield* Effect.fail(`${dir} is not a directory`)
    const dirs: Array<{ path: string; mode: number }> = [{ path: dir, mode: rootStat.mode & 0o7777 }]
    const files: Array<LocalFile> = []
    const seen = new Set<string>([real])
    let bytes = 0
    const walk = (at: string): Effect.Effect<void, string> =>
      Effect.gen(function* () {
        const names = (yield* io("list", at, () => fsp.readdir(at))).sort()
        for (const name of names) {
          const path = posix.join(at, name)
          const link = yield* io("read", path, () => fsp.lstat(path))
          let target = link
          if (link.isSymbolicLink()) {
            const resolved = yield* io("read", path, () => fsp.realpath(path)).pipe(Effect.option)
            if (Option.isNone(resolved) || !inside(real, resolved.value)) {
              yield* Effect.logWarning(`Stage: ${path} is a symbolic link out of ${dir} (or dangling); not staged`)
              continue
            }
            if (seen.has(resolved.value)) continue
            target = yield* io("read", path, () => fsp.stat(path))
            if (target.isDirectory()) seen.add(resolved.value)
          }
          if (target.isDirectory()) {
            dirs.push({ path, mode: target.mode & 0o7777 })
            yield* walk(path)
          } else if (target.isFile()) {
            bytes += target.size
            if (files.length + 1 > maxFiles) return yield* Effect.fail(`it holds more than ${maxFiles} files`)
            if (bytes > maxBytes) return yield* Effect.fail(`it holds more than ${maxBytes} bytes (the limit of a staged recipe folder)`)
            files.push({ path, size: target.size, mode: target.mode & 0o7777 })
          } else {
            yield* Effect.logWarning(`Stage: ${path} is not a regular file or directory; not staged`)
          }
        }
      })
    yield* walk(dir)
    return { dirs, files } satisfies LocalTree
  })

/** A local file's bytes, 64 KiB at a time; a read failure (e.g. the file vanished) is a sentence. */
const localBytes = (path: string): Stream.Stream<Uint8Array, string> =>
  // Opened when consumed, so an open failure reaches the reader (not an unhandled 'error').
  Stream.suspend(() =>
    Stream.fromAsyncIterable(createReadStream(path, { highWaterMark: 64 * 1024 }) as AsyncIterable<Uint8Array>, (e) => `cannot read ${path} (${errorText(e)})`)
  )

const localSha256 = (path: string) =>
  Stream.runFold(localBytes(path), createHash("sha256"), (h, chunk) => h.update(chunk)).pipe(Effect.map((h) => h.digest("hex")))

/** `sha256sum` of `paths` on the VM: path → hex, for the lines it could parse (none when it is missing). */
const remoteSha256 = (ssh: SshShape, vmId: VmId, paths: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const out = new Map<string, string>()
    for (let i = 0; i < paths.length; i += hashBatch) {
      const batch = paths.slice(i, i + hashBatch)
      const r = yield* ssh.run(vmId, `sha256sum -- ${batch.map(shellQuoteWord).join(" ")}`, { check: false })
      for (const line of new TextDecoder().decode(r.stdout).split("\n")) {
        // `<64 hex>  <path>`; a path with a newline or backslash is escaped (leading `\`): no match, so copied.
        const m = /^([0-9a-f]{64}) [ *](.*)$/.exec(line)
        if (m !== null) out.set(m[2]!, m[1]!)
      }
    }
    return out
  })

/** The entries of a VM directory by name; none (and the directory created, mode `mode`) when missing. */
const remoteDir = (ssh: SshShape, vmId: VmId, path: string, mode: number) =>
  ssh.readDir(vmId, path).pipe(
    Effect.map((entries) => new Map(entries.map((e) => [e.name, e] as const))),
    Effect.catchIf(
      (e) => e._tag === "SftpError" && e.reason === "not-found",
      () => Effect.as(ssh.mkdir(vmId, path, { recursive: true, mode: mode | 0o700 }), new Map<string, RemoteEntry>())
    )
  )

/**
 * Stages the recipe folder `dir` (an absolute path on this machine) on VM `vmId` at the same
 * path (see the module doc). Succeeds with what it did.
 * @fails HostError (code 1) with one sentence: `Could not stage recipe folder <dir> on VM
 *   <id>: <why>.` — `spawn` for a relative path, a folder past the caps, a local file
 *   unreadable or gone mid-way, or an SFTP failure; `unavailable` when the VM cannot be
 *   reached (an SSH transport error, its sentence).
 */
export const stageDir = Effect.fn("VmHost.stage")(
  function* (ssh: SshShape, vmId: VmId, dir: string, options: StageOptions = {}) {
    if (!posix.isAbsolute(dir)) return yield* Effect.fail(`${dir} is not an absolute path`)
    const root = posix.normalize(dir).replace(/(.)\/$/, "$1")
    const tree = yield* listLocal(root, options.maxBytes ?? maxStageBytes, options.maxFiles ?? maxStageFiles)
    const remote = new Map<string, RemoteEntry>()
    for (const d of tree.dirs) {
      for (const [name, entry] of yield* remoteDir(ssh, vmId, d.path, d.mode)) remote.set(posix.join(d.path, name), entry)
    }
    // A symlink on the VM is judged by what it points to (on FakeVm, the local file itself).
    const remoteFile = (path: string) => {
      const e = remote.get(path)
      if (e === undefined || e.type !== "symlink") return Effect.succeed(e)
      return ssh.stat(vmId, path).pipe(Effect.map((s) => ({ ...s, name: e.name })), Effect.orElseSucceed(() => undefined))
    }
    const sameSize: Array<{ readonly file: LocalFile; readonly mode: number }> = []
    const toWrite: Array<LocalFile> = []
    for (const file of tree.files) {
      const r = yield* remoteFile(file.path)
      if (r !== undefined && r.type === "file" && r.size === file.size) sameSize.push({ file, mode: r.mode })
      else toWrite.push(file)
    }
    let chmods = 0
    if (sameSize.length > 0) {
      const hashes = yield* remoteSha256(ssh, vmId, sameSize.map((s) => s.file.path))
      for (const { file, mode } of sameSize) {
        const there = hashes.get(file.path)
        if (there === undefined || there !== (yield* localSha256(file.path))) {
          toWrite.push(file)
          continue
        }
        if (mode !== file.mode) {
          yield* ssh.chmod(vmId, file.path, file.mode)
          chmods++
        }
      }
    }
    let bytes = 0
    for (const file of toWrite) {
      const data = Stream.tap(localBytes(file.path), (c) => Effect.sync(() => void (bytes += c.byteLength)))
      yield* ssh.writeFile(vmId, file.path, data, { mode: file.mode })
    }
    if (toWrite.length > 0) yield* Effect.logDebug(`Stage: ${toWrite.length} file(s), ${bytes} bytes of ${root} written to VM ${vmId}`)
    return { files: tree.files.length, written: toWrite.length, bytes, chmods } satisfies StageSummary
  },
  (effect, _ssh, vmId, dir) =>
    Effect.mapError(effect, (e: string | { readonly _tag: string; readonly message: string }) => stageFailure(dir, vmId, e))
)
