/**
 * Host v2 (ARCHITECTURE.md "Hosts, leaf processes and run kinds"): where a leaf command runs.
 * A host starts one leaf as a scoped {@link LeafProcess} (identity, byte streams, stdin sink,
 * exit, signal), resolves command words on its own machine and reaps a dead owner's leftovers.
 * Capture (tails, spills, log tees, stdin feeding) sits above hosts, in LeafCapture.
 *
 * pi-actors ran every leaf as a local process group; pi-vers ran remote commands with one
 * `ssh` process each. troupe puts both behind this one shape.
 */
import { Context, Data, type Effect, type Scope, type Sink, type Stream } from "effect"

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

/**
 * A leaf could not be started (`reason: "spawn"`, e.g. ENOENT → code 127, EACCES → 126), its
 * streams or stdin failed (`reason: "io"`), its output could not be stored (`reason: "output"`:
 * a log or spill file not writable, e.g. a full disk), or its host is not there
 * (`reason: "unavailable"`).
 * `message` is one sentence a person can act on.
 */
export class HostError extends Data.TaggedError("HostError")<{
  /**
   * `spawn`: the command could not start. `io`: a stream or stdin file failed. `output`: a log
   * or spill file could not be written. `unavailable`: the host itself is unknown or gone (no
   * such `on`, broker connection lost, VM unreachable).
   */
  readonly reason: "spawn" | "io" | "output" | "unavailable"
  readonly message: string
  /** Shell-style exit code the failure maps to (127 not found, 126 not executable, 1 other). */
  readonly code: number
}> {}

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
  /**
   * Optional: makes the folder `dir` (an absolute path on this machine, a recipe's
   * `{recipe_dir}`) present at the same path on this host, so argv naming files in it runs
   * unchanged. Only hosts on another machine have it (`VmHost`: an SFTP copy that skips files
   * already there with the same size and SHA-256); CommandGraph calls it once per folder and
   * host per execution, before the first leaf that can see the folder runs there.
   * @fails HostError `spawn` (code 1) with one sentence (folder too big, a file unreadable or
   *   gone mid-way, an SFTP failure).
   */
  readonly stage?: ((dir: string) => Effect.Effect<void, HostError>) | undefined
}

/**
 * The single host a layer provides (`LocalHost.layer`, a test's fake host, `BrokerHost`).
 * `Hosts.layer` serves it as `local`; nothing else reads this tag directly.
 */
export class Host extends Context.Tag("troupe/Host")<Host, HostShape>() {}
