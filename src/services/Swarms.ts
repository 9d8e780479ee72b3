/**
 * `Swarms` (SPEC-vers §5 "Swarm", docs/swarms.md; pi-vers `vers_swarm_*`): N Pi workers driven
 * as one group. A swarm `<s>` is a `group` run `run:<s>` (its room `room:<s>` carries the
 * workers' posts; it owns the workers' VMs, so killing it deletes them) plus one `agent` run per
 * worker, `run:<s>-<label>`, whose spawn `values` record its swarm, label and VM — so status,
 * task, wait and discover find the workers again in a later process or after a daemon restart.
 *
 * Placement is only the worker's `on`: `local` (the default: each worker in its own git worktree
 * of `cwd`, unless `worktree: false`) or `vm` (each worker on its own VM restored from a commit,
 * the golden image by default, through the daemon's VM service: ledger rows, owner labels).
 * Spawning runs the workers with bounded concurrency; each worker is its own scope (VM → agent
 * run → ready), so a failure or an interruption at any step deletes only that worker's VM and
 * stops only its run; an interrupted spawn also stops a group run it created. A worker is ready
 * once Pi answered a decoded `get_state` (and `set_model` when a model was asked).
 *
 * Built over `Actors` (and the VM client), so it works in-process and through the daemon alike.
 */
import { Clock, Context, Effect, Exit, Layer, Option, Schema } from "effect"
import type { RunInfo } from "../domain/Run.js"
import {
  namePattern,
  type Placement,
  SwarmError,
  SwarmInfo,
  swarmKey,
  SwarmMeta,
  SwarmTeardown,
  SwarmWaitResult,
  SwarmWorker,
  workerKey,
  WorkerMeta
} from "../domain/Swarm.js"
import type { ActorsShape } from "./Actors.js"
import { awaitReady, fromActors, fromVms, inFlight, isTerminal, lastTaskAt, probeInterval, readStatus, type SwarmVms, workerState } from "./swarms/AgentProbe.js"

export type { SwarmVms } from "./swarms/AgentProbe.js"

/** A spawn step, as `onProgress` reports it (and where an interruption may land). */
export type SwarmStep = "vm" | "spawn" | "ready"

/** `spawn`'s request (pi-vers `vers_swarm_spawn`: `count`, `labels`, `commitId`, `model`; no secrets). */
export interface SwarmSpawnRequest {
  readonly swarm: string
  /** Workers to start (default: the number of `labels`, else 1). */
  readonly count?: number | undefined
  /** Worker labels (default `agent-1` … `agent-N`). */
  readonly labels?: ReadonlyArray<string> | undefined
  /** Default: `vm` when the service has a VM client and a commit to restore, else `local`. */
  readonly placement?: Placement | undefined
  /** VM placement: the commit to restore (default: the golden commit). */
  readonly commitId?: string | undefined
  /** `provider/modelId`, set on each worker (a rejection fails that worker). */
  readonly model?: string | undefined
  /** Pi's executable (default: the runtime's). */
  readonly pi?: string | undefined
  /** Local placement: the repository the worktrees branch from (default: this directory). */
  readonly cwd?: string | undefined
  /** Local placement: one git worktree per worker (default true). */
  readonly worktree?: boolean | undefined
  /** Called as each worker enters a step. */
  readonly onProgress?: ((label: string, step: SwarmStep) => Effect.Effect<void>) | undefined
}

