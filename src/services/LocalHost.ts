/**
 * `LocalHost`: runs leaf commands as local OS processes, each in its own process group.
 *
 * Corresponds to pi-actors' leaf runner, which spawned every leaf as a detached process group
 * and killed it with SIGTERM, then SIGKILL after a grace period. troupe adds a sweep for
 * descendants that left the group (`setsid`, double fork), found by a per-leaf marker in their
 * environment.
 */
import { spawn, type ChildProcess, type StdioOptions } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as fs from "node:fs"
import * as fsp from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import type { Readable } from "node:stream"
import { Cause, Clock, Duration, Effect, Fiber, Layer, Option, Schedule, Stream } from "effect"
import { captureLimitBytes, type CapturedOutput, spilledTailBytes, utf8SafeTail } from "../domain/Output.js"
import { Host, HostError, type LeafSpec, type LeafResult, type LeafStdin, type ProcessIdentity } from "./Host.js"
import { inheritedEnvironment } from "../layers/Config.js"

// ---------------------------------------------------------------------------------------------
// Policies

/** Grace between SIGTERM and SIGKILL for a leaf's process group and escaped descendants: 5 s. */
export const killGrace = Duration.seconds(5)

/**
 * How long, after the leader exited and every process of the leaf was swept, `run` waits for
 * stdout/stderr to reach end-of-file: 2 s. Only a process we may not signal (one that left the
 * group and dropped the marker) can hold a pipe open that long; capture then ends with the bytes
 * read so far and a warning is logged.
 */
export const pipeCloseGrace = Duration.seconds(2)

/** Environment variable set on every leaf to a unique id, inherited by all its descendants. */
export const leafMarkerVariable = "TROUPE_LEAF_ID"

/** How often the reaper re-checks whether signalled processes are gone. */
const reapPoll = Schedule.spaced("25 millis")

/** After SIGKILL, how long to wait for the kernel to finish the processes off. */
const killSettle = Duration.seconds(1)

/**
 * Sweep rounds (find survivors → SIGTERM → grace → SIGKILL). A later round catches processes
 * forked while an earlier round was waiting.
 */
const maxSweepRounds = 3

/** Stdin write errors that only mean the leaf did not read (all of) its stdin. */
const ignorableStdinErrors: ReadonlySet<string> = new Set(["EPIPE", "ECONNRESET", "ERR_STREAM_DESTROYED"])

// ---------------------------------------------------------------------------------------------
// Options

/** Options of {@link LocalHost.layer} / {@link LocalHost.make}. */
export interface LocalHostOptions {
  /** SIGTERM → SIGKILL grace in ms (default {@link killGrace}, 5,000 ms). */
  readonly graceMs?: number | undefined
  /** Wait for pipes to close after the sweep, in ms (default {@link pipeCloseGrace}, 2,000 ms). */
  readonly pipeCloseGraceMs?: number | undefined
  /** Base environment of every leaf (default: this process's environment, read once). */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
}

// ---------------------------------------------------------------------------------------------
// /proc helpers (Linux). Without /proc, identity start times are 0, the marker sweep finds
// nothing and the group check trusts kill(2) alone.

interface ProcStat {
  readonly state: string
  readonly pgid: number
  readonly startTime: number
}

const readStat = (pid: number): ProcStat | undefined => {
  let text: string
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, "latin1")
  } catch {
    return undefined
  }
  // Field 2 (comm) is parenthesised and may contain spaces or parentheses: split after the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ")
  // fields[0] is field 3 (state), fields[2] field 5 (pgrp), fields[19] field 22 (starttime).
  return { state: fields[0] ?? "", pgid: Number(fields[2]), startTime: Number(fields[19]) }
}

/** Zombie or dead: the process has exited (a zombie lingers until its parent or init reaps it). */
const hasExited = (stat: ProcStat) => stat.state === "Z" || stat.state === "X" || stat.state === "x"

const listPids = (): ReadonlyArray<number> | undefined => {
  let names: ReadonlyArray<string>
  try {
    names = fs.readdirSync("/proc")
  } catch {
    return undefined
  }
  const pids: Array<number> = []
  for (const name of names) {
    const code = name.charCodeAt(0)
    if (code >= 48 && code <= 57) pids.push(Number(name))
  }
  return pids
}

/** Reused read buffer for `/proc/<pid>/environ`; larger environments fall back to readFileSync. */
const environBuffer = Buffer.allocUnsafe(256 * 1024)

