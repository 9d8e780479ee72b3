/**
 * Capture above hosts: runs one leaf on any {@link HostShape} to completion and hands back what
 * CommandGraph needs — exit code, bounded stdout/stderr (spilled past 1 MiB), duration,
 * identity — while feeding its stdin and teeing its streams into the run's log files.
 *
 * Written once, so every host (LocalHost, BrokerHost, a VM host) captures with the same
 * semantics. Corresponds to the capture half of pi-actors' leaf runner (bounded output, spill
 * files) and of pi-vers' remote exec (which buffered whole outputs in memory).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as NodeStream from "@effect/platform-node/NodeStream"
import type { Readable } from "node:stream"
import { Clock, Context, Duration, Effect, Exit, Fiber, Option, Runtime, Stream } from "effect"
import type { CapturedOutput } from "../domain/Output.js"
import { HostError, type HostShape, type LeafProcess, type ProcessIdentity, type StartStdin } from "./Host.js"
import { nodeStdioOf } from "./internal/NodeStdio.js"
import { closeQuietly, type LogBudget, OutputCollector, type Tee } from "./internal/OutputCollector.js"
import { errorMessage } from "./internal/ProcScan.js"
import { privateFileMode } from "./TroupeConfig.js"

/**
 * Where a leaf's stdin comes from: nothing (`/dev/null`-like: closed at once), bytes held in
 * memory, a file holding a previous step's complete stdout (a spill), or a live stream.
 */
export type LeafStdin =
  | { readonly _tag: "None" }
  | { readonly _tag: "Bytes"; readonly bytes: Uint8Array }
  | { readonly _tag: "File"; readonly path: string }
  /** A pipe kept open while the leaf runs, fed from `source` (`stdin-jsonl` delivery). */
  | { readonly _tag: "Live"; readonly source: Stream.Stream<Uint8Array> }

/** One leaf to run and capture: an argv (never a shell string) plus its environment. */
export interface LeafSpec {
  /** `argv[0]` as the host's `resolve` returned it; no shell evaluation. */
  readonly argv: ReadonlyArray<string>
  /** Absolute working directory (on the host). */
  readonly cwd: string
  /** Extra environment merged over the host's base environment. */
  readonly env?: Readonly<Record<string, string>> | undefined
  readonly stdin: LeafStdin
  /** Local directory for spill files of this leaf's streams (created on demand). */
  readonly outputDir: string
  /** File-name stem for this leaf's spill files, unique per attempt (e.g. `0.1-attempt1`). */
  readonly name: string
  /**
   * Local files that receive a live copy of the leaf's streams, appended chunk by chunk as they
   * arrive (the run's `stdout.log` / `stderr.log`), each within its optional byte budget.
   */
  readonly logs?: { readonly stdout?: RunLog | undefined; readonly stderr?: RunLog | undefined } | undefined
  /**
   * Whether a stream past the 1 MiB capture limit is written whole to a spill file (default
   * true). False when nothing needs the complete stream and a log holds it: only the 64 KiB
   * tail is kept, and the result names the log.
   */
  readonly spill?: boolean | undefined
  /** Called as soon as a stream makes its (capped) log reach the limit, once per stream; finished before the leaf's result. */
  readonly onLogLimit?: ((stream: "stdout" | "stderr") => Effect.Effect<void>) | undefined
  /** Called once the process has started, with its identity. */
  readonly onSpawn?: ((identity: ProcessIdentity) => Effect.Effect<void>) | undefined
}

export type { LogBudget } from "./internal/OutputCollector.js"

/** A run log a stream is teed into: its path and, when it is capped, the shared budget. */
export interface RunLog {
  readonly path: string
  readonly budget?: LogBudget | undefined
}

