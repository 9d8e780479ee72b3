/**
 * Runs (actors): ids, states, records, progress, lifecycle and session events, and the one error
 * every `Actors` operation fails with. These shapes cross the store, the RPC socket and the CLI's
 * `--json` output, so they are Schema classes.
 *
 * Corresponds to pi-actors' detached runs (`run:<id>`, `status.json`, `events.jsonl`), with a
 * generation id per start and a restart policy added.
 */
import { Schema } from "effect"
import { deeperThan, maxTemplateDepth, maxValuesDepth } from "./JsonDepth.js"
import { HostOn } from "./Template.js"
import { Isolation } from "./Worktree.js"

/**
 * Run ids as addresses carry them: `^[A-Za-z0-9_.-]+$`, at most 128 characters, never `.` or
 * `..` (they name a directory). A new run's id is stricter: see {@link newRunIdPattern}.
 */
export const RunId = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9_.-]+$/, {
    message: () => "run id must match ^[A-Za-z0-9_.-]+$"
  }),
  Schema.maxLength(128, { message: () => "run id must be at most 128 characters" }),
  Schema.filter((s) => s !== "." && s !== ".." ? undefined : "run id must not be . or .."),
  Schema.brand("RunId")
)
export type RunId = typeof RunId.Type

/**
 * What `spawn` accepts for a new run's id (`--as`): a {@link RunId} that does not start with `-`
 * (a command line would read it as an option) or `.`. Older runs keep their ids.
 */
export const newRunIdPattern = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/

/** A session id: `cli`, a Pi session id, or any explicit name without whitespace. */
export const SessionId = Schema.String.pipe(
  Schema.pattern(/^\S+$/, { message: () => "session id must be non-empty and without whitespace" }),
  Schema.maxLength(256, { message: () => "session id must be at most 256 characters" })
)

/** `starting → running → done | failed | cancelled | killed | lost` (SPEC-runtime §3). */
export const RunState = Schema.Literal("starting", "running", "done", "failed", "cancelled", "killed", "lost")
export type RunState = typeof RunState.Type

export const activeStates: ReadonlyArray<RunState> = ["starting", "running"]
export const terminalStates: ReadonlyArray<RunState> = ["done", "failed", "cancelled", "killed", "lost"]
export const isTerminal = (state: RunState): boolean => terminalStates.includes(state)

/** Status filters of `ps` / `inspect coordinator` (`active` = starting or running). */
export const StatusFilter = Schema.Literal("all", "running", "active", "terminal", ...terminalStates)
export type StatusFilter = typeof StatusFilter.Type

export const matchesFilter = (state: RunState, filter: StatusFilter): boolean => {
  switch (filter) {
    case "all":
      return true
    case "active":
      return !isTerminal(state)
    case "running":
      return state === "running"
    case "terminal":
      return isTerminal(state)
    default:
      return state === filter
  }
}

/**
 * OTP-style restart policy. `restart`: `never` (default, pi-actors behaviour), `on-failure`
 * (restart after `failed`), `always` (after `done` or `failed`; never after an intentional
 * kill/cancel). At most `max_restarts` restarts within `restart_window_ms`; past that the run
 * stays failed. Backoff before restart n (1-based): `backoff_ms * 2^(n-1)`, capped at 30,000 ms.
 */
export class RestartPolicy extends Schema.Class<RestartPolicy>("RestartPolicy")({
  restart: Schema.optionalWith(Schema.Literal("never", "on-failure", "always"), { default: () => "never" as const }),
  max_restarts: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 1000)), { default: () => 3 }),
  restart_window_ms: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 60_000 }),
  backoff_ms: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 60_000)), { default: () => 200 })
}) {}

/** Upper bound of the restart backoff: 30 s. */
export const maxBackoffMs = 30_000

/** Progress of a run (drives the Pi status indicator): active = leaves running now. */
export class Progress extends Schema.Class<Progress>("Progress")({
  phase: Schema.String,
  active: Schema.Int,
  completed: Schema.Int,
  failures: Schema.Array(Schema.String)
}) {}