/** `/proc/<pid>/environ`, or undefined when unreadable (another user's process, gone). */
const readEnviron = (pid: number): Buffer | undefined => {
  const file = `/proc/${pid}/environ`
  let fd: number
  try {
    fd = fs.openSync(file, "r")
  } catch {
    return undefined
  }
  try {
    let length = 0
    for (;;) {
      const read = fs.readSync(fd, environBuffer, length, environBuffer.length - length, null)
      if (read === 0) return environBuffer.subarray(0, length)
      length += read
      if (length === environBuffer.length) return fs.readFileSync(file)
    }
  } catch {
    return undefined
  } finally {
    fs.closeSync(fd)
  }
}

const markerPrefix = Buffer.from(`${leafMarkerVariable}=`)

/** The value of the `TROUPE_LEAF_ID` entry of an environment block, if any. */
const markerOf = (environ: Buffer): string | undefined => {
  let at = environ.indexOf(markerPrefix)
  while (at >= 0) {
    if (at === 0 || environ[at - 1] === 0) {
      const start = at + markerPrefix.length
      const end = environ.indexOf(0, start)
      return environ.toString("latin1", start, end < 0 ? environ.length : end)
    }
    at = environ.indexOf(markerPrefix, at + 1)
  }
  return undefined
}

/** One pass over /proc: every live process's stat, and the pids carrying each leaf marker. */
interface ProcSnapshot {
  readonly stats: ReadonlyMap<number, ProcStat>
  readonly byMarker: ReadonlyMap<string, ReadonlyArray<number>>
}

/**
 * Reads /proc once. Unreadable entries (other users' processes, processes that just exited)
 * and zombies (empty environ) carry no marker. Synchronous: about 10-15 µs per process.
 */
const scanProc = (): ProcSnapshot => {
  const stats = new Map<number, ProcStat>()
  const byMarker = new Map<string, Array<number>>()
  for (const pid of listPids() ?? []) {
    if (pid === process.pid) continue
    const stat = readStat(pid)
    if (stat === undefined || hasExited(stat)) continue
    stats.set(pid, stat)
    const environ = readEnviron(pid)
    const marker = environ === undefined ? undefined : markerOf(environ)
    if (marker !== undefined) {
      const list = byMarker.get(marker)
      if (list === undefined) byMarker.set(marker, [pid])
      else list.push(pid)
    }
  }
  return { stats, byMarker }
}

/**
 * Scans are shared: a fiber asking for a snapshot yields once, and every fiber that asked
 * before the next scan gets that scan. So killing 1,000 leaves at once costs one /proc pass per
 * poll round, not one per leaf (the cost was quadratic in the number of processes before).
 * Every snapshot returned was taken after the request was made.
 */
let lastScan: { readonly seq: number; readonly snapshot: ProcSnapshot } = { seq: 0, snapshot: { stats: new Map(), byMarker: new Map() } }

const freshSnapshot = Effect.suspend(() => {
  const wanted = lastScan.seq + 1
  return Effect.zipRight(
    Effect.yieldNow(),
    Effect.sync(() => {
      if (lastScan.seq < wanted) lastScan = { seq: lastScan.seq + 1, snapshot: scanProc() }
      return lastScan.snapshot
    })
  )
})

/** True when the process group `pgid` has a live member (kill(2) also counts zombies). */
const groupAlive = (pgid: number, snapshot: ProcSnapshot): boolean => {
  try {
    process.kill(-pgid, 0)
  } catch (error) {
    if (errorCode(error) === "ESRCH") return false
  }
  for (const stat of snapshot.stats.values()) if (stat.pgid === pgid) return true
  return false
}

const sendSignal = (target: number, signal: NodeJS.Signals): void => {
  try {
    process.kill(target, signal)
  } catch {
    // ESRCH: already gone. EPERM: a member changed credentials; nothing more we may do.
  }
}

const errorCode = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null && "code" in error && typeof error.code === "string"
    ? error.code
    : undefined

const errorMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error))

// ---------------------------------------------------------------------------------------------
// Reaping

