/**
 * `Ssh`: commands and files on Vers VMs over SSH-in-TLS, in-process with ssh2 (SPEC-vers §3,
 * docs/ssh.md). One pooled connection per VM (an `RcMap` with an idle TTL, 30 s by default;
 * keepalive every 10 s); each command is a channel on it, and one SFTP session per connection
 * carries the file operations. A connection that errors or closes is dropped from the pool, so
 * the next call reconnects. Host keys are pinned on first connect (`SshHostKeys`).
 *
 * Transport failures are {@link SshError}s; a command that ran and failed is
 * `RemoteCommandFailed` (only from `run`); file failures are `SftpError` naming the path.
 *
 * pi-vers started one `ssh` process (TLS + SSH handshakes, ~250 ms) per command, never
 * checked host keys, and wrote files through heredocs (a trailing newline added, nothing past
 * 128 KiB); troupe does none of that.
 */
import { Context, type Duration, Effect, Layer, Option, Queue, RcMap, Scope, Stream } from "effect"
import type { PersistenceError } from "../domain/PersistenceError.js"
import { RemoteCommandFailed, SftpError, SshConnectError, SshDisconnected, type SshError, SshMessages } from "../domain/SshErrors.js"
import type { VmId } from "../domain/Vers.js"
import { HostError } from "./Host.js"
import type { BrokerChannel } from "./internal/BrokerConnection.js"
import { connect, type Connection } from "./ssh/Connect.js"
import { exec as execOn, type ExecOptions, type RemoteExit, type SshProcess } from "./ssh/Exec.js"
import { SshHostKeys } from "./ssh/HostKeys.js"
import * as Sftp from "./ssh/Sftp.js"
import { VersApi } from "./VersApi.js"
import { sshHost, VersConfig } from "./VersConfig.js"

export { shellQuote } from "./ssh/Exec.js"
export type { ExecOptions, RemoteExit, SshProcess } from "./ssh/Exec.js"
export { describeHostKey, type PinnedHostKey, SshHostKeys, type SshHostKeysShape } from "./ssh/HostKeys.js"
export type { RemoteEntry, RemoteStat } from "./ssh/Sftp.js"

/** Options of {@link Ssh.run}. */
export interface RunOptions extends Omit<ExecOptions, "stdin"> {
  /** stdin, all of it (closed after); none: stdin is closed at once. */
  readonly stdin?: Uint8Array | string | undefined
  /** Bytes kept of each of stdout and stderr (default 16 MiB); the rest is drained and `truncated` set. */
  readonly maxOutputBytes?: number | undefined
  /** Fail with `RemoteCommandFailed` on a non-zero exit or a signal (default true). */
  readonly check?: boolean | undefined
}

/** What {@link Ssh.run} collected. */
export interface RunResult {
  readonly exit: RemoteExit
  readonly stdout: Uint8Array
  readonly stderr: Uint8Array
  /** True when either stream passed `maxOutputBytes`. */
  readonly truncated: boolean
}

/**
 * A long-lived command's stdio as a byte duplex, shaped as `BrokerChannel` (BrokerHost runs the
 * exec broker over it): `input` is the command's stdout (transport failures become `HostError`
 * `unavailable`), `write` never throws and keeps order, `end` closes stdin. `stderrTail` is the
 * last 4 KiB of its stderr (e.g. `node: not found` when the broker cannot start); `exit` its end.
 */
export interface SshChannel extends BrokerChannel {
  readonly end: () => void
  readonly stderrTail: Effect.Effect<string>
  readonly exit: Effect.Effect<RemoteExit, SshError>
}

