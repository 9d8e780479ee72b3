/**
 * `LocalHost`: runs leaf commands as local OS processes, each in its own process group — the
 * `local` {@link HostShape}.
 *
 * Corresponds to pi-actors' leaf runner, which spawned every leaf as a detached process group
 * and killed it with SIGTERM, then SIGKILL after a grace period. troupe adds a sweep for
 * descendants that left the group (`setsid`, double fork), found by a per-leaf marker in their
 * environment (internal/Sweep.ts, over the shared `/proc` scans of internal/ProcScan.ts).
 * Capture (tails, spills, log tees, stdin feeding) is not here: LeafCapture does it for every host.
 */
import { spawn, type ChildProcess, type StdioOptions } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as fs from "node:fs"
import * as fsp from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import * as NodeStream from "@effect/platform-node/NodeStream"
import { Duration, Effect, Layer, Sink, type Stream } from "effect"
import { Host, HostError, type HostShape, type LeafExit, type LeafProcess, type ProcessIdentity, type StartSpec } from "./Host.js"
import { type NodeStdio, nodeStdio } from "./internal/NodeStdio.js"
import { errorCode, errorMessage, leafMarkerVariable, readStat, sendSignal } from "./internal/ProcScan.js"
import { reapIdentity, sweep, type SweepTarget } from "./internal/Sweep.js"

export { leafMarkerVariable } from "./internal/ProcScan.js"

// ---------------------------------------------------------------------------------------------
// Policies

/** Grace between SIGTERM and SIGKILL for a leaf's process group and escaped descendants: 5 s. */
export const killGrace = Duration.seconds(5)

/** Stdin write errors that only mean the leaf did not read (all of) its stdin. */
const ignorableStdinErrors: ReadonlySet<string> = new Set(["EPIPE", "ECONNRESET", "ERR_STREAM_DESTROYED"])

/** Options of {@link LocalHost.layer} / {@link LocalHost.make}. */
export interface LocalHostOptions {
  /** SIGTERM → SIGKILL grace in ms (default {@link killGrace}, 5,000 ms). */
  readonly graceMs?: number | undefined
  /**
   * Base environment of every leaf; `spec.env` and the marker are added to it. The caller's
   * choice, because only configuration layers read the process environment: the live layer
   * passes this process's environment (`Config.inheritedEnvironment()`).
   */
  readonly env: Readonly<Record<string, string | undefined>>
}

// ---------------------------------------------------------------------------------------------
// Spawning

/** A spawned leaf: the node child plus what the reaper needs. */
interface Leaf extends SweepTarget {
  readonly child: ChildProcess
  stdinError: unknown
}

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
  spec: StartSpec,
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
// The started leaf

const awaitExit = (child: ChildProcess) =>
  Effect.async<LeafExit>((resume) => {
    const done = (code: number | null, signal: NodeJS.Signals | null) =>
      resume(Effect.succeed(signal !== null ? { code: 128 + signalNumber(signal), signal } : { code: code ?? 1 }))
    if (child.exitCode !== null || child.signalCode !== null) {
      done(child.exitCode, child.signalCode)
      return
    }
    child.once("exit", done)
    return Effect.sync(() => child.off("exit", done))
  })

const signalNumber = (signal: NodeJS.Signals): number => os.constants.signals[signal] ?? 0

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

/** Closes the leaf's stdin; settles once the pipe is done with (EPIPE and the like are fine). */
const endStdin = (leaf: Leaf) =>
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
    if (stdin.destroyed || stdin.writableFinished) {
      settle()
      return
    }
    stdin.once("finish", settle)
    stdin.once("close", settle)
    stdin.once("error", settle)
    stdin.end()
    return Effect.sync(() => {
      stdin.off("finish", settle)
      stdin.off("close", settle)
      stdin.off("error", settle)
    })
  })

const readError = (stream: "stdout" | "stderr") => (error: unknown) =>
  new HostError({ reason: "io", code: 1, message: `cannot read ${stream}: ${errorMessage(error)}` })

/**
 * The {@link LeafProcess} of a spawned leaf. The streams and the sink are built on first use
 * (LeafCapture reads LocalHost's pipes through {@link nodeStdio} and never builds them).
 */
const leafProcess = (leaf: Leaf, grace: Duration.Duration): LeafProcess & { readonly [nodeStdio]: NodeStdio } => {
  const { stderr, stdout } = leaf.child
  if (stdout === null || stderr === null) throw new Error("leaf spawned without pipes")
  return {
    identity: leaf.identity,
    [nodeStdio]: { stdout, stderr },
    get stdout(): Stream.Stream<Uint8Array, HostError> {
      return NodeStream.fromReadable(() => stdout, readError("stdout"))
    },
    get stderr(): Stream.Stream<Uint8Array, HostError> {
      return NodeStream.fromReadable(() => stderr, readError("stderr"))
    },
    get stdin(): Sink.Sink<void, Uint8Array, never, HostError> {
      return Sink.forEach((chunk: Uint8Array) => writeChunk(leaf, chunk)).pipe(Sink.mapEffect(() => endStdin(leaf)))
    },
    // Sweep before reporting the exit: a background process left in the group holds the pipes
    // open until it is gone.
    exit: Effect.flatMap(awaitExit(leaf.child), (status) => Effect.as(sweep(leaf, grace), status)),
    signal: (signal) => Effect.sync(() => sendSignal(-leaf.identity.pgid, signal as NodeJS.Signals))
  }
}

