/**
 * Copying files and directory trees between this machine and Vers VMs, and between VMs
 * (SPEC-vers §4 "Copy"; `troupe vm cp`, Pi's `vers_vm_copy`). A location is a local path or
 * `vm:<id>:<path>`; bytes stream through (one 64 KiB SFTP read in flight, never a whole file
 * in memory), VM → VM included; modes are kept exactly; writes to a VM are atomic (temp +
 * rename, `Ssh.writeFile`), local writes go to a temp file renamed over the target.
 *
 * Destination rule (as `cp`): when `dst` is an existing directory, the source is copied into
 * it under its own name; otherwise `dst` is the new name. A directory source needs
 * `recursive`. pi-vers read whole files into memory, dropped modes and shelled out per file.
 */
import { FileSystem } from "@effect/platform"
import { Data, Effect, Option, Stream } from "effect"
import { randomBytes } from "node:crypto"
import { posix } from "node:path"
import { shortVmId, type VmId } from "../domain/Vers.js"
import type { SftpError, SshError } from "../domain/SshErrors.js"
import type { Ssh } from "./Ssh.js"

/** One side of a copy: `vm` is null for this machine. */
export interface Location {
  readonly vm: VmId | null
  readonly path: string
}

/** A copy that cannot be done as asked (missing source, directory without `recursive`, bad location); `message` is one sentence. */
export class CopyError extends Data.TaggedError("CopyError")<{ readonly message: string }> {}

/** What a copy did: regular files and directories written, bytes moved. */
export interface CopySummary {
  readonly files: number
  readonly directories: number
  readonly bytes: number
}

/** Options of {@link copy}. */
export interface CopyOptions {
  /** Copy a directory and everything under it (else a directory source is a `CopyError`). */
  readonly recursive?: boolean | undefined
  /** Base of relative local paths (default: the process's working directory). */
  readonly cwd?: string | undefined
}

const vmForm = /^vm:([^:]+):(.*)$/

/**
 * Parses `vm:<id>:<path>` (a VM path; relative paths are under the VM user's home) or a local path.
 * @fails CopyError for an empty path or VM id.
 */
export const parseLocation = (text: string): Effect.Effect<Location, CopyError> => {
  const m = vmForm.exec(text)
  if (m === null) return text === "" ? Effect.fail(new CopyError({ message: "A copy path is empty" })) : Effect.succeed({ vm: null, path: text })
  const id = m[1]!.trim()
  const path = m[2]!
  if (id === "" || path === "") return Effect.fail(new CopyError({ message: `${text} is not vm:<id>:<path> (a VM id and a path are both needed)` }))
  return Effect.succeed({ vm: id as VmId, path })
}

/** `vm:<short id>:<path>` or the local path, for messages. */
export const describeLocation = (l: Location): string => (l.vm === null ? l.path : `vm:${shortVmId(l.vm)}:${l.path}`)

type Kind = "file" | "directory" | "other"
interface Entry {
  readonly kind: Kind
  readonly mode: number
}

/** The operations a copy needs on one side. */
interface Side {
  readonly stat: (path: string) => Effect.Effect<Option.Option<Entry>, CopyFailure>
  readonly list: (path: string) => Effect.Effect<ReadonlyArray<string>, CopyFailure>
  readonly read: (path: string) => Stream.Stream<Uint8Array, CopyFailure>
  readonly write: (path: string, data: Stream.Stream<Uint8Array, CopyFailure>, mode: number) => Effect.Effect<void, CopyFailure>
  readonly mkdir: (path: string, mode: number) => Effect.Effect<void, CopyFailure>
  readonly join: (dir: string, name: string) => string
  readonly base: (path: string) => string
}

/** How a copy fails: a transport or SFTP failure, a local file failure (as a `CopyError`), or a refusal. */
export type CopyFailure = CopyError | SshError | SftpError

const localFailure = (what: string, path: string) => (e: { readonly message: string }) =>
  new CopyError({ message: `Could not ${what} ${path}: ${e.message.replace(/\s*\n[\s\S]*$/, "")}` })

