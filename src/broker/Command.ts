/**
 * One command run by the exec broker (docs/broker.md "Command lifecycle"): spawned in its own
 * process group with a unique marker, its stdout/stderr forwarded as `data` frames under a
 * per-stream credit window, its stdin fed from `write` frames, its leftovers swept after the
 * leader exits, and `exit` sent once they are gone. Plain Node, no packages.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import type { Readable } from "node:stream"
import { maxChunkBytes, markerVariable } from "./FrameCodec.js"
import { readStat, type SweepTarget } from "./ProcScan.js"
import { sweep } from "./Sweep.js"

/** What a command needs from its connection. */
export interface Link {
  /** Sends one frame to the client. */
  readonly send: (header: { readonly t: string; readonly [key: string]: unknown }, payload?: Uint8Array) => void
  /** True while the connection's output buffer is over its limit: streams must stay paused. */
  readonly congested: () => boolean
  /** Called once the command is finished and forgotten. */
  readonly release: (id: number) => void
  readonly windowBytes: number
  readonly graceMs: number
  /** Base environment of every command (the broker's own). */
  readonly env: Readonly<Record<string, string | undefined>>
}

/** A validated `spawn` frame. */
export interface SpawnRequest {
  readonly id: number
  readonly argv: ReadonlyArray<string>
  readonly cwd: string
  readonly env: Readonly<Record<string, string>>
  readonly stdin: "none" | "pipe" | "file"
  readonly path?: string | undefined
}

export type StreamName = "stdout" | "stderr"

/** After the sweep, how long a stream not held back by credit may stay open: 2,000 ms. */
const pipeCloseGraceMs = 2000

/** Stdin errors that only mean the command stopped reading. */
const quietStdinErrors = new Set(["EPIPE", "ECONNRESET", "ERR_STREAM_DESTROYED"])

const errno = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null && "code" in error && typeof error.code === "string" ? error.code : undefined

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error))

class OutStream {
  /** Bytes sent in `data` frames and not yet credited back. */
  outstanding = 0
  ended = false
  /** Output after a `kill` is read and dropped. */
  discard = false

  constructor(readonly name: StreamName, readonly readable: Readable) {}

  /** Flowing unless the window is used up or the connection is congested. */
  update(link: Link) {
    if (this.ended) return
    if (this.discard || (this.outstanding < link.windowBytes && !link.congested())) this.readable.resume()
    else this.readable.pause()
  }
}

export class Command {
  private child: ChildProcess | undefined
  private target: SweepTarget | undefined
  private readonly streams: Array<OutStream> = []
  private leaderExited = false
  private exitSent = false
  private killing = false
  private killReplies = 0
  private stdinOpen = false
  private released = false

  constructor(readonly id: number, private readonly link: Link) {}

  /** Spawns; answers `started`, or `error` (and releases the id). */
  start(request: SpawnRequest): void {
    const marker = randomUUID()
    const [argv0, ...args] = request.argv
    let stdinFd: number | undefined
    if (request.stdin === "file") {
      try {
        stdinFd = fs.openSync(request.path ?? "", "r")
        if (fs.fstatSync(stdinFd).isDirectory()) throw new Error("is a directory")
      } catch (error) {
        if (stdinFd !== undefined) fs.closeSync(stdinFd)
        return this.fail("io", 1, `cannot read stdin file ${request.path}: ${messageOf(error)}`)
      }
    }
    let child: ChildProcess
    try {
      child = spawn(argv0!, args, {
        cwd: request.cwd,
        env: { ...this.link.env, ...request.env, [markerVariable]: marker },
        stdio: [stdinFd ?? (request.stdin === "pipe" ? "pipe" : "ignore"), "pipe", "pipe"],
        detached: true
      })
    } catch (error) {
      if (stdinFd !== undefined) fs.closeSync(stdinFd)
      return this.spawnFailed(argv0!, request.cwd, error)
    }
    // The child holds its own copy of the descriptor.
    if (stdinFd !== undefined) fs.closeSync(stdinFd)
    const pid = child.pid
    if (pid === undefined) {
      child.once("error", (error) => this.spawnFailed(argv0!, request.cwd, error))
      return
    }
    child.on("error", () => undefined)
    const stat = readStat(pid)
    this.child = child
    this.target = { pid, pgid: stat !== undefined && stat.pgid > 0 ? stat.pgid : pid, startTime: stat?.startTime ?? 0, marker, verifyGroup: false }
    this.link.send({ t: "started", id: this.id, pid, pgid: this.target.pgid, start_time: this.target.startTime, marker })
    if (child.stdin !== null) {
      this.stdinOpen = true
      child.stdin.on("error", (error) => {
        if (!quietStdinErrors.has(errno(error) ?? "")) process.stderr.write(`exec-broker: stdin of command ${this.id}: ${messageOf(error)}\n`)
        this.stdinGone()
      })
      child.stdin.on("close", () => this.stdinGone())
    }
    this.forward(new OutStream("stdout", child.stdout!))
    this.forward(new OutStream("stderr", child.stderr!))
    child.once("exit", (code, signal) => void this.leaderExit(code, signal))
  }