/** What the reaper needs to find and kill a leaf's processes. */
interface SweepTarget {
  readonly identity: ProcessIdentity
  /** The leaf's `TROUPE_LEAF_ID` value, matched against `/proc/<pid>/environ`. */
  readonly marker: string
  /**
   * Reaping a leaf of a previous owner: the group is only treated as ours while one of its live
   * members is verified (the leader with its recorded start time, or a marked process).
   */
  readonly verifyGroup: boolean
  /** Set once a sweep found nothing left, so the scope finalizer does not sweep again. */
  swept: boolean
}

/** A spawned leaf: the node child plus what the reaper needs. */
interface Leaf extends SweepTarget {
  readonly child: ChildProcess
  stdinError: unknown
}

interface Survivors {
  /** The leaf's process group still has a live member. */
  readonly group: boolean
  /** Live processes carrying the leaf's marker (group members included). */
  readonly marked: ReadonlyArray<number>
}

/** Live members of `pgid`, one of which is verified as belonging to `leaf`. */
const verifiedGroupAlive = (leaf: SweepTarget, marked: ReadonlyArray<number>, snapshot: ProcSnapshot): boolean => {
  const markedSet = new Set(marked)
  for (const [pid, stat] of snapshot.stats) {
    if (stat.pgid !== leaf.identity.pgid) continue
    if (markedSet.has(pid) || (pid === leaf.identity.pid && stat.startTime === leaf.identity.startTime)) return true
  }
  return false
}

const survivorsOf = (leaf: SweepTarget) =>
  Effect.map(freshSnapshot, (snapshot): Survivors => {
    const marked = snapshot.byMarker.get(leaf.marker) ?? []
    return { group: leaf.verifyGroup ? verifiedGroupAlive(leaf, marked, snapshot) : groupAlive(leaf.identity.pgid, snapshot), marked }
  })

const noneLeft = (survivors: Survivors) => !survivors.group && survivors.marked.length === 0

// Only two kinds of target are ever signalled: the process group we created (checked live just
// before) and pids whose environment carries this leaf's unique marker (re-read just before).
const signalSurvivors = (leaf: SweepTarget, survivors: Survivors, signal: NodeJS.Signals) =>
  Effect.sync(() => {
    if (survivors.group) sendSignal(-leaf.identity.pgid, signal)
    for (const pid of survivors.marked) sendSignal(pid, signal)
  })

/** Re-checks survivors every {@link reapPoll} until none are left or `within` has elapsed. */
const awaitGone = (leaf: SweepTarget, within: Duration.Duration) =>
  // A Schedule bounded by `upTo`, not `Effect.timeout`: this runs inside finalizers, which are
  // uninterruptible, where a timeout could not interrupt the wait it races.
  survivorsOf(leaf).pipe(
    Effect.repeat({ schedule: Schedule.passthrough<number, Survivors, never>(reapPoll.pipe(Schedule.upTo(within))), until: noneLeft })
  )

/**
 * Kills whatever is left of a leaf: its process group, then any live process carrying its
 * marker. Each round sends SIGTERM, waits up to `grace` and SIGKILLs what remains. When nothing
 * survives this costs one kill(-pgid, 0) and one scan of `/proc/<pid>/environ`.
 */
const sweep = (leaf: SweepTarget, grace: Duration.Duration) =>
  Effect.gen(function* () {
    if (leaf.swept) return
    for (let round = 0; round < maxSweepRounds; round++) {
      const found = yield* survivorsOf(leaf)
      if (noneLeft(found)) {
        leaf.swept = true
        return
      }
      yield* Effect.logDebug("LocalHost: terminating leaf processes").pipe(
        Effect.annotateLogs({ pgid: leaf.identity.pgid, group: found.group, marked: found.marked.join(",") })
      )
      yield* signalSurvivors(leaf, found, "SIGTERM")
      const afterTerm = yield* awaitGone(leaf, grace)
      if (noneLeft(afterTerm)) continue
      yield* signalSurvivors(leaf, afterTerm, "SIGKILL")
      yield* awaitGone(leaf, killSettle)
    }
    const left = yield* survivorsOf(leaf)
    if (noneLeft(left)) {
      leaf.swept = true
      return
    }
    yield* Effect.logWarning("LocalHost: leaf processes survived SIGKILL").pipe(
      Effect.annotateLogs({ pgid: leaf.identity.pgid, group: left.group, marked: left.marked.join(",") })
    )
  }).pipe(Effect.withSpan("LocalHost.sweep"))

// ---------------------------------------------------------------------------------------------
// Spawning