/**
 * The persisted identity of a started leaf process, tagged by the host it ran on (the
 * `ProcessIdentity` of src/services/Host.ts as stored): `host` as `Hosts` names it (`"local"`,
 * `"broker"`, `"vm:<id>"`), leader `pid` and `pgid`, `startTime` in clock ticks since boot, the
 * `marker` its descendants inherit. Fields a host adds are kept. pi-actors persisted
 * `{pid, pgid, start_time}` of local processes only; pi-vers kept none.
 */
export const LeafIdentity = Schema.Struct(
  {
    host: Schema.String,
    pid: Schema.Int,
    pgid: Schema.Int,
    startTime: Schema.Number,
    marker: Schema.optional(Schema.String)
  },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
)
export type LeafIdentity = typeof LeafIdentity.Type

/**
 * A process group a run started (persisted for reaping by identity). `host` is where it ran;
 * `identity` is the host's whole identity of it, what reaping hands back to that host.
 */
export class ProcessRecord extends Schema.Class<ProcessRecord>("ProcessRecord")({
  path: Schema.String,
  host: Schema.String,
  pid: Schema.Int,
  pgid: Schema.Int,
  start_time: Schema.Number,
  marker: Schema.optional(Schema.String),
  argv: Schema.Array(Schema.String),
  identity: LeafIdentity
}) {}

/**
 * One run as the store and `inspect` see it. Times are epoch ms. `code` is the exit code once
 * terminal (the failing step's code, 124 on timeout, 137/143 after kills). `recipe` is the
 * recipe id or `inline`; `snapshot` the resolved template and declarations it ran with.
 */
export class RunInfo extends Schema.Class<RunInfo>("RunInfo")({
  id: Schema.String,
  address: Schema.String,
  generation: Schema.String,
  owner: Schema.String,
  parent: Schema.optional(Schema.String),
  recipe: Schema.String,
  state: RunState,
  code: Schema.NullOr(Schema.Int),
  error: Schema.optional(Schema.String),
  cwd: Schema.String,
  state_dir: Schema.String,
  values: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  restart: RestartPolicy,
  restarts: Schema.Int,
  progress: Progress,
  processes: Schema.Array(ProcessRecord),
  created_at: Schema.Number,
  updated_at: Schema.Number,
  ended_at: Schema.NullOr(Schema.Number)
}) {}

/** What `wait` returns: the terminal run plus the tail of its output (UTF-8, at most 64 KiB each). */
export class RunOutcome extends Schema.Class<RunOutcome>("RunOutcome")({
  run: RunInfo,
  stdout: Schema.String,
  stderr_tail: Schema.String,
  timed_out: Schema.Boolean
}) {}

/** A lifecycle event of one run (`inspect run:<id> view=tail`, `events`). */
export class RunEvent extends Schema.Class<RunEvent>("RunEvent")({
  seq: Schema.Int,
  run_id: Schema.String,
  generation: Schema.String,
  type: Schema.String,
  at: Schema.Number,
  data: Schema.Record({ key: Schema.String, value: Schema.Unknown })
}) {}

/**
 * An event on a session's ordered stream (SPEC-messaging §7). `id` is the cursor: replay with
 * `since = id` returns the events after it. Delivery is at least once; consumers dedupe by id.
 * `text` is the short, action-shaped follow-up text.
 */
export class SessionEvent extends Schema.Class<SessionEvent>("SessionEvent")({
  id: Schema.Int,
  session: Schema.String,
  run_id: Schema.String,
  generation: Schema.String,
  type: Schema.String,
  at: Schema.Number,
  text: Schema.String,
  data: Schema.Record({ key: Schema.String, value: Schema.Unknown })
}) {}