export interface SshShape {
  /**
   * Starts `command` (a shell command line; build one from argv with `shellQuote`) on the VM, in
   * the current scope: closing the scope before it exits sends `TERM` and closes the channel.
   * @fails SshError (connect, auth, timeout, host key, disconnected)
   */
  readonly exec: (vmId: VmId, command: string, options?: ExecOptions) => Effect.Effect<SshProcess, SshError, Scope.Scope>
  /**
   * Runs `command` to its end, collecting stdout and stderr (bounded by `maxOutputBytes`).
   * @fails SshError; RemoteCommandFailed on a non-zero exit or a signal unless `check: false`
   */
  readonly run: (vmId: VmId, command: string, options?: RunOptions) => Effect.Effect<RunResult, SshError | RemoteCommandFailed>
  /** Starts `command` as a byte duplex (see {@link SshChannel}) in the current scope. @fails SshError */
  readonly channel: (vmId: VmId, command: string) => Effect.Effect<SshChannel, SshError, Scope.Scope>
  /** Streams the bytes of the file at `path`, one 64 KiB read in flight. @fails SftpError (`not-found`, …), SshError */
  readonly readFile: (vmId: VmId, path: string) => Stream.Stream<Uint8Array, SshError | SftpError>
  /**
   * Writes `data` to `path` atomically (temp file + rename), mode `mode` (else the existing
   * file's, else 0o644), byte-exact. A failure (of the stream too) leaves `path` as it was and no temp.
   * @fails SftpError, SshError, E
   */
  readonly writeFile: <E>(vmId: VmId, path: string, data: Stream.Stream<Uint8Array, E>, options?: { readonly mode?: number | undefined }) => Effect.Effect<void, SshError | SftpError | E>
  /** `stat` (follows symlinks). @fails SftpError, SshError */
  readonly stat: (vmId: VmId, path: string) => Effect.Effect<Sftp.RemoteStat, SshError | SftpError>
  /** The entries of a directory (without `.` and `..`), sorted by name. @fails SftpError, SshError */
  readonly readDir: (vmId: VmId, path: string) => Effect.Effect<ReadonlyArray<Sftp.RemoteEntry>, SshError | SftpError>
  /** Creates a directory; `recursive` creates parents and accepts an existing one. @fails SftpError, SshError */
  readonly mkdir: (vmId: VmId, path: string, options?: { readonly recursive?: boolean; readonly mode?: number }) => Effect.Effect<void, SshError | SftpError>
  /** Sets permission bits (`0o755`). @fails SftpError, SshError */
  readonly chmod: (vmId: VmId, path: string, mode: number) => Effect.Effect<void, SshError | SftpError>
  /** Removes a file or an empty directory; `recursive` removes a tree. @fails SftpError, SshError */
  readonly remove: (vmId: VmId, path: string, options?: { readonly recursive?: boolean }) => Effect.Effect<void, SshError | SftpError>
  /** Forgets the pinned host key (call when the VM was deleted or restored) and drops its pooled connection. @fails PersistenceError */
  readonly forgetHostKey: (vmId: VmId) => Effect.Effect<boolean, PersistenceError>
}

/** Pool and handshake settings of {@link Ssh.layerWith}. */
export interface SshOptions {
  /** How long an unused connection stays open (default 30 s). */
  readonly idleTimeToLive?: Duration.DurationInput | undefined
  /** Bound on TLS + SSH handshake, ms (default 20,000). */
  readonly readyTimeoutMs?: number | undefined
}

export const defaultIdleTimeToLive: Duration.DurationInput = "30 seconds"
export const defaultReadyTimeoutMs = 20_000
const defaultMaxOutputBytes = 16 * 1024 * 1024
const stderrTailBytes = 4096

/** A pooled connection: the client, whether it went away, and its lazily opened SFTP session. */
interface Pooled {
  readonly conn: Connection
  closed: boolean
  readonly sftp: Effect.Effect<Sftp.SftpOps, SftpError>
}

const concat = (chunks: ReadonlyArray<Uint8Array>, size: number): Uint8Array => {
  const out = new Uint8Array(size)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.byteLength
  }
  return out
}

/** Collects a stream's first `max` bytes and drains the rest. */
const collect = <E>(stream: Stream.Stream<Uint8Array, E>, max: number) =>
  Effect.map(
    Stream.runFold(stream, { chunks: [] as Array<Uint8Array>, size: 0, truncated: false }, (acc, c) => {
      const room = max - acc.size
      if (room <= 0) return c.byteLength > 0 ? { ...acc, truncated: true } : acc
      const kept = c.byteLength > room ? c.subarray(0, room) : c
      acc.chunks.push(kept)
      return { chunks: acc.chunks, size: acc.size + kept.byteLength, truncated: acc.truncated || kept !== c }
    }),
    (acc) => ({ bytes: concat(acc.chunks, acc.size), truncated: acc.truncated })
  )