const spawnError = (argv0: string, cwd: string, error: unknown): HostError => {
  switch (errorCode(error)) {
    case "ENOENT":
      // spawn reports a missing working directory as ENOENT too.
      if (!fs.existsSync(cwd)) {
        return new HostError({ reason: "spawn", code: 1, message: `working directory not found: ${cwd}` })
      }
      return new HostError({ reason: "spawn", code: 127, message: `command not found: ${argv0}` })
    case "EACCES":
      return new HostError({ reason: "spawn", code: 126, message: `permission denied: ${argv0}` })
    default:
      return new HostError({ reason: "spawn", code: 1, message: errorMessage(error) })
  }
}

/** Opens a `File` stdin; the descriptor is handed to the child, so it reads the file itself. */
const openStdinFile = (file: string) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const handle = await fsp.open(file, "r")
        try {
          if ((await handle.stat()).isDirectory()) throw new Error("is a directory")
        } catch (error) {
          await handle.close()
          throw error
        }
        return handle
      },
      catch: (error) =>
        new HostError({ reason: "io", code: 1, message: `cannot read stdin file ${file}: ${errorMessage(error)}` })
    }),
    (handle) => Effect.promise(() => handle.close().catch(() => undefined))
  )

const spawnLeaf = (
  spec: LeafSpec,
  env: Readonly<Record<string, string | undefined>>,
  markerId: string,
  stdin: "ignore" | "pipe" | number
) =>
  Effect.async<Leaf, HostError>((resume) => {
    const [argv0, ...args] = spec.argv
    if (argv0 === undefined || argv0 === "") {
      resume(Effect.fail(new HostError({ reason: "spawn", code: 1, message: "empty argv" })))
      return
    }
    let child: ChildProcess
    try {
      child = spawn(argv0, args, {
        cwd: spec.cwd,
        env: { ...env, ...spec.env, [leafMarkerVariable]: markerId },
        stdio: [stdin, "pipe", "pipe"] satisfies StdioOptions,
        // setsid(2) in the child: a new session and process group with pgid = pid.
        detached: true,
        windowsHide: true
      })
    } catch (error) {
      resume(Effect.fail(spawnError(argv0, spec.cwd, error)))
      return
    }
    const pid = child.pid
    if (pid === undefined) {
      // ENOENT / EACCES arrive as an 'error' event, not a throw.
      child.once("error", (error) => resume(Effect.fail(spawnError(argv0, spec.cwd, error))))
      return
    }
    // Read at once: the child cannot have been reaped before the event loop turns.
    const stat = readStat(pid)
    const leaf: Leaf = {
      child,
      identity: { host: "local", pid, pgid: stat !== undefined && stat.pgid > 0 ? stat.pgid : pid, startTime: stat?.startTime ?? 0, marker: markerId },
      marker: markerId,
      verifyGroup: false,
      swept: false,
      stdinError: undefined
    }
    // Later 'error' events (failed signal delivery) must not crash the process; exit is
    // observed through 'exit' and the group through polling.
    child.on("error", () => undefined)
    child.stdin?.on("error", (error) => {
      leaf.stdinError ??= error
    })
    resume(Effect.succeed(leaf))
  })

// ---------------------------------------------------------------------------------------------
// Running

interface ExitStatus {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

const awaitExit = (child: ChildProcess) =>
  Effect.async<ExitStatus>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resume(Effect.succeed({ code: child.exitCode, signal: child.signalCode }))
      return
    }
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => resume(Effect.succeed({ code, signal }))
    child.once("exit", onExit)
    return Effect.sync(() => child.off("exit", onExit))
  })

/** Writes `bytes` to the leaf's stdin and closes it; settles once the pipe is done with. */
const feedStdin = (leaf: Leaf, bytes: Uint8Array) =>
  Effect.async<void, HostError>((resume) => {
    const stdin = leaf.child.stdin
    if (stdin === null) {
      resume(Effect.void)
      return
    }
    const settle = () => {
      const error = leaf.stdinError
      const code = errorCode(error)
      resume(
        error === undefined || (code !== undefined && ignorableStdinErrors.has(code))
          ? Effect.void
          : Effect.fail(new HostError({ reason: "io", code: 1, message: `cannot write stdin: ${errorMessage(error)}` }))
      )
    }
    stdin.once("finish", settle)
    stdin.once("close", settle)
    stdin.once("error", settle)
    stdin.end(bytes)
    return Effect.sync(() => {
      stdin.off("finish", settle)
      stdin.off("close", settle)
      stdin.off("error", settle)
    })
  })