export interface SwarmsShape {
  /**
   * Starts the workers (joining an existing swarm of that name) and returns the swarm once each
   * is ready or has failed (a failed worker is in `failures`, its VM deleted).
   * @fails SwarmError `invalid` (name, labels, count, placement), `budget`, `unavailable` (VM placement without Vers).
   */
  readonly spawn: (request: SwarmSpawnRequest) => Effect.Effect<SwarmInfo, SwarmError>
  /** Sends `task` as `task.prompt` to one worker (pi-vers `vers_swarm_task`). @fails SwarmError `not_found`, `failed` (worker ended). */
  readonly task: (swarm: string, label: string, task: string) => Effect.Effect<SwarmWorker, SwarmError>
  /**
   * Waits until every worker (of `labels`, default all) that has a task in flight has settled,
   * or `timeoutMs` (default 300 000) passed (`timed_out: true`). Idle workers are never waited
   * on. Each settled result (of any idle worker, once per task) is posted to `room:<swarm>` as
   * `task.result` from `branch:<swarm>/<label>`.
   * @fails SwarmError `not_found`.
   */
  readonly wait: (swarm: string, options?: { readonly labels?: ReadonlyArray<string> | undefined; readonly timeoutMs?: number | undefined }) => Effect.Effect<SwarmWaitResult, SwarmError>
  /** Every worker's state from its event fold; a failed worker's VM is deleted. @fails SwarmError `not_found`. */
  readonly status: (swarm: string) => Effect.Effect<SwarmInfo, SwarmError>
  /** One worker (its last output; `tail`: its last characters). @fails SwarmError `not_found`. */
  readonly read: (swarm: string, label: string, options?: { readonly tail?: number | undefined }) => Effect.Effect<SwarmWorker, SwarmError>
  /**
   * Kills the workers and the group run, deletes their VMs and prunes the runs (worktrees
   * removed, branches kept). @fails SwarmError `not_found`.
   */
  readonly teardown: (swarm: string) => Effect.Effect<SwarmTeardown, SwarmError>
  /**
   * The swarms of this session with their workers, read back from the store (after a client or
   * daemon restart). Workers whose run ended (a daemon restart stops local Pi processes) show
   * `failed`/`stopped`; spawn again to replace them.
   */
  readonly discover: () => Effect.Effect<ReadonlyArray<SwarmInfo>, SwarmError>
}

/** How the service provisions. */
export interface SwarmsOptions {
  /** The VM client (the daemon's); absent: VM placement fails `unavailable`. */
  readonly vms?: SwarmVms | undefined
  /** The commit VM workers restore by default (`VERS_GOLDEN_COMMIT_ID`). */
  readonly goldenCommitId?: string | undefined
  /** Workers provisioned at once (default 4). */
  readonly concurrency?: number | undefined
  /** Most live worker VMs across this session's swarms (default 16). */
  readonly vmBudget?: number | undefined
  /** How long a worker may take to become ready, ms (default 120 000). */
  readonly readyTimeoutMs?: number | undefined
}

const invalid = (message: string) => new SwarmError({ reason: "invalid", message })
const decodeWorker = Schema.decodeUnknownOption(WorkerMeta)
const decodeSwarm = Schema.decodeUnknownOption(SwarmMeta)

/** A worker's run id. */
export const workerRun = (swarm: string, label: string) => `${swarm}-${label}`

const checkName = (what: string, name: string) =>
  namePattern.test(name) ? Effect.void : Effect.fail(invalid(`${what} ${JSON.stringify(name)} must be 1-40 letters, digits, _ . - (starting with a letter or digit)`))

