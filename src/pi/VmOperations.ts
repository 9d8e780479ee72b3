/**
 * Pi's pluggable tool backends (`BashOperations`, `ReadOperations`, `WriteOperations`,
 * `EditOperations`, docs/extensions.md "Remote Execution") over `Ssh` on one VM: Pi's own
 * `bash`, `read`, `write` and `edit` run with these, so their result formats (read's line
 * numbers, offset/limit and truncation, edit's exact/unique-match rules and texts, bash's output
 * tail and exit-code line) are Pi's, not a copy. Paths are absolute on the VM.
 *
 * - bash: one `Ssh.exec` channel (stdout and stderr both to `onData`), an abort stops the
 *   remote command (TERM), `timeout` (seconds) fails `timeout:<n>` as Pi's local backend does;
 *   only `PI_*` variables of Pi's environment are exported on the VM (never the local shell's).
 * - read: streamed (`createReadStream`, one 64 KiB SFTP read in flight); write: atomic (temp +
 *   rename), byte-exact, no newline added; mkdir: recursive.
 */
import type { BashOperations, EditOperations, ReadOperations, WriteOperations } from "@earendil-works/pi-coding-agent"
import { Cause, Chunk, Effect, Exit, type ManagedRuntime, Option, Stream } from "effect"
import { shortVmId, type VmId } from "../domain/Vers.js"
import { SftpError } from "../domain/SshErrors.js"
import type { Ssh } from "../services/Ssh.js"
import { exitCodeOf } from "../services/ssh/ExitCode.js"
import { oneLine } from "./Connection.js"

/** Pi's four backends for one VM, and the directory relative paths resolve against. */
export interface VmOperations {
  readonly vmId: VmId
  /** The VM user's home (`pwd` of a fresh session): Pi's cwd while the VM is active. */
  readonly cwd: string
  readonly bash: BashOperations
  readonly read: ReadOperations
  readonly write: WriteOperations
  readonly edit: EditOperations
}

/** Runs `Ssh` effects (the adapter's SSH runtime). */
export type SshRuntime = ManagedRuntime.ManagedRuntime<Ssh, never>

/**
 * Runs `effect`; a failure rejects with the error itself when it is an `Error` (its one-sentence
 * `message`, and `code` for the Node-style ones), else with one line of the cause.
 */
export const settle = async <A, E>(rt: SshRuntime, effect: Effect.Effect<A, E, Ssh>, signal?: AbortSignal): Promise<A> => {
  const exit = await rt.runPromiseExit(effect, signal === undefined ? undefined : { signal })
  if (Exit.isSuccess(exit)) return exit.value
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure) && failure.value instanceof Error) throw failure.value
  throw new Error(oneLine(exit.cause))
}

const run = settle

/** A missing file as Node's fs reports it, so Pi's tools show what they show locally. */
const asNodeError = (vmId: VmId, op: string) => (e: unknown) => {
  if (e instanceof SftpError && e.reason === "not-found") {
    return Object.assign(new Error(`ENOENT: no such file or directory, ${op} '${e.path}' (on VM ${shortVmId(vmId)})`), { code: "ENOENT" })
  }
  if (e instanceof SftpError && e.reason === "permission") {
    return Object.assign(new Error(`EACCES: permission denied, ${op} '${e.path}' (on VM ${shortVmId(vmId)})`), { code: "EACCES" })
  }
  return e
}

const bytesOf = (chunks: Chunk.Chunk<Uint8Array>): Buffer => Buffer.concat(Chunk.toReadonlyArray(chunks).map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength)))

/** Pi's environment variables that make sense on the VM (`PI_SESSION_ID`, …). */
const piVariables = (env: NodeJS.ProcessEnv | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(env ?? {}).filter((kv): kv is [string, string] => kv[0].startsWith("PI_") && /^[A-Za-z_][A-Za-z0-9_]*$/.test(kv[0]) && typeof kv[1] === "string"))

/**
 * The backends of VM `vmId` with home `cwd`, running on `rt`.
 * Errors reject with one sentence (an `SshError`'s message, or Node-style `ENOENT`/`EACCES`).
 */
export const vmOperations = (rt: SshRuntime, ssh: Ssh["Type"], vmId: VmId, cwd: string): VmOperations => {
  const readAll = (path: string) =>
    run(rt, Effect.mapError(Stream.runCollect(ssh.readFile(vmId, path)), asNodeError(vmId, "open")).pipe(Effect.map(bytesOf)))
  const writeText = (path: string, content: string) =>
    run(rt, Effect.mapError(ssh.writeFile(vmId, path, Stream.make(new TextEncoder().encode(content))), asNodeError(vmId, "open")))
  const access = (path: string) => run(rt, Effect.asVoid(Effect.mapError(ssh.stat(vmId, path), asNodeError(vmId, "access"))))

  const bash: BashOperations = {
    exec: (command, dir, options) =>
      run(
        rt,
        Effect.scoped(
          Effect.gen(function* () {
            const proc = yield* ssh.exec(vmId, command, { cwd: dir, env: piVariables(options.env), stdin: Stream.empty })
            const forward = (s: Stream.Stream<Uint8Array, unknown>) =>
              Stream.runForEach(s, (b) => Effect.sync(() => options.onData(Buffer.from(b.buffer, b.byteOffset, b.byteLength))))
            yield* Effect.all([forward(proc.stdout), forward(proc.stderr)], { concurrency: 2, discard: true })
            const exit = yield* proc.exit
            return { exitCode: exitCodeOf(exit) }
          })
        ).pipe(
          (work) =>
            options.timeout !== undefined && options.timeout > 0
              ? Effect.timeoutFail(work, { duration: `${options.timeout} seconds`, onTimeout: () => new Error(`timeout:${options.timeout}`) })
              : work
        ),
        options.signal
      ).catch((e: unknown) => {
        if (options.signal?.aborted === true) throw new Error("aborted")
        throw e
      })
  }

  const read: ReadOperations = {
    readFile: readAll,
    access,
    createReadStream: (path, options) =>
      (async function* (): AsyncGenerator<Uint8Array> {
        const runtime = await rt.runtime()
        const stream: Stream.Stream<Uint8Array, unknown> = Stream.mapError(ssh.readFile(vmId, path), asNodeError(vmId, "open"))
        for await (const chunk of Stream.toAsyncIterableRuntime(runtime)(stream) as AsyncIterable<Uint8Array>) {
          if (options.signal?.aborted === true) return
          yield chunk
        }
      })()
  }

  const write: WriteOperations = {
    writeFile: writeText,
    mkdir: (dir) => run(rt, Effect.mapError(ssh.mkdir(vmId, dir, { recursive: true }), asNodeError(vmId, "mkdir")))
  }

  const edit: EditOperations = { readFile: readAll, writeFile: writeText, access }

  return { vmId, cwd, bash, read, write, edit }
}