/** Outcome of a leaf that ran to completion (any exit code) or was killed by a signal. */
export interface LeafResult {
  /** Exit code; `128 + signal number` when the process was ended by a signal. */
  readonly code: number
  /** Signal name when the process was ended by a signal. */
  readonly signal?: string | undefined
  readonly stdout: CapturedOutput
  readonly stderr: CapturedOutput
  /** From just before the start to the leader's exit (and the host's sweep), ms, by `Clock`. */
  readonly durationMs: number
  readonly identity: ProcessIdentity
  /** The streams whose log reached its limit while this leaf ran (the notice is in the log). */
  readonly logLimitReached: ReadonlyArray<"stdout" | "stderr">
}

/**
 * How long, after the leaf's exit (leader gone, leftovers swept), capture waits for stdout and
 * stderr to reach end-of-file: 2 s. Only a process the host may not signal (one that left the
 * group and dropped the marker) can hold a pipe open that long; capture then ends with the bytes
 * read so far and logs a warning. Provide another `Duration` to change it (tests use less).
 */
export class PipeCloseGrace extends Context.Reference<PipeCloseGrace>()("troupe/PipeCloseGrace", {
  defaultValue: (): Duration.Duration => Duration.seconds(2)
}) {}

/**
 * Opens a leaf's log file for appending. Opened before the leaf starts: the stream must be
 * read from the moment the process starts.
 */
const openTee = (log: RunLog | undefined) =>
  log === undefined
    ? Effect.succeed(undefined)
    : Effect.acquireRelease(
        Effect.try({
          try: (): Tee => {
            fs.mkdirSync(path.dirname(log.path), { recursive: true })
            return { path: log.path, fd: fs.openSync(log.path, "a", privateFileMode), budget: log.budget }
          },
          catch: (error) => new HostError({ reason: "output", code: 1, message: `cannot open ${log.path}: ${errorMessage(error)}` })
        }),
        (tee) => Effect.sync(() => closeQuietly(tee.fd))
      )

/**
 * A stream being drained into its collector: `done` completes at end-of-file (fails with the
 * collector's or the stream's error); `stop` gives up on it and tells how it had ended.
 */
interface Drain {
  readonly done: Effect.Effect<void, HostError>
  readonly stop: Effect.Effect<Exit.Exit<void, HostError>>
}

/**
 * Drains a Node pipe into `collector` with plain `data` listeners (LocalHost's fast path): no
 * fiber, no Stream — a live actor holds two of these. Ends at end-of-file or when the pipe is
 * destroyed; a failed write to a log or spill destroys the pipe.
 */
const drainReadable = (readable: Readable, collector: OutputCollector) =>
  Effect.sync((): Drain => {
    let ended: Exit.Exit<void, HostError> | undefined
    let waiter: ((exit: Exit.Exit<void, HostError>) => void) | undefined
    const settle = (exit: Exit.Exit<void, HostError>) => {
      if (ended !== undefined) return
      ended = exit
      readable.off("data", onData)
      readable.off("end", onEnd)
      readable.off("close", onEnd)
      readable.off("error", onError)
      waiter?.(exit)
    }
    const onData = (chunk: Buffer) => {
      const error = collector.push(chunk)
      if (error !== undefined) {
        readable.destroy()
        settle(Exit.fail(error))
      }
    }
    const onEnd = () => settle(Exit.void)
    const onError = (error: unknown) => settle(Exit.fail(collector.readFailed(error)))
    readable.on("data", onData)
    readable.once("end", onEnd)
    // `close` without `end`: the pipe was destroyed (given up on after the grace).
    readable.once("close", onEnd)
    readable.once("error", onError)
    return {
      done: Effect.async<void, HostError>((resume) => {
        if (ended !== undefined) return resume(ended)
        waiter = resume
        return Effect.sync(() => {
          waiter = undefined
        })
      }),
      stop: Effect.sync(() => {
        settle(Exit.void)
        return ended!
      })
    }
  })

/** Drains any host's byte stream into `collector`, in a fiber of the current scope. */
const drainStream = (stream: Stream.Stream<Uint8Array, HostError>, collector: OutputCollector) =>
  Effect.map(
    Effect.forkScoped(
      Stream.runForEach(stream, (chunk) => {
        const error = collector.push(chunk)
        return error === undefined ? Effect.void : Effect.fail(error)
      })
    ),
    (fiber): Drain => ({ done: Fiber.join(fiber), stop: Fiber.interrupt(fiber) })
  )

