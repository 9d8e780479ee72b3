import { Context, Data, type Effect, type Scope, type Sink, type Stream } from "effect"
import type { CapturedOutput } from "../domain/Output.js"

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

/** Identity of a started leaf process, persisted so a restarted owner can reap by identity. */
export interface ProcessIdentity {
  /**
   * The host the leaf ran on, as `Hosts` names it: `"local"`, `"broker"`, `"vm:<id>"`. Reaping
   * dispatches on it; an unknown host is reported, never guessed.
   */
  readonly host: string
  readonly pid: number
  readonly pgid: number
  /** Process start time in clock ticks since boot (`/proc/<pid>/stat` field 22). */
  readonly startTime: number
  /**
   * Unique marker the host put into the leaf's environment (`TROUPE_LEAF_ID` for LocalHost),
   * inherited by every descendant; reaping matches processes by it.
   */
  readonly marker?: string | undefined
}

/** One leaf command to run: an argv (never a shell string) plus its environment. */
export interface LeafSpec {
  /** `argv[0]` is the resolved executable path or bare name; no shell evaluation. */
  readonly argv: ReadonlyArray<string>
  /** Absolute working directory. */
  readonly cwd: string
  /** Extra environment merged over the host's base environment. */
  readonly env?: Readonly<Record<string, string>> | undefined
  readonly stdin: LeafStdin
  /** Directory for spill files of this leaf's streams (created on demand). */
  readonly outputDir: string
  /** File-name stem for this leaf's spill files, unique per attempt (e.g. `0.1-attempt1`). */
  readonly name: string
  /**
   * Files that receive a live copy of the leaf's streams, appended chunk by chunk as they
   * arrive (the run's `stdout.log` / `stderr.log`). Independent of capture and spills.
   */
  readonly logs?: { readonly stdout?: string | undefined; readonly stderr?: string | undefined } | undefined
  /** Called once the process has started, with its identity. */
  readonly onSpawn?: ((identity: ProcessIdentity) => Effect.Effect<void>) | undefined
}

/** Outcome of a leaf that ran to completion (any exit code) or was killed by a signal. */
export interface LeafResult {
  /** Exit code; `128 + signal number` when the process was ended by a signal. */
  readonly code: number
  /** Signal name when the process was ended by a signal. */
  readonly signal?: string | undefined
  readonly stdout: CapturedOutput
  readonly stderr: CapturedOutput
  readonly durationMs: number
  readonly identity: ProcessIdentity
}

/**
 * A leaf could not be started (`reason: "spawn"`, e.g. ENOENT → code 127, EACCES → 126) or
 * its output could not be captured (`reason: "io"`).
 */
export class HostError extends Data.TaggedError("HostError")<{
  /**
   * `spawn`: the command could not start. `io`: a stream or stdin file failed. `unavailable`:
   * the host itself is unknown or gone (no such `on`, broker connection lost, VM unreachable).
   */
  readonly reason: "spawn" | "io" | "unavailable"
  readonly message: string
  /** Shell-style exit code the failure maps to (127 not found, 126 not executable, 1 other). */
  readonly code: number
}> {}

/**
 * Where a leaf command runs. `LocalHost` spawns a local process group; a VM host runs the
 * same leaf over SSH. CommandGraph only sees this interface.
 *
 * `run` completes when the leaf exits and both streams are drained. Interrupting it kills the
 * leaf's whole process group (SIGTERM, a grace period, then SIGKILL) and any descendant that
 * escaped the group, before the interruption completes.
 */
export class Host extends Context.Tag("troupe/Host")<Host, {
  readonly run: (spec: LeafSpec) => Effect.Effect<LeafResult, HostError>
  /**
   * Kills what is left of a leaf started by an owner that died (reaping on restart). Only
   * processes whose identity is verified are signalled: the leader when its pid and start time
   * still match, and processes carrying the identity's marker; the group is signalled only when
   * one of its live members is verified. SIGTERM, grace, SIGKILL. Succeeds with the number of
   * processes that were found and signalled (0 = nothing matched, nothing signalled).
   */
  readonly reap: (identity: ProcessIdentity) => Effect.Effect<number>
}>() {}

