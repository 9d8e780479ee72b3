/**
 * Collecting one output stream of a leaf, chunk by chunk and synchronously: tee into a live log
 * file first (up to the log's byte limit), then keep up to {@link captureLimitBytes} in memory,
 * and past that either write the complete stream to a spill file while memory keeps a tail, or
 * — when nothing needs the complete stream but the log already has it — keep only the tail.
 * Used by LeafCapture over any host's byte stream (and over LocalHost's private fast path), so
 * every host captures alike.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { captureLimitBytes, type CapturedOutput, spilledTailBytes, utf8SafeHead, utf8SafeTail } from "../../domain/Output.js"
import { HostError } from "../Host.js"
import { errorMessage } from "./ProcScan.js"
import { privateFileMode } from "../TroupeConfig.js"

/**
 * The size limit of one run log (`stdout.log` or `stderr.log`), shared by every leaf that tees
 * into it. `size` starts at the file's size when the generation starts (a restarted run keeps
 * appending); once a chunk would pass `limitBytes`, what fits is written (cut on a UTF-8
 * boundary), then one notice line, and nothing more.
 */
export interface LogBudget {
  readonly limitBytes: number
  size: number
  truncated: boolean
}

/** A live log file a stream is copied to (a run's `stdout.log` / `stderr.log`), open for appending. */
export interface Tee {
  readonly path: string
  readonly fd: number
  readonly budget?: LogBudget | undefined
}

/** The line written once at the point where a log reached its limit. */
export const logLimitNotice = (file: string, limitBytes: number) =>
  `\n[troupe: ${path.basename(file)} reached its limit of ${limitBytes} bytes (max_log_bytes); later output of this run is not kept in it]\n`

/** Closes a descriptor, ignoring one that is already closed. */
export const closeQuietly = (fd: number) => {
  try {
    fs.closeSync(fd)
  } catch {
    // already closed
  }
}

/** Writes all of `bytes` to `fd` (appends and spills are small, local and sequential). */
export const writeAllSync = (fd: number, bytes: Uint8Array) => {
  let at = 0
  while (at < bytes.length) at += fs.writeSync(fd, bytes, at, bytes.length - at)
}

const concatBytes = (chunks: ReadonlyArray<Uint8Array>, total: number): Uint8Array => {
  const out = new Uint8Array(total)
  let at = 0
  for (const chunk of chunks) {
    out.set(chunk, at)
    at += chunk.length
  }
  return out
}

/**
 * One stream's collector. `push` each chunk as it arrives, then `finish` once (end-of-file, or
 * giving up after the pipe-close grace) or `abandon` (interrupted). After a failed `push` the
 * collector is finished: `failure` holds the error and later calls do nothing.
 *
 * The spill file is `<outputDir>/<name>.<stream>.log`, created when the stream first exceeds
 * {@link captureLimitBytes}, holding the complete stream, and closed by `finish` / `abandon`.
 */
export class OutputCollector {
  private size = 0
  /** This stream made its log reach the limit (the run reports it once). */
  logLimitReached = false
  /** The whole stream until it spills; afterwards a window of chunks covering the tail. */
  private held: Array<Uint8Array> = []
  private heldBytes = 0
  private spillFd: number | undefined = undefined
  private done = false
  failure: HostError | undefined = undefined

  constructor(
    private readonly outputDir: string,
    private readonly name: string,
    private readonly stream: "stdout" | "stderr",
    private readonly tee: Tee | undefined,
    /** False: past the capture limit keep only a tail, no spill file (the log holds the stream). */
    private readonly spill: boolean = true,
    /** Called (synchronously, once) when this stream makes its log reach the limit. */
    private readonly onLogLimit?: () => void
  ) {}

  /** Appends `chunk` to the log, within its budget. */
  private teeChunk(tee: Tee, chunk: Uint8Array) {
    const budget = tee.budget
    if (budget === undefined) return writeAllSync(tee.fd, chunk)
    if (budget.truncated) return
    const room = budget.limitBytes - budget.size
    if (chunk.length <= room) {
      writeAllSync(tee.fd, chunk)
      budget.size += chunk.length
      return
    }
    const part = utf8SafeHead(chunk, Math.max(0, room))
    if (part.length > 0) writeAllSync(tee.fd, part)
    const notice = new TextEncoder().encode(logLimitNotice(tee.path, budget.limitBytes))
    writeAllSync(tee.fd, notice)
    budget.size += part.length + notice.length
    budget.truncated = true
    this.logLimitReached = true
    this.onLogLimit?.()
  }

  private get spillPath() {
    return path.resolve(this.outputDir, `${this.name}.${this.stream}.log`)
  }

  /** Adds a chunk: tee first (so a log holds every byte a result can show), then capture. */
  push(chunk: Uint8Array): HostError | undefined {
    if (this.done) return this.failure
    if (this.tee !== undefined) {
      try {
        this.teeChunk(this.tee, chunk)
      } catch (error) {
        return this.fail(`cannot write ${this.tee.path}: ${errorMessage(error)}`)
      }
    }
    this.size += chunk.length
    this.held.push(chunk)
    this.heldBytes += chunk.length
    if (!this.spill) {
      if (this.heldBytes > captureLimitBytes) this.trimToTail()
      return undefined
    }
    try {
      if (this.spillFd === undefined) {
        if (this.heldBytes <= captureLimitBytes) return undefined
        fs.mkdirSync(this.outputDir, { recursive: true })
        this.spillFd = fs.openSync(this.spillPath, "w", privateFileMode)
        for (const piece of this.held) writeAllSync(this.spillFd, piece)
      } else {
        writeAllSync(this.spillFd, chunk)
      }
    } catch (error) {
      return this.fail(`cannot create ${this.spillPath}: ${errorMessage(error)}`)
    }
    this.trimToTail()
    return undefined
  }

  /** Drops whole chunks from the front while the rest still covers the tail. */
  private trimToTail() {
    while (this.held.length > 1 && this.heldBytes - this.held[0]!.length >= spilledTailBytes) {
      this.heldBytes -= this.held.shift()!.length
    }
  }

  /** The captured output of what was pushed; closes the spill file first. */
  finish(): CapturedOutput | HostError {
    if (this.failure !== undefined) return this.failure
    this.done = true
    const bytes = concatBytes(this.held, this.heldBytes)
    this.held = []
    if (!this.spill && this.size > bytes.length) {
      return { size: this.size, bytes: utf8SafeTail(bytes, spilledTailBytes), ...(this.tee === undefined ? {} : { log: this.tee.path }) }
    }
    if (this.spillFd === undefined) return { size: this.size, bytes }
    const fd = this.spillFd
    this.spillFd = undefined
    try {
      fs.closeSync(fd)
    } catch (error) {
      return this.fail(`cannot write ${this.spillPath}: ${errorMessage(error)}`)
    }
    return { size: this.size, bytes: utf8SafeTail(bytes, spilledTailBytes), spill: this.spillPath }
  }

  /** Stops collecting without a result (interrupted): closes the spill file. */
  abandon(): void {
    this.done = true
    this.held = []
    if (this.spillFd !== undefined) closeQuietly(this.spillFd)
    this.spillFd = undefined
  }

  /** Reading the stream itself failed. */
  readFailed(error: unknown): HostError {
    return this.fail(`cannot read ${this.stream}: ${errorMessage(error)}`, "io")
  }

  private fail(message: string, reason: "io" | "output" = "output"): HostError {
    this.abandon()
    this.failure = new HostError({ reason, code: 1, message })
    return this.failure
  }
}