/** Fails with `io` unless `file` is a readable regular file of this machine. */
const checkStdinFile = (file: string) =>
  Effect.tryPromise({
    try: async () => {
      const handle = await fs.promises.open(file, "r")
      try {
        if (!(await handle.stat()).isFile()) throw new Error("not a regular file")
      } finally {
        await handle.close()
      }
    },
    catch: () => new HostError({ reason: "io", code: 1, message: `stdin file not readable: ${file}` })
  })

/** Reads a local file as a byte stream (a spill fed to a host that cannot see this machine). */
const fileStream = (file: string) =>
  NodeStream.fromReadable(
    () => fs.createReadStream(file),
    (error) => new HostError({ reason: "io", code: 1, message: `cannot read stdin file ${file}: ${errorMessage(error)}` })
  )

/**
 * Whether a host reads files of this machine: `local` and `broker` (a local helper process) do;
 * a VM does not, so a `File` stdin is streamed to it through a pipe instead.
 */
const sharesFiles = (host: HostShape) => !host.name.startsWith("vm:")

const startStdin = (host: HostShape, stdin: LeafStdin): StartStdin =>
  stdin._tag === "None"
    ? stdin
    : stdin._tag === "File" && sharesFiles(host)
    ? stdin
    : { _tag: "Pipe" }

/** The feeding a leaf's stdin needs after start, or undefined (none, or a file it reads itself). */
const stdinFeed = (host: HostShape, stdin: LeafStdin, leaf: LeafProcess) => {
  switch (stdin._tag) {
    case "None":
      return undefined
    case "Bytes":
      return Stream.run(Stream.succeed(stdin.bytes), leaf.stdin)
    case "File":
      return sharesFiles(host) ? undefined : Stream.run(fileStream(stdin.path), leaf.stdin)
    case "Live":
      return undefined
  }
}

/**
 * Runs `spec` on `host` and captures it.
 *
 * - starts the leaf (`None` → closed stdin; `Bytes` → written then closed, a leaf that does not
 *   read it is fine; `File` → the host reads the file itself, or it is streamed through a pipe
 *   to a host that cannot see it; `Live` → `source` is piped in until the leaf exits);
 * - drains stdout and stderr into {@link CapturedOutput}s (1 MiB in memory, then a spill file
 *   `<outputDir>/<name>.<stdout|stderr>.log` holding the complete stream, with a 64 KiB
 *   UTF-8-safe tail in memory; closed before this returns). Every chunk is appended to its
 *   `logs` file synchronously before it is captured, so any result that shows output implies
 *   the log already holds it (the Pi `bg_start` / `bg_logs` contract);
 * - calls `onSpawn` with the identity once started; waits for the leaf's `exit`, then for both
 *   streams to end (at most {@link PipeCloseGrace} more);
 * - interrupting it closes the leaf's scope: the host kills the leaf's tree before the
 *   interruption completes.
 *
 * Fails with the host's `HostError` (`spawn`, `unavailable`), or `io` (a log or spill file not
 * writable, a stream or the stdin failed).
 */
