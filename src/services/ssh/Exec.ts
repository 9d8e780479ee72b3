/**
 * One remote command on one SSH channel of a pooled connection (docs/ssh.md "Commands"):
 * stdout and stderr as Streams (backpressure reaches the VM through the SSH window), stdin
 * written with flow control, and the exit status `{code, signal}`. Closing the scope before
 * the command exits signals it (`TERM`) and closes the channel.
 *
 * pi-vers started one `ssh` process per command and buffered the output; here a command is a
 * channel (~45 ms against OpenSSH on loopback instead of ~250 ms for a new connection).
 */
import { Deferred, Effect, Fiber, Option, Stream, type Scope } from "effect"
import * as NodeStream from "@effect/platform-node/NodeStream"
import { randomBytes } from "node:crypto"
import type { Readable } from "node:stream"
import type { ClientChannel } from "ssh2"
import { SshDisconnected, SshMessages } from "../../domain/SshErrors.js"
import type { Connection } from "./Connect.js"

/** How a remote command ended: `code` from `exit-status`, or `signal` (`SIGTERM`, …) from `exit-signal`. */
export interface RemoteExit {
  readonly code: number | null
  readonly signal: string | null
}

/** A running remote command (valid while the scope `Ssh.exec` opened it in is open). */
export interface SshProcess {
  /** Its stdout; consume it (or the SSH window fills and the command blocks). Runs once. */
  readonly stdout: Stream.Stream<Uint8Array, SshDisconnected>
  /** Its stderr, as `stdout`. */
  readonly stderr: Stream.Stream<Uint8Array, SshDisconnected>
  /** Writes to its stdin, waiting while the channel's buffer is full. @fails SshDisconnected */
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, SshDisconnected>
  /** Closes its stdin (EOF). Idempotent. */
  readonly end: Effect.Effect<void>
  /** Its exit status. @fails SshDisconnected when the channel closed without one (connection lost) */
  readonly exit: Effect.Effect<RemoteExit, SshDisconnected>
  /**
   * Completes once both output streams have ended (read to their end) or the channel closed.
   * sshd sends the exit status when the command exits, possibly before the last output; a
   * caller that reports an exit only after its output waits for this (bounded).
   */
  readonly outputEnded: Effect.Effect<void>
}

/** Options of a remote command; `env` names must be shell identifiers. */
export interface ExecOptions {
  /** Variables exported before the command runs (as `export K='v'`, since sshd refuses most `env` requests). */
  readonly env?: Readonly<Record<string, string>> | undefined
  /** Directory to run in (`cd` first; a missing directory fails the command with code 1). */
  readonly cwd?: string | undefined
  /** Bytes for stdin; stdin is closed when it ends. Without it, stdin stays open for `write`. */
  readonly stdin?: Stream.Stream<Uint8Array> | undefined
}

import { shellQuoteWord } from "../../domain/ShellQuote.js"

export { shellQuote, shellQuoteWord } from "../../domain/ShellQuote.js"

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * The variable that marks every process of one command (inherited through `exec` and forks):
 * sshd refuses `signal` requests for root sessions (no privilege separation after a root
 * login), so a command abandoned before its exit is stopped by finding its processes by this
 * marker, over a fresh channel.
 */
export const execMarkerVariable = "TROUPE_EXEC_ID"

/** The command line sent to sshd: the marker, env exports and `cd` before `command`. A bad env name is a defect (caller bug). */
export const commandLine = (command: string, options: Pick<ExecOptions, "env" | "cwd"> = {}, marker?: string): string => {
  const parts: Array<string> = marker === undefined ? [] : [`export ${execMarkerVariable}=${marker};`]
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (!envName.test(name)) throw new Error(`environment variable name ${JSON.stringify(name)} is not a shell identifier`)
    parts.push(`export ${name}=${shellQuoteWord(value)};`)
  }
  if (options.cwd !== undefined) parts.push(`cd ${shellQuoteWord(options.cwd)} || exit 1;`)
  parts.push(command)
  return parts.join(" ")
}

/** How long a closing scope waits for the channel's close, and for the kill of its processes, ms. */
const closeGraceMs = 2_000

/**
 * Waits at most `closeGraceMs` from a finalizer: in an interruptible child fiber, so the bound
 * fires even in a fiber being interrupted (made interruptible in place it would stop at once).
 */
const bounded = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.flatMap(Effect.fork(Effect.interruptible(Effect.ignore(Effect.timeoutOption(effect, closeGraceMs)))), Fiber.join)

/** A script (Linux `/proc`) that sends TERM to every process whose environment carries `marker`. */
const killByMarker = (marker: string) =>
  `for n in $(grep -lxzF '${execMarkerVariable}=${marker}' /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3); do [ "$n" = "$$" ] || kill -TERM "$n" 2>/dev/null; done; true`

const disconnected = (vmId: string, detail: string) => new SshDisconnected({ vmId, message: SshMessages.disconnected(vmId, detail) })