/** Result of a control action (`control.kill` / `control.stop` / `control.cancel`). */
export class ControlResult extends Schema.Class<ControlResult>("ControlResult")({
  run: Schema.String,
  type: Schema.String,
  /** false when the run was already terminal or the generation did not match (fenced). */
  applied: Schema.Boolean,
  state: RunState,
  reason: Schema.optional(Schema.String)
}) {}

/**
 * The error of every `Actors` operation, local or over RPC.
 * - `invalid`: bad request (template, values, id, recipe) — nothing was started;
 * - `duplicate`: the run id is already active — nothing was touched;
 * - `not_found`: no such run (or not visible to this session);
 * - `forbidden`: the caller may not act on that run or session (fail closed);
 * - `unavailable`: the daemon could not be reached or started;
 * - `persistence`: the store (SQLite at `TROUPE_HOME/troupe.db`) failed — a
 *   {@link PersistenceError} as the public API reports it (disk full, file damaged);
 * - `internal`: any other runtime or host failure.
 */
export class ActorsError extends Schema.TaggedError<ActorsError>()("ActorsError", {
  reason: Schema.Literal("invalid", "duplicate", "not_found", "forbidden", "unavailable", "persistence", "internal"),
  message: Schema.String
}) {}

/**
 * Who is asking. `session` is the exact owner the caller acts as; `all` lets the operator act
 * across sessions; `run` is set when the caller is an actor process authenticated by its run
 * token (it then acts with its run's owner session, and its spawns record it as parent).
 */
export interface Caller {
  readonly session: string
  readonly all: boolean
  readonly run?: string | undefined
}

/** A spawn request (SPEC-runtime §3). Exactly one of `recipe` / `template`. */
export class SpawnRequest extends Schema.Class<SpawnRequest>("SpawnRequest")({
  /** Recipe id (packaged or user) or an absolute path to a recipe file. */
  recipe: Schema.optional(Schema.String),
  /** Inline command template (string, array or node object). */
  template: Schema.optional(Schema.Unknown),
  values: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.Unknown }), { default: () => ({}) }),
  /** Requested id: `run:<id>` or `<id>`; generated when absent. */
  as: Schema.optional(Schema.String),
  /** Absolute working directory of every leaf (default: the owner's current directory). */
  cwd: Schema.optional(Schema.String),
  /**
   * Where leaves without their own `on` run (default `local`): `vm:<id>`, `{commit}`, `{golden}`
   * (Template `HostOn`); `troupe spawn --on`.
   */
  on: Schema.optional(HostOn),
  restart: Schema.optional(Schema.encodedSchema(RestartPolicy)),
  /**
   * What the run executes: `template` (the default: the recipe's or the inline template as a
   * CommandGraph plan) or `agent` (a Pi session in RPC mode, docs/agents.md "Agent runs":
   * needs neither recipe nor template; `task`, `model`, `pi` below) or `group` (executes
   * nothing and runs until killed: the anchor of a swarm, docs/swarms.md).
   */
  kind: Schema.optional(Schema.Literal("template", "agent", "group")),
  /** `agent` runs: the first prompt, sent once Pi is up (absent: the agent waits for `task.prompt`). */
  task: Schema.optional(Schema.String),
  /** `agent` runs: `provider/modelId`, set with `set_model` before the task; a rejection fails the run with Pi's sentence. */
  model: Schema.optional(Schema.String),
  /** `agent` runs: Pi's executable (default: the daemon's `PI_PATH`, else `pi` on PATH). */
  pi: Schema.optional(Schema.String),
  /**
   * Size limit of each of the run's log files (`stdout.log`, `stderr.log`) in bytes; default
   * 64 MiB. At the limit the log gets one notice line, later output is not kept in it, and a
   * `log.truncated` event is recorded and sent to the owner.
   */
  max_log_bytes: Schema.optional(Schema.Number),
  /**
   * The spawning client's environment (`domain/Environment.ts`): the run's leaves get it,
   * minus the deny-list, with troupe's own `TROUPE_*` variables set over it. Absent: only
   * what the runtime's base environment gives (the daemon's minimal one, or an embedding
   * program's own). Never stored.
   */
  env: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  /**
   * `worktree`: the run executes in its own git worktree on the new branch `troupe/<run>`
   * (from HEAD of the repository holding `cwd`); `worktree-clean` also refuses a base with
   * uncommitted changes (`domain/Worktree.ts`). Default: the recipe's `isolation`, else none.
   */
  isolation: Schema.optional(Isolation)
}) {}