const localSide = (fs: FileSystem.FileSystem, cwd: string): Side => {
  const abs = (p: string) => posix.resolve(cwd, p)
  return {
    stat: (path) =>
      fs.stat(abs(path)).pipe(
        Effect.map((s) => Option.some<Entry>({ kind: s.type === "File" ? "file" : s.type === "Directory" ? "directory" : "other", mode: s.mode & 0o7777 })),
        Effect.catchIf((e) => e._tag === "SystemError" && e.reason === "NotFound", () => Effect.succeed(Option.none<Entry>())),
        Effect.mapError(localFailure("read", path))
      ),
    list: (path) => fs.readDirectory(abs(path)).pipe(Effect.map((names) => [...names].sort()), Effect.mapError(localFailure("list", path))),
    read: (path) => fs.stream(abs(path)).pipe(Stream.mapError(localFailure("read", path))),
    write: (path, data, mode) => {
      const target = abs(path)
      const temp = `${target}.troupe-tmp-${randomBytes(6).toString("hex")}`
      return Stream.run(data, fs.sink(temp, { flag: "w", mode })).pipe(
        Effect.zipRight(fs.chmod(temp, mode).pipe(Effect.mapError(localFailure("write", path)))),
        Effect.zipRight(fs.rename(temp, target).pipe(Effect.mapError(localFailure("write", path)))),
        Effect.mapError((e): CopyFailure => (e._tag === "SystemError" || e._tag === "BadArgument" ? localFailure("write", path)(e) : e)),
        Effect.onError(() => Effect.ignore(fs.remove(temp)))
      )
    },
    mkdir: (path, mode) =>
      fs.makeDirectory(abs(path), { recursive: true }).pipe(Effect.zipRight(fs.chmod(abs(path), mode)), Effect.mapError(localFailure("create directory", path))),
    join: (dir, name) => posix.join(dir, name),
    base: (path) => posix.basename(posix.resolve(cwd, path))
  }
}

const vmSide = (ssh: Ssh["Type"], vm: VmId): Side => ({
  stat: (path) =>
    ssh.stat(vm, path).pipe(
      Effect.map((s) => Option.some<Entry>({ kind: s.type === "file" ? "file" : s.type === "directory" ? "directory" : "other", mode: s.mode })),
      Effect.catchIf((e) => e._tag === "SftpError" && e.reason === "not-found", () => Effect.succeed(Option.none<Entry>()))
    ),
  list: (path) => Effect.map(ssh.readDir(vm, path), (entries) => entries.map((e) => e.name)),
  read: (path) => ssh.readFile(vm, path),
  write: (path, data, mode) => ssh.writeFile(vm, path, data, { mode }),
  mkdir: (path, mode) => ssh.mkdir(vm, path, { recursive: true }).pipe(Effect.zipRight(ssh.chmod(vm, path, mode))),
  join: (dir, name) => posix.join(dir, name),
  base: (path) => posix.basename(path.replace(/\/+$/, "")) || path
})

/**
 * Copies `src` to `dst` (see the module doc for the destination rule), streaming.
 * @fails CopyError (missing source, a directory without `recursive`, a special file, a local
 * file failure), SftpError, SshError
 */
export const copy = Effect.fn("VmCopy.copy")(function* (ssh: Ssh["Type"], src: Location, dst: Location, options: CopyOptions = {}) {
  const fs = yield* FileSystem.FileSystem
  const local = localSide(fs, options.cwd ?? process.cwd())
  const sideOf = (l: Location) => (l.vm === null ? local : vmSide(ssh, l.vm))
  const from = sideOf(src)
  const to = sideOf(dst)
  const source = yield* from.stat(src.path)
  if (Option.isNone(source)) return yield* new CopyError({ message: `${describeLocation(src)} does not exist` })
  if (source.value.kind === "directory" && options.recursive !== true) {
    return yield* new CopyError({ message: `${describeLocation(src)} is a directory (copy it with -r / recursive)` })
  }
  const target = yield* to.stat(dst.path)
  const into = Option.isSome(target) && target.value.kind === "directory"
  const dstPath = into ? to.join(dst.path, from.base(src.path)) : dst.path
  if (source.value.kind === "directory" && src.vm === dst.vm) {
    const a = posix.resolve("/", src.path)
    const b = posix.resolve("/", dstPath)
    if (b === a || b.startsWith(`${a}/`)) return yield* new CopyError({ message: `Cannot copy ${describeLocation(src)} into itself (${describeLocation({ vm: dst.vm, path: dstPath })})` })
  }
  let files = 0
  let directories = 0
  let bytes = 0
  const counted = (data: Stream.Stream<Uint8Array, CopyFailure>) => Stream.tap(data, (c) => Effect.sync(() => void (bytes += c.byteLength)))
  const one = (s: string, d: string, entry: Entry): Effect.Effect<void, CopyFailure> =>
    Effect.gen(function* () {
      if (entry.kind === "file") {
        yield* to.write(d, counted(from.read(s)), entry.mode)
        files++
        return
      }
      if (entry.kind === "other") return yield* new CopyError({ message: `${s} is not a regular file or directory; not copied` })
      // Writable while filling it; its own mode is set after.
      yield* to.mkdir(d, entry.mode | 0o700)
      for (const name of yield* from.list(s)) {
        const child = from.join(s, name)
        const e = yield* from.stat(child)
        if (Option.isSome(e)) yield* one(child, to.join(d, name), e.value)
      }
      yield* to.mkdir(d, entry.mode)
      directories++
    })
  yield* one(src.path, dstPath, source.value)
  return { files, directories, bytes } satisfies CopySummary
})