/** Opens a channel running `command` (already wrapped). @fails SshDisconnected when the connection cannot open one */
export const openChannel = (conn: Connection, command: string) =>
  Effect.async<ClientChannel, SshDisconnected>((resume) => {
    try {
      conn.client.exec(command, (err, channel) => {
        if (err) resume(Effect.fail(disconnected(conn.vmId, `a channel could not be opened (${err.message})`)))
        else resume(Effect.succeed(channel))
      })
    } catch (e) {
      resume(Effect.fail(disconnected(conn.vmId, e instanceof Error ? e.message : String(e))))
    }
  })

/**
 * A channel stream as a Stream, event-based ("readable" + read), so interrupting a consumer
 * returns at once: an async iterator's `return()` waits for its pending `next()`, i.e. for the
 * command's next output, and a Ctrl-C on a silent command hung until it exited. The channel is
 * not destroyed when the stream stops (the scope's finalizer still signals and closes it).
 */
const fromReadable = (vmId: string, readable: NodeJS.ReadableStream) =>
  NodeStream.fromReadable<SshDisconnected, Buffer>(
    () => readable as unknown as Readable,
    (e) => disconnected(vmId, e instanceof Error ? e.message : String(e)),
    { closeOnDone: false }
  ).pipe(Stream.map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)))

/**
 * Runs `command` on `conn` in the current scope.
 * @fails SshDisconnected when no channel could be opened
 */
export const exec = (conn: Connection, command: string, options: ExecOptions = {}): Effect.Effect<SshProcess, SshDisconnected, Scope.Scope> =>
  Effect.gen(function* () {
    const marker = randomBytes(9).toString("hex")
    const line = commandLine(command, options, marker)
    const exited = yield* Deferred.make<RemoteExit, SshDisconnected>()
    const closed = yield* Deferred.make<void>()
    const channel = yield* Effect.acquireRelease(openChannel(conn, line), (ch) =>
      Effect.gen(function* () {
        if (yield* Deferred.isDone(closed)) return
        const running = !(yield* Deferred.isDone(exited))
        try {
          // Honoured for non-root sessions; root's are stopped by marker below.
          if (running) ch.signal("TERM")
          // Unread output would hold back the channel's close event; nobody reads it any more.
          ch.resume()
          ch.stderr.resume()
          ch.close()
        } catch {
          return // the connection is gone, and the channel with it
        }
        if (running) {
          yield* Effect.scoped(
            Effect.flatMap(openChannel(conn, killByMarker(marker)), (killer) =>
              Effect.async<void>((resume) => {
                killer.on("close", () => resume(Effect.void)).on("error", () => resume(Effect.void))
                killer.resume()
                killer.stderr.resume()
              }))
          ).pipe(Effect.ignore, bounded)
        }
        yield* bounded(Deferred.await(closed))
      })
    )
    let exit: Option.Option<RemoteExit> = Option.none()
    channel.on("exit", (code: number | null, signal?: string) => {
      const status: RemoteExit = { code: typeof code === "number" ? code : null, signal: signal ?? null }
      exit = Option.some(status)
      Deferred.unsafeDone(exited, Effect.succeed(status))
    })
    const outputEnded = yield* Deferred.make<void>()
    let streamsEnded = 0
    const streamEnded = () => {
      if (++streamsEnded === 2) Deferred.unsafeDone(outputEnded, Effect.void)
    }
    channel.once("end", streamEnded)
    channel.stderr.once("end", streamEnded)
    channel.on("close", () => {
      Deferred.unsafeDone(outputEnded, Effect.void)
      Deferred.unsafeDone(closed, Effect.void)
      if (Option.isNone(exit)) Deferred.unsafeDone(exited, Effect.fail(disconnected(conn.vmId, "the command's channel closed without an exit status")))
    })
    // A lost connection fails `exit` at once (the channel's own close waits for unread output).
    const onGone = () => Deferred.unsafeDone(exited, Effect.fail(disconnected(conn.vmId, "the connection closed while the command ran")))
    conn.client.on("close", onGone)
    yield* Effect.addFinalizer(() => Effect.sync(() => void conn.client.off("close", onGone)))
    // A channel error (the connection went away) is reported through `exit`; without a listener Node would throw.
    channel.on("error", () => {})
    channel.stderr.on("error", () => {})

    let ended = false
    const end = Effect.sync(() => {
      if (ended) return
      ended = true
      channel.end()
    })
    const write = (bytes: Uint8Array) =>
      Effect.async<void, SshDisconnected>((resume) => {
        if (ended || channel.destroyed) return resume(Effect.fail(disconnected(conn.vmId, "stdin is closed")))
        if (channel.write(bytes)) resume(Effect.void)
        else channel.once("drain", () => resume(Effect.void))
      })
    if (options.stdin !== undefined) {
      yield* options.stdin.pipe(Stream.runForEach(write), Effect.ignore, Effect.zipRight(end), Effect.forkScoped)
    }
    return {
      stdout: fromReadable(conn.vmId, channel),
      stderr: fromReadable(conn.vmId, channel.stderr),
      write,
      end,
      exit: Deferred.await(exited),
      outputEnded: Deferred.await(outputEnded)
    } satisfies SshProcess
  })