const concatBytes = (chunks: ReadonlyArray<Uint8Array>, total: number): Uint8Array => {
  const out = new Uint8Array(total)
  let at = 0
  for (const chunk of chunks) {
    out.set(chunk, at)
    at += chunk.length
  }
  return out
}

/** A live log file a stream is copied to ({@link LeafSpec.logs}). */
interface Tee {
  readonly path: string
  readonly fd: number
}

/**
 * Opens a leaf's log file for appending. Opened before the leaf is spawned: the stream must
 * be read from the moment the process starts.
 */
const openTee = (file: string | undefined) =>
  file === undefined
    ? Effect.succeed(undefined)
    : Effect.acquireRelease(
        Effect.try({
          try: (): Tee => {
            fs.mkdirSync(path.dirname(file), { recursive: true })
            return { path: file, fd: fs.openSync(file, "a") }
          },
          catch: (error) => new HostError({ reason: "io", code: 1, message: `cannot open ${file}: ${errorMessage(error)}` })
        }),
        (tee) => Effect.sync(() => closeQuietly(tee.fd))
      )

const closeQuietly = (fd: number) => {
  try {
    fs.closeSync(fd)
  } catch {
    // already closed
  }
}

/** Writes all of `bytes` to `fd` (appends and spills are small, local and sequential). */
const writeAllSync = (fd: number, bytes: Uint8Array) => {
  let at = 0
  while (at < bytes.length) at += fs.writeSync(fd, bytes, at, bytes.length - at)
}

/**
 * Drains one output stream. Up to {@link captureLimitBytes} stay in memory; past that the complete
 * stream goes to `<outputDir>/<name>.<stream>.log` and memory keeps a tail of
 * {@link spilledTailBytes}. The spill file is closed before this completes. `tee` receives a
 * copy of every chunk as it arrives.
 *
 * Plain `data` listeners with synchronous appends, no Stream: a live actor holds two of these,
 * and a Stream pipeline per stream cost tens of KB of heap per actor.
 */
const captureStream = (
  readable: Readable,
  spec: LeafSpec,
  stream: "stdout" | "stderr",
  tee: Tee | undefined
) =>
  Effect.async<CapturedOutput, HostError>((resume) => {
    const spillPath = path.resolve(spec.outputDir, `${spec.name}.${stream}.log`)
    let size = 0
    // The whole stream until it spills; afterwards a window of chunks covering the tail.
    const held: Array<Uint8Array> = []
    let heldBytes = 0
    let spillFd: number | undefined
    let settled = false

    const settle = (result: Effect.Effect<CapturedOutput, HostError>) => {
      if (settled) return
      settled = true
      readable.off("data", onData)
      readable.off("end", finish)
      readable.off("close", finish)
      readable.off("error", onError)
      if (spillFd !== undefined) closeQuietly(spillFd)
      resume(result)
    }
    const ioError = (file: string, error: unknown) =>
      new HostError({ reason: "io", code: 1, message: `cannot write ${file}: ${errorMessage(error)}` })

    const onData = (chunk: Buffer) => {
      if (tee !== undefined) {
        try {
          writeAllSync(tee.fd, chunk)
        } catch (error) {
          readable.destroy()
          return settle(Effect.fail(ioError(tee.path, error)))
        }
      }
      size += chunk.length
      held.push(chunk)
      heldBytes += chunk.length
      try {
        if (spillFd === undefined) {
          if (heldBytes <= captureLimitBytes) return
          fs.mkdirSync(spec.outputDir, { recursive: true })
          spillFd = fs.openSync(spillPath, "w")
          for (const piece of held) writeAllSync(spillFd, piece)
        } else {
          writeAllSync(spillFd, chunk)
        }
      } catch (error) {
        readable.destroy()
        return settle(Effect.fail(new HostError({ reason: "io", code: 1, message: `cannot create ${spillPath}: ${errorMessage(error)}` })))
      }
      while (held.length > 1 && heldBytes - held[0]!.length >= spilledTailBytes) {
        heldBytes -= held.shift()!.length
      }
    }
    const finish = () => {
      const bytes = concatBytes(held, heldBytes)
      if (spillFd === undefined) return settle(Effect.succeed({ size, bytes }))
      const fd = spillFd
      spillFd = undefined
      try {
        fs.closeSync(fd)
      } catch (error) {
        return settle(Effect.fail(ioError(spillPath, error)))
      }
      settle(Effect.succeed({ size, bytes: utf8SafeTail(bytes, spilledTailBytes), spill: spillPath }))
    }
    const onError = (error: unknown) => settle(Effect.fail(new HostError({ reason: "io", code: 1, message: `cannot read ${stream}: ${errorMessage(error)}` })))

    readable.on("data", onData)
    readable.once("end", finish)
    // `close` without `end`: the pipe was destroyed (abandoned, see `run`); keep what was read.
    readable.once("close", finish)
    readable.once("error", onError)
    return Effect.sync(() => settle(Effect.interrupt))
  })

