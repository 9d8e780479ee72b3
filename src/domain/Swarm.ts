/**
 * Swarms and lieutenants as data (docs/swarms.md; SPEC-vers §5 "Swarm", "Lieutenant"): what
 * `troupe swarm …` / `troupe lt …` and the Pi `vers_swarm_*` / `vers_lt_*` tools return, the
 * metadata a worker or lieutenant run carries in its spawn `values` (so a daemon restart loses
 * none of it: pi-vers lost a lieutenant's role on restart), and the one error they fail with.
 *
 * A swarm `<s>` is a `group` run `run:<s>` (its room `room:<s>`, owner of the workers' VMs)
 * plus one `agent` run per worker, `run:<s>-<label>`. A lieutenant `<n>` is the `agent` run
 * `run:lt-<n>`.
 */
import { Schema } from "effect"
import { AgentStatus } from "./AgentStatus.js"

/** Where a worker or lieutenant runs: `local` (a git worktree each, when in a repository) or `vm` (its own VM restored from a commit). */
export const Placement = Schema.Literal("local", "vm")
export type Placement = typeof Placement.Type

/**
 * A worker's or lieutenant's state as the swarm sees it: `starting` (Pi not ready yet),
 * `idle` (no task in flight), `working` (a task in flight), `paused` (lieutenant paused),
 * `failed` (its run failed or was lost: `error` says why), `stopped` (killed or cancelled).
 */
export const WorkerState = Schema.Literal("starting", "idle", "working", "paused", "failed", "stopped")
export type WorkerState = typeof WorkerState.Type

/** The `values` key of a swarm worker run (its {@link WorkerMeta}). */
export const workerKey = "troupe_swarm_worker"
/** The `values` key of a swarm's group run (its {@link SwarmMeta}). */
export const swarmKey = "troupe_swarm"
/** The `values` key of a lieutenant run (its {@link LieutenantMeta}). */
export const lieutenantKey = "troupe_lieutenant"

/** What a swarm's group run records: how its workers were placed. */
export const SwarmMeta = Schema.Struct({
  placement: Placement,
  commit_id: Schema.NullOr(Schema.String),
  model: Schema.NullOr(Schema.String)
})
export type SwarmMeta = typeof SwarmMeta.Type

/** What a worker run records: its swarm, label and VM. */
export const WorkerMeta = Schema.Struct({
  swarm: Schema.String,
  label: Schema.String,
  vm_id: Schema.NullOr(Schema.String)
})
export type WorkerMeta = typeof WorkerMeta.Type

/** What a lieutenant run records (its settings, re-used when it is re-attached). */
export const LieutenantMeta = Schema.Struct({
  name: Schema.String,
  role: Schema.String,
  system_prompt: Schema.NullOr(Schema.String),
  model: Schema.NullOr(Schema.String),
  placement: Placement,
  vm_id: Schema.NullOr(Schema.String)
})
export type LieutenantMeta = typeof LieutenantMeta.Type

/** One worker of a swarm. `run` is the worker's agent run id; `events`: Pi events in its tail. */
export class SwarmWorker extends Schema.Class<SwarmWorker>("SwarmWorker")({
  label: Schema.String,
  run: Schema.String,
  address: Schema.String,
  vm_id: Schema.NullOr(Schema.String),
  state: WorkerState,
  /** Settled tasks. */
  turns: Schema.Number,
  tool_calls: Schema.Number,
  events: Schema.Number,
  last_output: Schema.NullOr(Schema.String),
  error: Schema.optional(Schema.String)
}) {}

/** A swarm: its group run, placement and workers (label order). */
export class SwarmInfo extends Schema.Class<SwarmInfo>("SwarmInfo")({
  swarm: Schema.String,
  room: Schema.String,
  placement: Placement,
  commit_id: Schema.NullOr(Schema.String),
  model: Schema.NullOr(Schema.String),
  workers: Schema.Array(SwarmWorker),
  /** Workers a `spawn` could not start (their VM deleted, their run stopped), with why. */
  failures: Schema.optionalWith(Schema.Array(Schema.Struct({ label: Schema.String, error: Schema.String })), { default: () => [] })
}) {}

/**
 * What `wait` returns: `waited` = the workers that had a task in flight when it started;
 * `timed_out` when one of them was still working at the deadline; `workers` = every worker
 * now; `elapsed_ms` of the wait.
 */
export class SwarmWaitResult extends Schema.Class<SwarmWaitResult>("SwarmWaitResult")({
  swarm: Schema.String,
  timed_out: Schema.Boolean,
  elapsed_ms: Schema.Number,
  waited: Schema.Array(Schema.String),
  workers: Schema.Array(SwarmWorker)
}) {}

/** What `teardown` did: the runs stopped and the VMs deleted. */
export class SwarmTeardown extends Schema.Class<SwarmTeardown>("SwarmTeardown")({
  swarm: Schema.String,
  stopped: Schema.Array(Schema.String),
  vms_deleted: Schema.Array(Schema.String)
}) {}

/** A lieutenant. `tasks`: settled tasks of its current session. */
export class LieutenantInfo extends Schema.Class<LieutenantInfo>("LieutenantInfo")({
  name: Schema.String,
  run: Schema.String,
  role: Schema.String,
  model: Schema.NullOr(Schema.String),
  placement: Placement,
  vm_id: Schema.NullOr(Schema.String),
  state: WorkerState,
  tasks: Schema.Number,
  last_output: Schema.NullOr(Schema.String),
  error: Schema.optional(Schema.String)
}) {}

/** `read`: the last output and up to 20 earlier results (oldest first). */
export class LieutenantRead extends Schema.Class<LieutenantRead>("LieutenantRead")({
  name: Schema.String,
  state: WorkerState,
  last_output: Schema.NullOr(Schema.String),
  history: Schema.Array(Schema.String)
}) {}

/** How a message reaches a lieutenant: a new task, a steer of the current one, or a follow-up after it. */
export const SendMode = Schema.Literal("prompt", "steer", "followUp")
export type SendMode = typeof SendMode.Type

/** What `send` did: the mode used (`auto`: a prompt became a follow-up because it was busy). */
export class LieutenantSent extends Schema.Class<LieutenantSent>("LieutenantSent")({
  name: Schema.String,
  mode: SendMode,
  auto: Schema.Boolean
}) {}

/**
 * The error of every swarm and lieutenant operation, with one sentence as `message`:
 * - `invalid`: a bad name, label, count or option (nothing was started);
 * - `not_found`: no such swarm, worker or lieutenant (in this session);
 * - `budget`: the VM budget would be exceeded (nothing was started);
 * - `failed`: a step failed (a VM, a spawn, a worker that never got ready);
 * - `unavailable`: VM placement without Vers (no VM client) or the daemon is unreachable.
 */
export class SwarmError extends Schema.TaggedError<SwarmError>()("SwarmError", {
  reason: Schema.Literal("invalid", "not_found", "budget", "failed", "unavailable"),
  message: Schema.String
}) {}

/** The agent fields `inspect run:<id> status` returns (the run's own and `agent`). */
export const AgentRunStatus = Schema.Struct({
  id: Schema.String,
  state: Schema.String,
  error: Schema.optional(Schema.String),
  values: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  agent: Schema.optionalWith(Schema.NullOr(AgentStatus), { default: () => null })
})
export type AgentRunStatus = typeof AgentRunStatus.Type

/** `[a-z0-9][a-z0-9_.-]*`, at most 40 characters: a swarm, worker label or lieutenant name (run ids are built from them). */
export const namePattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$/