/** Releases a leaf: sweeps what is left, then closes our ends of its pipes. */
const release = (leaf: Leaf, grace: Duration.Duration) =>
  Effect.zipRight(
    sweep(leaf, grace),
    Effect.sync(() => {
      leaf.child.stdin?.destroy()
      leaf.child.stdout?.destroy()
      leaf.child.stderr?.destroy()
    })
  )

// ---------------------------------------------------------------------------------------------
// Resolving commands

/** A `.js/.mjs/.cjs/.sh` file runs directly only when it is an executable file with a `#!`. */
const runsDirectly = (file: string) =>
  Effect.promise(async () => {
    try {
      const info = await fsp.stat(file)
      if (!info.isFile() || (info.mode & 0o111) === 0) return false
      const handle = await fsp.open(file, "r")
      try {
        const head = Buffer.alloc(2)
        const { bytesRead } = await handle.read(head, 0, 2, 0)
        return bytesRead === 2 && head[0] === 0x23 && head[1] === 0x21
      } finally {
        await handle.close()
      }
    } catch {
      return false
    }
  })

/** SPEC-runtime §1.2 step 4 on this machine (see {@link HostShape.resolve}). */
export const resolveCommand = (argv: ReadonlyArray<string>, cwd: string, home: string) =>
  Effect.gen(function* () {
    let cmd = argv[0]
    if (cmd === undefined) return argv
    if (cmd === "~" || cmd.startsWith("~/")) cmd = home + cmd.slice(1)
    else if (!path.isAbsolute(cmd) && cmd.includes("/")) cmd = path.resolve(cwd, cmd)
    if (!cmd.includes("/")) return [cmd, ...argv.slice(1)]
    const ext = path.extname(cmd)
    if (ext !== ".js" && ext !== ".mjs" && ext !== ".cjs" && ext !== ".sh") return [cmd, ...argv.slice(1)]
    if (yield* runsDirectly(cmd)) return [cmd, ...argv.slice(1)]
    return [ext === ".sh" ? "bash" : process.execPath, cmd, ...argv.slice(1)]
  })

// ---------------------------------------------------------------------------------------------
// The host

/**
 * Builds the `local` {@link HostShape}.
 *
 * `start(spec)`:
 * - spawns `argv[0]` with `argv.slice(1)` (no shell) in `cwd`, detached (own session and process
 *   group, pgid = pid), with the base environment + `spec.env` + `TROUPE_LEAF_ID=<unique id>`;
 * - stdin: `None` → `/dev/null`; `Pipe` → written through the `stdin` sink (closed when its
 *   input ends; a leaf that does not read it is fine); `File` → the opened file descriptor is
 *   the leaf's stdin, like a shell's `< file` (unreadable → `HostError` `io`, code 1);
 * - identity `{ host: "local", pid, pgid, startTime, marker }` (start time in clock ticks since
 *   boot, `/proc/<pid>/stat` field 22);
 * - `exit` completes once the leader exited and what the leaf left behind — live members of
 *   its process group, then processes carrying its marker (escaped via `setsid` / double fork)
 *   — was swept: SIGTERM, up to `graceMs`, SIGKILL. `code` is `128 + n` for signal n;
 * - closing the scope sweeps the same way, starting with the leader, before the close completes.
 *
 * Fails with `HostError` `spawn` (127 command not found, 126 permission denied, 1 other, e.g.
 * a missing working directory) or `io` (stdin file unreadable).
 */
export const make = (options: LocalHostOptions) =>
  Effect.sync((): HostShape => {
    const grace = options.graceMs === undefined ? killGrace : Duration.millis(options.graceMs)
    const baseEnv = options.env

    const start = Effect.fn("LocalHost.start")(function* (spec: StartSpec) {
      const markerId = randomUUID()
      const spawnWith = (stdin: "ignore" | "pipe" | number) =>
        Effect.acquireRelease(spawnLeaf(spec, baseEnv, markerId, stdin), (leaf) => release(leaf, grace))
      const leaf = spec.stdin._tag === "File"
        // The leaf holds its own copy of the descriptor; ours closes at scope end.
        ? yield* Effect.flatMap(openStdinFile(spec.stdin.path), (handle) => spawnWith(handle.fd))
        : yield* spawnWith(spec.stdin._tag === "Pipe" ? "pipe" : "ignore")
      yield* Effect.annotateCurrentSpan({ pid: leaf.identity.pid, argv0: spec.argv[0] })
      return leafProcess(leaf, grace)
    })

    const reap = (identity: ProcessIdentity) => reapIdentity(identity, grace).pipe(Effect.withSpan("LocalHost.reap"))

    return { name: "local", start, resolve: resolveCommand, reap }
  })

/**
 * The local process host.
 *
 * - `LocalHost.layer({ env, graceMs })` — `Layer<Host>`; `env` is the leaves' base environment,
 *   `graceMs` the SIGTERM → SIGKILL grace in ms (default {@link killGrace}, 5,000 ms).
 * - `LocalHost.make(options)` — the host itself, see {@link make}.
 */
export const LocalHost = {
  make,
  layer: (options: LocalHostOptions): Layer.Layer<Host> => Layer.effect(Host, make(options)),
  killGrace
} as const