const signalNumber = (signal: NodeJS.Signals): number => os.constants.signals[signal] ?? 0

const stdinMode = (stdin: LeafStdin): "ignore" | "pipe" => (stdin._tag === "Bytes" || stdin._tag === "Live" ? "pipe" : "ignore")

/** Writes one chunk, waiting for `drain` when the pipe is full; a closed pipe ends quietly. */
const writeChunk = (leaf: Leaf, chunk: Uint8Array) =>
  Effect.async<void>((resume) => {
    const stdin = leaf.child.stdin
    if (stdin === null || stdin.destroyed || stdin.writableEnded) {
      resume(Effect.void)
      return
    }
    if (stdin.write(chunk)) {
      resume(Effect.void)
      return
    }
    const done = () => resume(Effect.void)
    stdin.once("drain", done)
    stdin.once("close", done)
    return Effect.sync(() => {
      stdin.off("drain", done)
      stdin.off("close", done)
    })
  })

/** Feeds a live stream into the leaf's stdin until the stream ends (then closes stdin) or the leaf exits. */
const feedLive = (leaf: Leaf, source: Stream.Stream<Uint8Array>) =>
  Stream.runForEach(source, (chunk) => writeChunk(leaf, chunk)).pipe(
    Effect.zipRight(Effect.sync(() => leaf.child.stdin?.end())),
    Effect.catchAllCause((cause) => Effect.logDebug(`LocalHost: live stdin ended: ${Cause.pretty(cause)}`))
  )

/**
 * Builds a {@link Host} that runs leaves as local processes.
 *
 * `run(spec)`:
 * - spawns `argv[0]` with `argv.slice(1)` (no shell) in `cwd`, detached (own session and process
 *   group, pgid = pid), with the base environment + `spec.env` + `TROUPE_LEAF_ID=<unique id>`;
 * - stdin: `None` → `/dev/null`; `Bytes` → written then closed (a leaf that does not read it is
 *   fine); `File` → the opened file descriptor is the leaf's stdin, like a shell's `< file`
 *   (unreadable → `HostError` `io`, code 1);
 * - drains stdout and stderr into {@link CapturedOutput}s (1 MiB in memory, then a spill file
 *   `<outputDir>/<name>.<stdout|stderr>.log` holding the complete stream, closed before return);
 * - once the leader exits, sweeps what the leaf left behind — live members of its process group,
 *   then processes carrying its marker (escaped via `setsid` / double fork): SIGTERM, up to
 *   `graceMs`, SIGKILL — and then waits for both streams to reach end-of-file (at most
 *   `pipeCloseGraceMs` more). Interrupting `run` sweeps the same way, starting with the leader,
 *   before the interruption completes;
 * - succeeds with `code` (`128 + n` for signal n), `durationMs` (spawn to leader exit, from
 *   `Clock`) and identity `{ pid, pgid, startTime }` (start time in clock ticks since boot, also
 *   passed to `spec.onSpawn`).
 *
 * Fails with `HostError` `spawn` (127 command not found, 126 permission denied, 1 other) or
 * `io` (stdin file unreadable, spill file not writable).
 */