  /** `write`: feeds stdin; `credit {stream: "stdin"}` answers once the bytes reached the pipe. */
  write(payload: Uint8Array): void {
    const stdin = this.child?.stdin
    if (!this.stdinOpen || stdin == null) return
    const bytes = payload.length
    stdin.write(payload, (error) => {
      if (error == null) this.link.send({ t: "credit", id: this.id, stream: "stdin", bytes })
    })
  }

  /** `close`: ends stdin. */
  closeStdin(): void {
    if (this.stdinOpen) this.child?.stdin?.end()
  }

  /** `credit` for one of our output streams. */
  credit(stream: StreamName, bytes: number): void {
    const out = this.streams.find((s) => s.name === stream)
    if (out === undefined) return
    out.outstanding = Math.max(0, out.outstanding - bytes)
    out.update(this.link)
  }

  /** Re-evaluates pausing after the connection's congestion changed. */
  updateFlow(): void {
    for (const out of this.streams) out.update(this.link)
  }

  /** `signal`: to the command's process group. Throws a one-sentence Error when it cannot. */
  signal(name: string): void {
    if (!(name in os.constants.signals)) throw new Error(`unknown signal ${name}`)
    if (this.target === undefined || this.exitSent) throw new Error(`command ${this.id} is not running`)
    try {
      process.kill(-this.target.pgid, name as NodeJS.Signals)
    } catch (error) {
      if (errno(error) !== "ESRCH") throw new Error(`cannot signal command ${this.id}: ${messageOf(error)}`)
    }
  }

  /**
   * `kill`: drops further output, sweeps the group and marked processes (TERM, `graceMs`, KILL),
   * sends `exit` if not sent yet, then `killed`, and forgets the command.
   */
  kill(graceMs: number): void {
    this.killReplies++
    if (!this.killing) {
      this.killing = true
      for (const out of this.streams) {
        out.discard = true
        out.update(this.link)
      }
      if (this.target !== undefined && !this.leaderExited) void sweep(this.target, graceMs)
    }
    this.maybeFinish()
  }

  private forward(out: OutStream) {
    this.streams.push(out)
    out.readable.on("data", (chunk: Buffer) => {
      if (out.discard) return
      for (let at = 0; at < chunk.length; at += maxChunkBytes) {
        const piece = chunk.subarray(at, Math.min(chunk.length, at + maxChunkBytes))
        out.outstanding += piece.length
        this.link.send({ t: "data", id: this.id, stream: out.name }, piece)
      }
      out.update(this.link)
    })
    const ended = () => this.streamEnded(out)
    out.readable.once("end", ended)
    out.readable.once("close", ended)
    out.readable.on("error", ended)
    out.update(this.link)
  }

  private streamEnded(out: OutStream) {
    if (out.ended) return
    out.ended = true
    if (!out.readable.destroyed) out.readable.destroy()
    this.link.send({ t: "eof", id: this.id, stream: out.name })
    this.maybeFinish()
  }

  private stdinGone() {
    if (!this.stdinOpen) return
    this.stdinOpen = false
    this.link.send({ t: "eof", id: this.id, stream: "stdin" })
  }

  private async leaderExit(code: number | null, signal: NodeJS.Signals | null) {
    this.leaderExited = true
    // Sweep before reporting: a background process left in the group holds the pipes open.
    if (this.target !== undefined) await sweep(this.target, this.link.graceMs)
    this.exitSent = true
    this.link.send({
      t: "exit",
      id: this.id,
      code: signal !== null ? 128 + (os.constants.signals[signal] ?? 0) : (code ?? 1),
      signal
    })
    // A stream still open now is held by a process we may not signal, unless the client is
    // holding it back by not granting credit (its own choice; `kill` ends it).
    setTimeout(() => {
      for (const out of this.streams) {
        if (!out.ended && (out.discard || out.outstanding < this.link.windowBytes)) this.streamEnded(out)
      }
    }, pipeCloseGraceMs).unref()
    this.maybeFinish()
  }

  private maybeFinish() {
    if (this.released || !this.exitSent) return
    if (this.killing) for (const out of this.streams) this.streamEnded(out)
    if (this.streams.some((out) => !out.ended)) return
    this.released = true
    // Tell a client still writing that stdin is gone: it must not wait for credit that never comes.
    this.stdinGone()
    this.child?.stdin?.destroy()
    for (; this.killReplies > 0; this.killReplies--) this.link.send({ t: "killed", id: this.id })
    this.link.release(this.id)
  }

  private spawnFailed(argv0: string, cwd: string, error: unknown) {
    switch (errno(error)) {
      case "ENOENT":
        // spawn reports a missing working directory as ENOENT too.
        if (!fs.existsSync(cwd)) return this.fail("spawn", 1, `working directory not found: ${cwd}`)
        return this.fail("spawn", 127, `command not found: ${argv0}`)
      case "EACCES":
        return this.fail("spawn", 126, `permission denied: ${argv0}`)
      default:
        return this.fail("spawn", 1, messageOf(error))
    }
  }

  private fail(reason: "spawn" | "io", code: number, message: string) {
    this.released = true
    this.link.send({ t: "error", id: this.id, reason, code, message })
    for (; this.killReplies > 0; this.killReplies--) this.link.send({ t: "killed", id: this.id })
    this.link.release(this.id)
  }
}