/** What `spawn` takes; see {@link SpawnRequest}. */
export interface SpawnInput {
  /** Recipe id or absolute path of a recipe file. */
  readonly recipe?: string | undefined
  /** Inline template: a leaf command string, an array (sequence) or a node object. */
  readonly template?: unknown
  readonly values?: Readonly<Record<string, unknown>> | undefined
  /** `run:<id>` or `<id>`; generated when absent. */
  readonly as?: string | undefined
  /** Absolute working directory (default: this process's current directory). */
  readonly cwd?: string | undefined
  /** Where leaves without their own `on` run: `"vm:<id>"`, `{ commit }`, `{ golden: true }` (default local). */
  readonly on?: HostOn | undefined
  /** `{ restart: "never" | "on-failure" | "always", max_restarts, restart_window_ms, backoff_ms }`. */
  readonly restart?: {
    readonly restart?: "never" | "on-failure" | "always" | undefined
    readonly max_restarts?: number | undefined
    readonly restart_window_ms?: number | undefined
    readonly backoff_ms?: number | undefined
  } | undefined
  /** Size limit of each log file of the run, bytes (default 64 MiB). */
  readonly max_log_bytes?: number | undefined
  /** `"worktree"` / `"worktree-clean"`: run in an own git worktree on branch `troupe/<run>`. */
  readonly isolation?: Isolation | undefined
  /** `"agent"`: a Pi session in RPC mode instead of a template (docs/agents.md "Agent runs"). */
  readonly kind?: "template" | "agent" | "group" | undefined
  /** Agent runs: the first prompt. */
  readonly task?: string | undefined
  /** Agent runs: `provider/modelId`. */
  readonly model?: string | undefined
  /** Agent runs: Pi's executable. */
  readonly pi?: string | undefined
}

/** Why `values` cannot be sent or used, in one sentence, or undefined when they can. */
export const valuesProblem = (values: unknown): string | undefined =>
  deeperThan(values, maxValuesDepth) ? `values are nested deeper than ${maxValuesDepth} levels` : undefined

/** Why a spawn request cannot be sent (values or inline template too deep to serialise), or undefined. */
export const spawnInputProblem = (input: SpawnInput): string | undefined =>
  valuesProblem(input.values) ??
    (deeperThan(input.template, maxTemplateDepth) ? `Command template is nested deeper than ${maxTemplateDepth} levels` : undefined)

/** The request `spawn` sends: defaults filled in (`values` {}, `cwd` this process's directory). */
export const spawnRequestOf = (input: SpawnInput): SpawnRequest =>
  SpawnRequest.make({
    recipe: input.recipe,
    template: input.template,
    values: { ...input.values },
    as: input.as,
    cwd: input.cwd ?? process.cwd(),
    on: input.on,
    restart: input.restart,
    max_log_bytes: input.max_log_bytes,
    isolation: input.isolation,
    kind: input.kind,
    task: input.task,
    model: input.model,
    pi: input.pi
  })

/** Control message types handled by the supervisor. */
export const ControlType = Schema.Literal("control.kill", "control.stop", "control.cancel")
export type ControlType = typeof ControlType.Type

/** `run:<id>` or `<id>` → `<id>`. */
export const runIdOf = (ref: string): string => (ref.startsWith("run:") ? ref.slice(4) : ref)

/**
 * One tick of the daemon's change feed (RPC `Watch`, `troupe top`): something a live view
 * shows changed — `changes` run writes and room posts in the last window (250 ms).
 */
export class WatchTick extends Schema.Class<WatchTick>("WatchTick")({
  changes: Schema.Int
}) {}