const make = (options: SshOptions) =>
  Effect.gen(function* () {
    const api = yield* VersApi
    const config = yield* VersConfig
    const hostKeys = yield* SshHostKeys
    const readyTimeoutMs = options.readyTimeoutMs ?? defaultReadyTimeoutMs

    const open = (vmId: VmId) =>
      Effect.gen(function* () {
        const host = sshHost(config, vmId)
        const key = yield* api.sshKey(vmId).pipe(
          Effect.mapError((e) => new SshConnectError({ vmId, message: SshMessages.connect(vmId, host, `its SSH key could not be fetched (${e.message})`) }))
        )
        const conn = yield* connect({
          vmId,
          host,
          address: Option.getOrElse(config.sshAddress, () => host),
          port: config.sshPort,
          caFile: config.sshCa,
          privateKey: key.sshPrivateKey,
          readyTimeoutMs,
          hostKeyPolicy: config.sshHostKeyPolicy,
          hostKeys
        })
        const scope = yield* Effect.scope
        // Opened on first use, in the connection's scope, once (a failure marks the connection dead).
        const session = yield* Effect.cached(Sftp.openSession(vmId, conn.client).pipe(Scope.extend(scope), Effect.map((s) => Sftp.make(vmId, s))))
        const pooled: Pooled = { conn, closed: false, sftp: session }
        const gone = () => void (pooled.closed = true)
        conn.client.on("close", gone).on("end", gone).on("error", gone)
        return pooled
      })

    const pool = yield* RcMap.make({ lookup: open, idleTimeToLive: options.idleTimeToLive ?? defaultIdleTimeToLive })

    /** A live pooled connection for the current scope; a dead one is dropped and replaced. */
    const connection = (vmId: VmId) =>
      Effect.gen(function* () {
        const first = yield* RcMap.get(pool, vmId)
        if (!first.closed) return first
        yield* RcMap.invalidate(pool, vmId)
        return yield* RcMap.get(pool, vmId)
      })

    const sftp = (vmId: VmId) =>
      Effect.flatMap(connection(vmId), (pooled) =>
        pooled.sftp.pipe(
          // A failed SFTP start means the connection is unusable for files; the next call reconnects.
          Effect.tapError(() => Effect.sync(() => void (pooled.closed = true))),
          Effect.map((ops) => ({ ops, pooled }))
        )
      )

    /** An SFTP failure on a connection that went away meanwhile is the transport's failure. */
    const lost = (vmId: VmId, pooled: Pooled) => <E>(e: E): E | SshDisconnected =>
      e instanceof SftpError && pooled.closed ? new SshDisconnected({ vmId, message: SshMessages.disconnected(vmId, `during SFTP ${e.operation} of ${e.path}`) }) : e

    const exec = (vmId: VmId, command: string, opts?: ExecOptions) => Effect.flatMap(connection(vmId), (p) => execOn(p.conn, command, opts))

    const run = Effect.fn("Ssh.run")(function* (vmId: VmId, command: string, opts: RunOptions = {}) {
      const stdinBytes = typeof opts.stdin === "string" ? new TextEncoder().encode(opts.stdin) : opts.stdin
      const max = opts.maxOutputBytes ?? defaultMaxOutputBytes
      return yield* Effect.scoped(
        Effect.gen(function* () {
          const proc = yield* exec(vmId, command, { env: opts.env, cwd: opts.cwd, stdin: Stream.make(stdinBytes ?? new Uint8Array(0)) })
          const [out, err] = yield* Effect.all([collect(proc.stdout, max), collect(proc.stderr, max)], { concurrency: 2 })
          const exit = yield* proc.exit
          const result: RunResult = { exit, stdout: out.bytes, stderr: err.bytes, truncated: out.truncated || err.truncated }
          if (opts.check !== false && (exit.code !== 0 || exit.signal !== null)) {
            const tail = new TextDecoder().decode(err.bytes.subarray(Math.max(0, err.bytes.byteLength - stderrTailBytes)))
            return yield* new RemoteCommandFailed({
              vmId,
              code: exit.code,
              signal: exit.signal,
              stderrTail: tail,
              message: SshMessages.failed(vmId, command, exit.code, exit.signal, tail)
            })
          }
          return result
        })
      )
    })

    /** Queued after a channel's last write: end its input. */
    const endOfInput = Symbol("endOfInput")

    const channel = Effect.fn("Ssh.channel")(function* (vmId: VmId, command: string) {
      const proc = yield* exec(vmId, command)
      let tail = ""
      yield* proc.stderr.pipe(
        Stream.decodeText(),
        Stream.runForEach((text) => Effect.sync(() => void (tail = (tail + text).slice(-stderrTailBytes)))),
        Effect.ignore,
        Effect.forkScoped
      )
      // Writes are queued in order and never throw (BrokerChannel); the broker's credits bound
      // them. One scoped fiber drains the queue into the channel; `end` ends it after the writes.
      const writes = yield* Queue.unbounded<Uint8Array | typeof endOfInput>()
      yield* Queue.take(writes).pipe(
        Effect.flatMap((item) => (item === endOfInput ? Effect.zipRight(proc.end, Effect.fail(endOfInput)) : Effect.ignore(proc.write(item)))),
        Effect.forever,
        Effect.ignore,
        Effect.forkScoped
      )
      let closed = false
      const channelOf: SshChannel = {
        input: proc.stdout.pipe(Stream.mapError((e) => new HostError({ reason: "unavailable", code: 1, message: e.message }))),
        write: (bytes) => {
          if (!closed) Queue.unsafeOffer(writes, bytes)
        },
        end: () => {
          if (closed) return
          closed = true
          Queue.unsafeOffer(writes, endOfInput)
        },
        stderrTail: Effect.sync(() => tail),
        exit: proc.exit
      }
      return channelOf
    })

    const withSftp = <A, E>(vmId: VmId, f: (ops: Sftp.SftpOps) => Effect.Effect<A, E>) =>
      Effect.scoped(Effect.flatMap(sftp(vmId), ({ ops, pooled }) => Effect.mapError(f(ops), lost(vmId, pooled))))

    return {
      exec: (vmId, command, opts) => Effect.withSpan(exec(vmId, command, opts), "Ssh.exec"),
      run,
      channel,
      readFile: (vmId, path) => Stream.unwrapScoped(Effect.map(sftp(vmId), ({ ops, pooled }) => Stream.mapError(ops.readFile(path), lost(vmId, pooled)))),
      writeFile: (vmId, path, data, opts) => withSftp(vmId, (ops) => ops.writeFile(path, data, opts)).pipe(Effect.withSpan("Ssh.writeFile")),
      stat: (vmId, path) => withSftp(vmId, (ops) => ops.stat(path)),
      readDir: (vmId, path) => withSftp(vmId, (ops) => ops.readDir(path)),
      mkdir: (vmId, path, opts) => withSftp(vmId, (ops) => ops.mkdir(path, opts)),
      chmod: (vmId, path, mode) => withSftp(vmId, (ops) => ops.chmod(path, mode)),
      remove: (vmId, path, opts) => withSftp(vmId, (ops) => ops.remove(path, opts)),
      forgetHostKey: Effect.fn("Ssh.forgetHostKey")(function* (vmId: VmId) {
        yield* RcMap.invalidate(pool, vmId)
        return yield* hostKeys.forget(vmId)
      })
    } satisfies SshShape
  })

export class Ssh extends Context.Tag("troupe/Ssh")<Ssh, SshShape>() {
  /** The service with default pool settings; needs `VersApi` (keys), `VersConfig` (host, port, CA, policy) and `SshHostKeys`. */
  static readonly layer: Layer.Layer<Ssh, never, VersApi | VersConfig | SshHostKeys> = Layer.scoped(Ssh, make({}))
  /** As {@link Ssh.layer} with pool and handshake settings. */
  static readonly layerWith = (options: SshOptions): Layer.Layer<Ssh, never, VersApi | VersConfig | SshHostKeys> => Layer.scoped(Ssh, make(options))
}