export const runLeaf = (host: HostShape, spec: LeafSpec) =>
  Effect.gen(function* () {
    const startedAt = yield* Clock.currentTimeMillis
    const pipeGrace = yield* PipeCloseGrace
    const stdoutTee = yield* openTee(spec.logs?.stdout)
    const stderrTee = yield* openTee(spec.logs?.stderr)
    // A log reaching its limit is noticed in a data handler (synchronous, at most once per
    // stream): told from a fiber started right then — none is kept per leaf while nothing
    // happens — and awaited before the result.
    const runtime = yield* Effect.runtime<never>()
    const telling: Array<Fiber.RuntimeFiber<void>> = []
    const notifyLimit = spec.onLogLimit
    yield* Effect.addFinalizer(() => Fiber.interruptAll(telling))
    const collector = (stream: "stdout" | "stderr", tee: Tee | undefined) =>
      new OutputCollector(spec.outputDir, spec.name, stream, tee, spec.spill !== false || tee === undefined, () => {
        if (notifyLimit !== undefined) telling.push(Runtime.runFork(runtime)(Effect.uninterruptible(notifyLimit(stream))))
      })
    const stdout = collector("stdout", stdoutTee)
    const stderr = collector("stderr", stderrTee)
    yield* Effect.addFinalizer(() => Effect.sync(() => {
      stdout.abandon()
      stderr.abandon()
    }))

    // A file streamed to a host that cannot see it is checked here, as the host itself would.
    if (spec.stdin._tag === "File" && !sharesFiles(host)) yield* checkStdinFile(spec.stdin.path)
    const leaf = yield* host.start({ argv: spec.argv, cwd: spec.cwd, env: spec.env, stdin: startStdin(host, spec.stdin) })
    yield* Effect.annotateCurrentSpan({ host: host.name, pid: leaf.identity.pid })
    const fast = nodeStdioOf(leaf)
    const drains: Array<Drain> = fast === undefined
      ? [yield* drainStream(leaf.stdout, stdout), yield* drainStream(leaf.stderr, stderr)]
      : [yield* drainReadable(fast.stdout, stdout), yield* drainReadable(fast.stderr, stderr)]
    yield* Effect.addFinalizer(() => Effect.forEach(drains, (d) => d.stop, { discard: true }))
    const feed = stdinFeed(host, spec.stdin, leaf)
    const feeding = feed === undefined ? undefined : yield* Effect.forkScoped(feed)
    if (feeding !== undefined) drains.push({ done: Fiber.join(feeding), stop: Fiber.interrupt(feeding) })
    // A live stdin never ends by itself: it stops when the leaf exits.
    const liveFiber = spec.stdin._tag === "Live"
      ? yield* Effect.forkScoped(
        Stream.run(spec.stdin.source, leaf.stdin).pipe(
          Effect.catchAllCause((cause) => Effect.logDebug("LeafCapture: live stdin ended", cause))
        )
      )
      : undefined
    if (spec.onSpawn !== undefined) yield* spec.onSpawn(leaf.identity)

    // A feed that fails (the file became unreadable) fails the leaf, which is then killed with
    // the scope, rather than leave it waiting for the rest of its stdin.
    const status = yield* (feeding === undefined ? leaf.exit : Effect.raceFirst(leaf.exit, Effect.zipRight(Fiber.join(feeding), Effect.never)))
    const endedAt = yield* Clock.currentTimeMillis
    if (liveFiber !== undefined) yield* Fiber.interrupt(liveFiber)

    const settled = yield* Effect.timeoutOption(Effect.all(drains.map((d) => d.done), { discard: true }), pipeGrace)
    if (Option.isNone(settled)) {
      yield* Effect.logWarning("LeafCapture: leaf output pipes still open after exit; capture cut short").pipe(
        Effect.annotateLogs({ host: host.name, pid: leaf.identity.pid, name: spec.name })
      )
      // Keep what was read; a failure already recorded still counts.
      const exits = yield* Effect.forEach(drains, (d) => d.stop)
      for (const exit of exits) if (Exit.isFailure(exit) && !Exit.isInterrupted(exit)) yield* exit
    }
    yield* Fiber.joinAll(telling)
    const out = stdout.finish()
    if (out instanceof HostError) return yield* out
    const err = stderr.finish()
    if (err instanceof HostError) return yield* err
    const result: LeafResult = {
      code: status.code,
      signal: status.signal,
      stdout: out,
      stderr: err,
      durationMs: endedAt - startedAt,
      identity: leaf.identity,
      logLimitReached: [...(stdout.logLimitReached ? ["stdout" as const] : []), ...(stderr.logLimitReached ? ["stderr" as const] : [])]
    }
    return result
  }).pipe(Effect.scoped, Effect.withSpan("LeafCapture.runLeaf"))