export const make = (options: LocalHostOptions = {}) =>
  Effect.sync(() => {
    const grace = options.graceMs === undefined ? killGrace : Duration.millis(options.graceMs)
    const pipeGrace = options.pipeCloseGraceMs === undefined ? pipeCloseGrace : Duration.millis(options.pipeCloseGraceMs)
    const baseEnv = options.env ?? inheritedEnvironment()

    const run = Effect.fn("LocalHost.run")(
      function* (spec: LeafSpec) {
        const markerId = randomUUID()
        const startedAt = yield* Clock.currentTimeMillis
        const stdoutTee = yield* openTee(spec.logs?.stdout)
        const stderrTee = yield* openTee(spec.logs?.stderr)
        const spawnWith = (stdin: "ignore" | "pipe" | number) =>
          Effect.acquireRelease(spawnLeaf(spec, baseEnv, markerId, stdin), (leaf) => sweep(leaf, grace))
        const leaf = spec.stdin._tag === "File"
          // The leaf holds its own copy of the descriptor; ours closes at scope end.
          ? yield* Effect.flatMap(openStdinFile(spec.stdin.path), (handle) => spawnWith(handle.fd))
          : yield* spawnWith(stdinMode(spec.stdin))
        yield* Effect.annotateCurrentSpan({ pid: leaf.identity.pid, argv0: spec.argv[0] })

        const { stderr: childStderr, stdout: childStdout } = leaf.child
        if (childStdout === null || childStderr === null) return yield* Effect.dieMessage("leaf spawned without pipes")
        const stdoutFiber = yield* Effect.forkScoped(captureStream(childStdout, spec, "stdout", stdoutTee))
        const stderrFiber = yield* Effect.forkScoped(captureStream(childStderr, spec, "stderr", stderrTee))
        const stdinFiber = yield* Effect.forkScoped(
          spec.stdin._tag === "Bytes" ? feedStdin(leaf, spec.stdin.bytes) : Effect.void
        )
        // A live stdin never ends by itself: it stops when the leaf exits.
        const liveFiber = spec.stdin._tag === "Live" ? yield* Effect.forkScoped(feedLive(leaf, spec.stdin.source)) : undefined
        if (spec.onSpawn !== undefined) yield* spec.onSpawn(leaf.identity)

        const status = yield* awaitExit(leaf.child)
        const endedAt = yield* Clock.currentTimeMillis
        if (liveFiber !== undefined) yield* Fiber.interrupt(liveFiber)
        // Sweep before waiting for end-of-file: a background process left in the group holds
        // the pipes open until it is gone.
        yield* sweep(leaf, grace)

        const settle = Effect.all([Fiber.join(stdoutFiber), Fiber.join(stderrFiber), Fiber.join(stdinFiber)])
        const settled = yield* Effect.timeoutOption(settle, pipeGrace)
        const [stdout, stderr] = Option.isSome(settled)
          ? settled.value
          : yield* Effect.gen(function* () {
            yield* Effect.logWarning("LocalHost: leaf output pipes still open after exit; capture cut short").pipe(
              Effect.annotateLogs({ pid: leaf.identity.pid, name: spec.name })
            )
            childStdout.destroy()
            childStderr.destroy()
            leaf.child.stdin?.destroy()
            return yield* settle
          })

        const result: LeafResult = {
          code: status.signal !== null ? 128 + signalNumber(status.signal) : (status.code ?? 1),
          signal: status.signal ?? undefined,
          stdout,
          stderr,
          durationMs: endedAt - startedAt,
          identity: leaf.identity
        }
        return result
      },
      Effect.scoped
    )

    const reap = Effect.fn("LocalHost.reap")(function* (identity: ProcessIdentity) {
      const leaf: SweepTarget = {
        identity,
        // Without a recorded marker nothing carries this fresh one: only the leader can match.
        marker: identity.marker ?? randomUUID(),
        verifyGroup: true,
        swept: false
      }
      const found = yield* survivorsOf(leaf)
      const count = found.marked.length + (found.group && !found.marked.includes(identity.pid) ? 1 : 0)
      if (noneLeft(found)) return 0
      yield* sweep(leaf, grace)
      return count
    })

    return Host.of({ run, reap })
  })

/**
 * The local process host.
 *
 * - `LocalHost.layer({ graceMs })` — `Layer<Host>`; `graceMs` is the SIGTERM → SIGKILL grace in
 *   ms (default {@link killGrace}, 5,000 ms).
 * - `LocalHost.make(options)` — the `Host` service itself, see {@link make}.
 * - `LocalHost.Default` — `layer()` with defaults.
 */
export const LocalHost = {
  make,
  layer: (options?: LocalHostOptions): Layer.Layer<Host> => Layer.effect(Host, make(options)),
  Default: Layer.effect(Host, make()),
  killGrace
} as const