// ---------------------------------------------------------------------------------------------
// Host v2 (ARCHITECTURE.md "Hosts, leaf processes and run kinds"): start -> LeafProcess.

/**
 * Stdin of a started leaf as the host sees it: closed at once, a pipe written through
 * {@link LeafProcess.stdin}, or a file on the host's machine the leaf reads itself (`< file`).
 */
export type StartStdin =
  | { readonly _tag: "None" }
  | { readonly _tag: "Pipe" }
  | { readonly _tag: "File"; readonly path: string }

/** What {@link HostShape.start} needs: an argv (never a shell string), its cwd, env and stdin. */
export interface StartSpec {
  /** `argv[0]` as {@link HostShape.resolve} returned it; no shell evaluation. */
  readonly argv: ReadonlyArray<string>
  /** Absolute working directory on the host. */
  readonly cwd: string
  /** Extra environment merged over the host's base environment. */
  readonly env?: Readonly<Record<string, string>> | undefined
  readonly stdin: StartStdin
}

/** How a leaf's leader ended: `code` is `128 + n` when ended by signal n (named in `signal`). */
export interface LeafExit {
  readonly code: number
  readonly signal?: string | undefined
}

/**
 * A started leaf (modelled on `@effect/platform` CommandExecutor's `Process`). Valid inside the
 * scope `start` ran in; closing that scope kills the leaf's process group (SIGTERM, grace,
 * SIGKILL) and every descendant that escaped it, on that host, before the close completes.
 */
export interface LeafProcess {
  readonly identity: ProcessIdentity
  /** The leaf's stdout bytes, in order, ending at end-of-file. Consume once. */
  readonly stdout: Stream.Stream<Uint8Array, HostError>
  /** The leaf's stderr bytes, in order, ending at end-of-file. Consume once. */
  readonly stderr: Stream.Stream<Uint8Array, HostError>
  /**
   * Writes to the leaf's stdin when started with `stdin: Pipe`; stdin is closed when the sink's
   * input ends. A leaf that stopped reading (EPIPE) ends the sink quietly.
   */
  readonly stdin: Sink.Sink<void, Uint8Array, never, HostError>
  /**
   * Completes when the leader has exited and whatever the leaf left behind (live group members,
   * marked escapees) has been swept, so both streams reach end-of-file soon after.
   */
  readonly exit: Effect.Effect<LeafExit, HostError>
  /** Sends `signal` (e.g. `"SIGTERM"`) to the leaf's process group. */
  readonly signal: (signal: string) => Effect.Effect<void, HostError>
}

/**
 * The Host v2 service shape: where leaves run. `LocalHost` (process groups on this machine),
 * `BrokerHost` (over an exec-broker connection) and, later, `VmHost` implement it.
 */
export interface HostShape {
  /** The name identities carry (`"local"`, `"broker"`, `"vm:<id>"`). */
  readonly name: string
  /**
   * Starts one leaf in its own process group.
   * @fails HostError `spawn` (127 not found, 126 not executable, 1 other, e.g. missing cwd),
   *   `io` (stdin file unreadable), `unavailable` (the host is gone).
   */
  readonly start: (spec: StartSpec) => Effect.Effect<LeafProcess, HostError, Scope.Scope>
  /**
   * Resolves a command-position word on this host (SPEC-runtime §1.2 step 4): `~` → `home`,
   * relative paths with a `/` against `cwd`, a `.js`/`.mjs`/`.cjs` or `.sh` file without an
   * executable shebang run through Node or bash. Returns the full argv to start.
   */
  readonly resolve: (argv: ReadonlyArray<string>, cwd: string, home: string) => Effect.Effect<ReadonlyArray<string>, HostError>
  /**
   * Kills what is left of a leaf started by an owner that died (verified by identity: leader
   * pid + start time, or marker). Succeeds with the number of processes signalled.
   */
  readonly reap: (identity: ProcessIdentity) => Effect.Effect<number, HostError>
}