/** Builds the service over a session-bound `Actors`. */
export const make = (actors: ActorsShape, options: SwarmsOptions = {}): SwarmsShape => {
  const concurrency = Math.max(1, options.concurrency ?? 4)
  const vmBudget = options.vmBudget ?? 16
  const readyTimeoutMs = options.readyTimeoutMs ?? 120_000

  const runs = actors.list({ status: "all" }).pipe(Effect.mapError(fromActors))
  const workersOf = (all: ReadonlyArray<RunInfo>, swarm: string) =>
    all.flatMap((r) => Option.match(decodeWorker(r.values[workerKey]), { onNone: () => [], onSome: (m) => (m.swarm === swarm ? [{ run: r, meta: m }] : []) }))
      .sort((a, b) => a.meta.label.localeCompare(b.meta.label, "en", { numeric: true }))

  const deleteVm = (vmId: string) => (options.vms === undefined ? Effect.void : Effect.ignore(options.vms.delete(vmId)))

  /** One worker as the swarm shows it; a failed worker's VM is deleted (only its own). */
  const workerOf = (run: RunInfo, meta: WorkerMeta, tail?: number) =>
    Effect.gen(function* () {
      const status = yield* readStatus(actors, run.id)
      const taskAt = yield* lastTaskAt(actors, run.id)
      const s = Option.getOrUndefined(status)
      const state = s === undefined ? (isTerminal(run.state) ? "failed" : "starting") : workerState(s, inFlight(s, taskAt))
      if ((state === "failed" || state === "stopped") && meta.vm_id !== null) yield* deleteVm(meta.vm_id)
      const out = s?.agent?.last_output ?? null
      const error = s?.error ?? s?.agent?.error ?? run.error
      return new SwarmWorker({
        label: meta.label,
        run: run.id,
        address: `run:${run.id}`,
        vm_id: meta.vm_id,
        state,
        turns: s?.agent?.turns ?? 0,
        tool_calls: s?.agent?.tool_calls ?? 0,
        events: s?.agent?.events.length ?? 0,
        last_output: out === null || tail === undefined || out.length <= tail ? out : out.slice(-tail),
        ...(state === "failed" && error !== undefined ? { error } : {})
      })
    })

  const infoOf = (group: RunInfo | undefined, swarm: string, all: ReadonlyArray<RunInfo>) =>
    Effect.gen(function* () {
      const meta = Option.getOrElse(decodeSwarm(group?.values[swarmKey]), (): SwarmMeta => ({ placement: "local", commit_id: null, model: null }))
      const workers = yield* Effect.forEach(workersOf(all, swarm), (w) => workerOf(w.run, w.meta), { concurrency: 8 })
      return new SwarmInfo({ swarm, room: `room:${swarm}`, placement: meta.placement, commit_id: meta.commit_id, model: meta.model, workers })
    })

  const find = (swarm: string) =>
    Effect.gen(function* () {
      const all = yield* runs
      const group = all.find((r) => r.id === swarm && Option.isSome(decodeSwarm(r.values[swarmKey])))
      const workers = workersOf(all, swarm)
      if (group === undefined && workers.length === 0) return yield* new SwarmError({ reason: "not_found", message: `no swarm ${swarm} in this session (see: troupe swarm discover)` })
      return { all, group, workers }
    })

  const findWorker = (swarm: string, label: string) =>
    Effect.flatMap(find(swarm), ({ workers }) => {
      const w = workers.find((x) => x.meta.label === label)
      return w === undefined
        ? Effect.fail(new SwarmError({ reason: "not_found", message: `swarm ${swarm} has no worker ${label} (workers: ${workers.map((x) => x.meta.label).join(", ") || "none"})` }))
        : Effect.succeed(w)
    })

  const spawn: SwarmsShape["spawn"] = Effect.fn("Swarms.spawn")(function* (request) {
    const { swarm } = request
    yield* checkName("swarm", swarm)
    const labels = request.labels ?? Array.from({ length: request.count ?? 1 }, (_, i) => `agent-${i + 1}`)
    const count = request.count ?? labels.length
    if (!Number.isInteger(count) || count < 1 || count > 64) return yield* invalid(`count must be a whole number from 1 to 64, not ${count}`)
    if (labels.length !== count) return yield* invalid(`${labels.length} labels for ${count} workers: give one label per worker`)
    for (const label of labels) yield* checkName("label", label)
    if (new Set(labels).size !== labels.length) return yield* invalid("labels must be distinct")
    const commit = request.commitId ?? options.goldenCommitId
    const placement = request.placement ?? (options.vms !== undefined && commit !== undefined ? "vm" : "local")
    const vms = options.vms
    if (placement === "vm" && vms === undefined) return yield* new SwarmError({ reason: "unavailable", message: "VM placement needs the troupe daemon and a Vers account (VERS_API_KEY); use placement local" })
    if (placement === "vm" && commit === undefined) return yield* invalid("VM placement needs a commit to restore: pass commitId or set VERS_GOLDEN_COMMIT_ID (troupe vm golden)")

    const all = yield* runs
    const existing = workersOf(all, swarm)
    const taken = labels.filter((l) => existing.some((w) => w.meta.label === l && !isTerminal(w.run.state)))
    if (taken.length > 0) return yield* invalid(`swarm ${swarm} already has running workers ${taken.join(", ")}: choose other labels or tear it down`)
    if (placement === "vm") {
      const live = all.filter((r) => !isTerminal(r.state) && Option.exists(decodeWorker(r.values[workerKey]), (m) => m.vm_id !== null)).length
      if (live + count > vmBudget) {
        return yield* new SwarmError({ reason: "budget", message: `${count} more worker VMs would make ${live + count}, over the VM budget of ${vmBudget}: tear down a swarm or spawn fewer` })
      }
    }

    const meta: SwarmMeta = { placement, commit_id: placement === "vm" ? commit! : null, model: request.model ?? null }
    const group = all.find((r) => r.id === swarm)
    const groupActive = group !== undefined && !isTerminal(group.state)
    if (groupActive && Option.isNone(decodeSwarm(group.values[swarmKey]))) return yield* invalid(`run:${swarm} exists and is not a swarm: choose another name`)
    const progress = (label: string, step: SwarmStep) => request.onProgress?.(label, step) ?? Effect.void

    /** One worker in its own scope: VM (deleted on failure) → agent run (killed on failure) → ready. */
    const startWorker = (label: string) =>
      Effect.scoped(
        Effect.gen(function* () {
          const run = workerRun(swarm, label)
          let vmId: string | null = null
          if (placement === "vm") {
            yield* progress(label, "vm")
            const vm = yield* Effect.acquireRelease(
              vms!.create({ how: { _tag: "restore", commit_id: commit! }, run: swarm }).pipe(Effect.mapError(fromVms(`worker ${label}: restoring commit ${commit}`))),
              (record, exit) => (Exit.isFailure(exit) ? deleteVm(record.vm_id) : Effect.void)
            )
            vmId = vm.vm_id
          }
          yield* progress(label, "spawn")
          const worker: WorkerMeta = { swarm, label, vm_id: vmId }
          yield* Effect.acquireRelease(
            actors.spawn({
              kind: "agent",
              as: run,
              cwd: request.cwd,
              model: request.model,
              pi: request.pi,
              on: vmId === null ? undefined : `vm:${vmId}`,
              isolation: placement === "local" && request.worktree !== false ? "worktree" : undefined,
              values: { [workerKey]: worker }
            }).pipe(Effect.mapError(fromActors)),
            (_, exit) => (Exit.isFailure(exit) ? Effect.ignore(actors.kill(run)) : Effect.void)
          )
          yield* progress(label, "ready")
          yield* awaitReady(actors, run, readyTimeoutMs)
        })
      ).pipe(Effect.either)

    return yield* Effect.uninterruptibleMask((restore) =>
      Effect.gen(function* () {
        const created = groupActive
          ? false
          : yield* actors.spawn({ kind: "group", as: swarm, cwd: request.cwd, values: { [swarmKey]: meta } }).pipe(Effect.mapError(fromActors), Effect.as(true))
        // An interrupted spawn stops a group run it created: the VMs it owns go with it.
        const results = yield* restore(Effect.forEach(labels, startWorker, { concurrency })).pipe(
          Effect.onInterrupt(() => (created ? Effect.ignore(actors.kill(swarm)) : Effect.void))
        )
        const failures = labels.flatMap((label, i) => {
          const r = results[i]!
          return r._tag === "Left" ? [{ label, error: r.left.message }] : []
        })
        const after = yield* restore(runs)
        const info = yield* restore(infoOf(after.find((r) => r.id === swarm), swarm, after))
        return new SwarmInfo({ ...info, failures })
      })
    )
  })

  const task: SwarmsShape["task"] = Effect.fn("Swarms.task")(function* (swarm, label, text) {
    const w = yield* findWorker(swarm, label)
    if (isTerminal(w.run.state)) return yield* new SwarmError({ reason: "failed", message: `worker ${label} of swarm ${swarm} has ended (${w.run.state}${w.run.error === undefined ? "" : `: ${w.run.error}`}): spawn it again` })
    if (text.trim() === "") return yield* invalid("task must not be empty")
    yield* actors.message({ to: `run:${w.run.id}`, type: "task.prompt", body: text }).pipe(Effect.mapError(fromActors))
    return yield* workerOf(w.run, w.meta)
  })

  /** Posts a settled worker's result to `room:<swarm>` once per task (idempotency key). */
  const postResult = (swarm: string, w: SwarmWorker) =>
    w.last_output === null
      ? Effect.void
      : Effect.ignore(actors.message(
        { to: `room:${swarm}`, from: `branch:${swarm}/${w.label}`, type: "task.result", summary: `${w.label} finished task ${w.turns}`, body: { worker: w.label, turn: w.turns, text: w.last_output } },
        { idempotencyKey: `swarm-result-${w.run}-${w.turns}` }
      ))

  const wait: SwarmsShape["wait"] = Effect.fn("Swarms.wait")(function* (swarm, waitOptions = {}) {
    const timeoutMs = waitOptions.timeoutMs ?? 300_000
    const start = yield* Clock.currentTimeMillis
    const { workers } = yield* find(swarm)
    const targets = waitOptions.labels === undefined ? workers : workers.filter((w) => waitOptions.labels!.includes(w.meta.label))
    const unknown = (waitOptions.labels ?? []).filter((l) => !workers.some((w) => w.meta.label === l))
    if (unknown.length > 0) return yield* new SwarmError({ reason: "not_found", message: `swarm ${swarm} has no worker ${unknown.join(", ")}` })
    const busy = (w: (typeof targets)[number]) =>
      Effect.gen(function* () {
        const s = yield* readStatus(actors, w.run.id)
        return Option.isSome(s) && inFlight(s.value, yield* lastTaskAt(actors, w.run.id))
      })
    const waited = yield* Effect.filter(targets, busy, { concurrency: 8 })
    let pending = waited
    let timedOut = false
    while (pending.length > 0) {
      if ((yield* Clock.currentTimeMillis) - start >= timeoutMs) {
        timedOut = true
        break
      }
      yield* Effect.sleep(probeInterval)
      pending = yield* Effect.filter(pending, busy, { concurrency: 8 })
    }
    const all = yield* runs
    const now = yield* Effect.forEach(workersOf(all, swarm), (w) => workerOf(w.run, w.meta), { concurrency: 8 })
    const waitedLabels = waited.map((w) => w.meta.label)
    // Every settled result is posted once (a task that finished before this wait too).
    yield* Effect.forEach(now.filter((w) => w.state === "idle" && w.turns > 0), (w) => postResult(swarm, w), { discard: true })
    return new SwarmWaitResult({ swarm, timed_out: timedOut, elapsed_ms: (yield* Clock.currentTimeMillis) - start, waited: waitedLabels, workers: now })
  })

  const status: SwarmsShape["status"] = Effect.fn("Swarms.status")(function* (swarm) {
    const { all, group } = yield* find(swarm)
    return yield* infoOf(group, swarm, all)
  })

  const read: SwarmsShape["read"] = Effect.fn("Swarms.read")(function* (swarm, label, readOptions = {}) {
    const w = yield* findWorker(swarm, label)
    return yield* workerOf(w.run, w.meta, readOptions.tail)
  })

  const teardown: SwarmsShape["teardown"] = Effect.fn("Swarms.teardown")(function* (swarm) {
    const { group, workers } = yield* find(swarm)
    const active = workers.filter((w) => !isTerminal(w.run.state))
    yield* Effect.forEach(active, (w) => Effect.ignore(actors.kill(w.run.id)), { concurrency: 8, discard: true })
    const vmIds = workers.flatMap((w) => (w.meta.vm_id === null ? [] : [w.meta.vm_id]))
    yield* Effect.forEach(vmIds, deleteVm, { concurrency: 8, discard: true })
    // Killing the group run also deletes any VM it still owns (one a failed step left behind).
    if (group !== undefined && !isTerminal(group.state)) yield* Effect.ignore(actors.kill(swarm))
    // Pruned: their worktrees are removed (branches `troupe/<run>` kept), and discover forgets them.
    yield* Effect.ignore(actors.prune({ runs: [...workers.map((w) => w.run.id), ...(group === undefined ? [] : [swarm])] }))
    return new SwarmTeardown({ swarm, stopped: [...active.map((w) => w.run.id), ...(group !== undefined && !isTerminal(group.state) ? [swarm] : [])], vms_deleted: vmIds })
  })

  const discover: SwarmsShape["discover"] = Effect.fn("Swarms.discover")(function* () {
    const all = yield* runs
    const names = new Set<string>()
    for (const r of all) {
      if (Option.isSome(decodeSwarm(r.values[swarmKey]))) names.add(r.id)
      Option.map(decodeWorker(r.values[workerKey]), (m) => names.add(m.swarm))
    }
    return yield* Effect.forEach([...names].sort(), (name) => infoOf(all.find((r) => r.id === name), name, all))
  })

  return { spawn, task, wait, status, read, teardown, discover }
}

/** The swarm service of one session. */
export class Swarms extends Context.Tag("troupe/Swarms")<Swarms, SwarmsShape>() {
  /**
   * Over a session-bound `Actors` (`Actors.local` or the daemon client). Imports no runtime,
   * so the CLI can load it without the store.
   */
  static readonly layer = (actors: ActorsShape, options: SwarmsOptions = {}): Layer.Layer<Swarms> => Layer.succeed(Swarms, make(actors, options))
}
