/**
 * `Lieutenants` (SPEC-vers §5 "Lieutenant", docs/swarms.md "Lieutenants"; pi-vers `vers_lt_*`):
 * long-lived, named Pi agents kept across tasks and daemon restarts. A lieutenant `<n>` is the
 * `agent` run `run:lt-<n>`; its settings (name, role, system prompt, model, placement, VM) are
 * in the run's spawn `values`, so the store keeps them across restarts (pi-vers lost the role).
 * Each generation of the run starts with a briefing prompt (name, role, system prompt), so a
 * re-attached Pi knows who it is. Settled tasks are `task.result` posts in `room:lt-<n>`: `read`
 * returns the last output and up to 20 earlier results from there (a re-attach carries the
 * results so far over in the new run's `values`, since a reused run id starts with an empty room).
 *
 * `send` is a prompt, a steer or a follow-up; a prompt while a task is in flight becomes a
 * follow-up (and a steer or follow-up to an idle lieutenant a prompt), as pi-vers did. A
 * lieutenant whose run ended (a daemon restart stops local Pi processes) is re-attached by
 * `discover` or by the next `send`: the same run id, started again with its recorded settings.
 *
 * Pause: on a VM the VM is paused through the daemon (memory and disk kept; resume runs it and
 * re-attaches). Locally the Pi process and its session stay up; a paused lieutenant refuses
 * `send` until resumed (no CPU is used while it is idle anyway). The pause is recorded as a
 * `lieutenant.paused` post in its room, so it survives restarts too.
 */
import { Context, Effect, Exit, Layer, Option, Schema, Stream } from "effect"
import type { RunInfo } from "../domain/Run.js"
import {
  lieutenantKey,
  LieutenantInfo,
  LieutenantMeta,
  LieutenantRead,
  LieutenantSent,
  namePattern,
  type Placement,
  type SendMode,
  SwarmError
} from "../domain/Swarm.js"
import type { ActorsShape } from "./Actors.js"
import { awaitReady, fromActors, fromVms, inFlight, isTerminal, lastTaskAt, readStatus, type SwarmVms, workerState } from "./swarms/AgentProbe.js"

/** `create`'s request (pi-vers `vers_lt_create`: `name`, `role`, `commitId`, `model`, `local`; no secrets). */
export interface LieutenantCreateRequest {
  readonly name: string
  /** What it is for; part of its briefing. */
  readonly role: string
  /** More instructions for its briefing. */
  readonly systemPrompt?: string | undefined
  /** `provider/modelId`. */
  readonly model?: string | undefined
  /** Default: `vm` when the service has a VM client and a commit, else `local`. */
  readonly placement?: Placement | undefined
  /** VM placement: the commit to restore (default the golden commit). */
  readonly commitId?: string | undefined
  /** Pi's executable (default the runtime's). */
  readonly pi?: string | undefined
  /** Local placement: its working directory (default this directory). */
  readonly cwd?: string | undefined
}

export interface LieutenantsShape {
  /** Starts a lieutenant; returns once its Pi is ready. @fails SwarmError `invalid` (name taken, bad name), `unavailable`, `failed`. */
  readonly create: (request: LieutenantCreateRequest) => Effect.Effect<LieutenantInfo, SwarmError>
  /** Sends a message (`mode` default `prompt`). @fails SwarmError `not_found`, `invalid` (paused, empty). */
  readonly send: (name: string, message: string, mode?: SendMode | undefined) => Effect.Effect<LieutenantSent, SwarmError>
  /** Last output (`tail`: its last characters) and up to `history` (default 20, at most 20) earlier results. @fails SwarmError `not_found`. */
  readonly read: (name: string, options?: { readonly tail?: number | undefined; readonly history?: number | undefined }) => Effect.Effect<LieutenantRead, SwarmError>
  /** Every lieutenant of this session (or one). @fails SwarmError `not_found` for an unknown name. */
  readonly status: (name?: string | undefined) => Effect.Effect<ReadonlyArray<LieutenantInfo>, SwarmError>
  /** Pauses (refused while it works). @fails SwarmError `not_found`, `invalid`. */
  readonly pause: (name: string) => Effect.Effect<LieutenantInfo, SwarmError>
  /** Resumes (and re-attaches when its run ended). @fails SwarmError `not_found`. */
  readonly resume: (name: string) => Effect.Effect<LieutenantInfo, SwarmError>
  /** Stops one lieutenant or every one (`*`): run killed and pruned, VM deleted; returns the names. */
  readonly destroy: (name: string) => Effect.Effect<ReadonlyArray<string>, SwarmError>
  /** Re-attaches every lieutenant whose run ended (not paused ones) and lists them all. */
  readonly discover: () => Effect.Effect<ReadonlyArray<LieutenantInfo>, SwarmError>
}

export interface LieutenantsOptions {
  readonly vms?: SwarmVms | undefined
  readonly goldenCommitId?: string | undefined
  /** How long Pi may take to answer `get_state`, ms (default 120 000). */
  readonly readyTimeoutMs?: number | undefined
}

/** A lieutenant's run id. */
export const lieutenantRun = (name: string) => `lt-${name}`

/** Results `read` keeps at most. */
export const historyLimit = 20

/** The `values` key of the results carried over a re-attach, and the characters kept of each. */
const historyKey = "troupe_lieutenant_history"
const carriedTextLimit = 16_384
const decodeHistory = Schema.decodeUnknownOption(Schema.Array(Schema.String))

/** The first prompt of each of its Pi sessions. */
export const briefing = (meta: LieutenantMeta): string =>
  [
    `You are a lieutenant agent named "${meta.name}".`,
    `Your role: ${meta.role}`,
    ...(meta.system_prompt === null ? [] : ["", meta.system_prompt]),
    "",
    "You are a long-lived agent managed by a coordinator: you keep context across tasks.",
    "End each task with a short summary of what was done and any open questions.",
    "Reply to this message with one line: ready."
  ].join("\n")

const decodeMeta = Schema.decodeUnknownOption(LieutenantMeta)
const invalid = (message: string) => new SwarmError({ reason: "invalid", message })
const typeOf: Record<SendMode, string> = { prompt: "task.prompt", steer: "agent.steer", followUp: "agent.follow_up" }

/** Builds the service over a session-bound `Actors`. */
export const make = (actors: ActorsShape, options: LieutenantsOptions = {}): LieutenantsShape => {
  const readyTimeoutMs = options.readyTimeoutMs ?? 120_000
  const deleteVm = (vmId: string) => (options.vms === undefined ? Effect.void : Effect.ignore(options.vms.delete(vmId)))

  const all = actors.list({ status: "all" }).pipe(
    Effect.mapError(fromActors),
    Effect.map((runs) => runs.flatMap((r) => Option.match(decodeMeta(r.values[lieutenantKey]), { onNone: () => [], onSome: (meta) => [{ run: r, meta }] })))
  )
  const find = (name: string) =>
    Effect.flatMap(all, (lts) => {
      const lt = lts.find((x) => x.meta.name === name)
      return lt === undefined
        ? Effect.fail(new SwarmError({ reason: "not_found", message: `no lieutenant ${name} in this session (lieutenants: ${lts.map((x) => x.meta.name).join(", ") || "none"})` }))
        : Effect.succeed(lt)
    })

  /** The room posts of a lieutenant (oldest first); none when its room is gone. */
  const posts = (run: string) =>
    actors.roomTail(`room:${run}`, { follow: false }).pipe(Stream.runCollect, Effect.map((c) => [...c]), Effect.orElseSucceed(() => []))
  const pausedIn = (entries: ReadonlyArray<{ readonly envelope: { readonly type: string } }>) => {
    const last = [...entries].reverse().find((e) => e.envelope.type === "lieutenant.paused" || e.envelope.type === "lieutenant.resumed")
    return last?.envelope.type === "lieutenant.paused"
  }
  const note = (run: string, type: "lieutenant.paused" | "lieutenant.resumed") =>
    actors.message({ to: `room:${run}`, from: "coordinator", type, summary: type === "lieutenant.paused" ? "paused" : "resumed" }).pipe(Effect.mapError(fromActors))

  const infoOf = (run: RunInfo, meta: LieutenantMeta) =>
    Effect.gen(function* () {
      const status = yield* readStatus(actors, run.id)
      const paused = pausedIn(yield* posts(run.id))
      const s = Option.getOrUndefined(status)
      const working = s !== undefined && inFlight(s, yield* lastTaskAt(actors, run.id))
      const state = paused ? "paused" : s === undefined ? (isTerminal(run.state) ? "stopped" : "starting") : workerState(s, working)
      const error = s?.error ?? s?.agent?.error ?? run.error
      return new LieutenantInfo({
        name: meta.name,
        run: run.id,
        role: meta.role,
        model: meta.model,
        placement: meta.placement,
        vm_id: meta.vm_id,
        state,
        tasks: s?.agent?.turns ?? 0,
        last_output: s?.agent?.last_output ?? null,
        ...(state === "failed" && error !== undefined ? { error } : {})
      })
    })

  /** The texts of the `task.result` posts among `entries`. */
  const resultsIn = (entries: ReadonlyArray<{ readonly envelope: { readonly type: string; readonly body?: unknown } }>) =>
    entries.filter((e) => e.envelope.type === "task.result").map((e) => {
      const body = e.envelope.body as { text?: unknown } | undefined
      return typeof body?.text === "string" ? body.text : ""
    })
  /** Results carried over from earlier runs of the lieutenant (a reused run id starts with an empty room). */
  const carriedOf = (run: RunInfo): ReadonlyArray<string> =>
    Option.getOrElse(decodeHistory(run.values[historyKey]), () => [])

  /** Starts (or starts again) the lieutenant's run with its settings and waits until it is ready. */
  const start = (meta: LieutenantMeta, pi: string | undefined, cwd: string | undefined, carried: ReadonlyArray<string> = []) =>
    Effect.gen(function* () {
      const run = lieutenantRun(meta.name)
      yield* Effect.acquireRelease(
        actors.spawn({
          kind: "agent",
          as: run,
          cwd,
          pi,
          model: meta.model ?? undefined,
          on: meta.vm_id === null ? undefined : `vm:${meta.vm_id}`,
          task: briefing(meta),
          values: { [lieutenantKey]: meta, ...(pi === undefined ? {} : { troupe_pi: pi }), ...(carried.length === 0 ? {} : { [historyKey]: carried }) }
        }).pipe(Effect.mapError(fromActors)),
        (_, exit) => (Exit.isFailure(exit) ? Effect.ignore(actors.kill(run)) : Effect.void)
      )
      yield* awaitReady(actors, run, readyTimeoutMs)
    })

  const create: LieutenantsShape["create"] = Effect.fn("Lieutenants.create")(function* (request) {
    if (!namePattern.test(request.name)) return yield* invalid(`lieutenant name ${JSON.stringify(request.name)} must be 1-40 letters, digits, _ . - (starting with a letter or digit)`)
    if (request.role.trim() === "") return yield* invalid("role must say what the lieutenant is for")
    const existing = (yield* all).find((x) => x.meta.name === request.name)
    if (existing !== undefined) return yield* invalid(`lieutenant ${request.name} already exists: destroy it first or choose another name`)
    const commit = request.commitId ?? options.goldenCommitId
    const placement = request.placement ?? (options.vms !== undefined && commit !== undefined ? "vm" : "local")
    const vms = options.vms
    if (placement === "vm" && vms === undefined) return yield* new SwarmError({ reason: "unavailable", message: "VM placement needs the troupe daemon and a Vers account (VERS_API_KEY); use placement local" })
    if (placement === "vm" && commit === undefined) return yield* invalid("VM placement needs a commit to restore: pass commitId or set VERS_GOLDEN_COMMIT_ID")
    yield* Effect.scoped(
      Effect.gen(function* () {
        // Session-owned: the VM outlives the run (restarts re-attach to it) until destroy.
        const vm = placement === "vm"
          ? yield* Effect.acquireRelease(
            vms!.create({ how: { _tag: "restore", commit_id: commit! } }).pipe(Effect.mapError(fromVms(`lieutenant ${request.name}: restoring commit ${commit}`))),
            (record, exit) => (Exit.isFailure(exit) ? deleteVm(record.vm_id) : Effect.void)
          )
          : undefined
        const meta: LieutenantMeta = {
          name: request.name,
          role: request.role,
          system_prompt: request.systemPrompt ?? null,
          model: request.model ?? null,
          placement,
          vm_id: vm?.vm_id ?? null
        }
        yield* start(meta, request.pi, request.cwd)
      })
    )
    const lt = yield* find(request.name)
    return yield* infoOf(lt.run, lt.meta)
  })

  /** Starts an ended lieutenant again with its recorded settings (same run id). */
  const reattach = (run: RunInfo, meta: LieutenantMeta) =>
    Effect.gen(function* () {
      // Its room is emptied when the run id is reused: its results so far go along in `values`.
      const carried = [...carriedOf(run), ...resultsIn(yield* posts(run.id))].slice(-historyLimit).map((t) => (t.length > carriedTextLimit ? t.slice(-carriedTextLimit) : t))
      yield* Effect.scoped(start(meta, typeof run.values.troupe_pi === "string" ? run.values.troupe_pi : undefined, run.cwd, carried))
    })

  const send: LieutenantsShape["send"] = Effect.fn("Lieutenants.send")(function* (name, message, mode = "prompt") {
    if (message.trim() === "") return yield* invalid("message must not be empty")
    const lt = yield* find(name)
    const info = yield* infoOf(lt.run, lt.meta)
    if (info.state === "paused") return yield* invalid(`lieutenant ${name} is paused: resume it first (troupe lt resume ${name})`)
    if (info.state === "stopped" || info.state === "failed") yield* reattach(lt.run, lt.meta)
    const busy = info.state === "working" || info.state === "stopped" || info.state === "failed" || info.state === "starting"
    // Busy: a prompt is queued as a follow-up; idle: a steer or follow-up would wait for nothing, so it is a prompt.
    const used: SendMode = busy ? (mode === "prompt" ? "followUp" : mode) : "prompt"
    // An automatic follow-up goes as `task.prompt`: the agent's Pi session sends a prompt while
    // streaming as a follow-up, and as a new task when the task ended meanwhile (never lost).
    const type = used === "followUp" && mode === "prompt" ? typeOf.prompt : typeOf[used]
    yield* actors.message({ to: `run:${lt.run.id}`, type, body: message }).pipe(Effect.mapError(fromActors))
    return new LieutenantSent({ name, mode: used, auto: used !== mode })
  })

  const read: LieutenantsShape["read"] = Effect.fn("Lieutenants.read")(function* (name, readOptions = {}) {
    const lt = yield* find(name)
    const info = yield* infoOf(lt.run, lt.meta)
    const n = Math.max(0, Math.min(historyLimit, readOptions.history ?? historyLimit))
    const results = [...carriedOf(lt.run), ...resultsIn(yield* posts(lt.run.id))]
    const last = info.last_output
    const tail = readOptions.tail
    // The last result is `last_output` itself: history is what came before it.
    const earlier = results.length > 0 && results[results.length - 1] === last ? results.slice(0, -1) : results
    return new LieutenantRead({
      name,
      state: info.state,
      last_output: last === null || tail === undefined || last.length <= tail ? last : last.slice(-tail),
      history: n === 0 ? [] : earlier.slice(-n)
    })
  })

  const status: LieutenantsShape["status"] = Effect.fn("Lieutenants.status")(function* (name) {
    const lts = name === undefined ? yield* all : [yield* find(name)]
    return yield* Effect.forEach(lts, (lt) => infoOf(lt.run, lt.meta), { concurrency: 8 })
  })

  const pause: LieutenantsShape["pause"] = Effect.fn("Lieutenants.pause")(function* (name) {
    const lt = yield* find(name)
    const info = yield* infoOf(lt.run, lt.meta)
    if (info.state === "paused") return info
    if (info.state === "working") return yield* invalid(`lieutenant ${name} is working: steer it to stop, or wait for it, before pausing`)
    if (lt.meta.vm_id !== null && options.vms !== undefined) {
      yield* options.vms.setState(lt.meta.vm_id, "Paused").pipe(Effect.mapError(fromVms(`pausing lieutenant ${name}'s VM`)))
    }
    yield* note(lt.run.id, "lieutenant.paused")
    return yield* infoOf(lt.run, lt.meta)
  })

  const resume: LieutenantsShape["resume"] = Effect.fn("Lieutenants.resume")(function* (name) {
    const lt = yield* find(name)
    if (lt.meta.vm_id !== null && options.vms !== undefined) {
      yield* options.vms.setState(lt.meta.vm_id, "Running").pipe(Effect.mapError(fromVms(`resuming lieutenant ${name}'s VM`)))
    }
    yield* note(lt.run.id, "lieutenant.resumed")
    if (isTerminal(lt.run.state)) yield* reattach(lt.run, lt.meta)
    const again = yield* find(name)
    return yield* infoOf(again.run, again.meta)
  })

  const destroy: LieutenantsShape["destroy"] = Effect.fn("Lieutenants.destroy")(function* (name) {
    const lts = name === "*" ? yield* all : [yield* find(name)]
    yield* Effect.forEach(lts, (lt) =>
      Effect.gen(function* () {
        if (!isTerminal(lt.run.state)) yield* Effect.ignore(actors.kill(lt.run.id))
        if (lt.meta.vm_id !== null) yield* deleteVm(lt.meta.vm_id)
      }), { concurrency: 8, discard: true })
    yield* Effect.ignore(actors.prune({ runs: lts.map((lt) => lt.run.id) }))
    return lts.map((lt) => lt.meta.name)
  })

  const discover: LieutenantsShape["discover"] = Effect.fn("Lieutenants.discover")(function* () {
    for (const lt of yield* all) {
      if (isTerminal(lt.run.state) && !pausedIn(yield* posts(lt.run.id))) yield* reattach(lt.run, lt.meta)
    }
    return yield* status()
  })

  return { create, send, read, status, pause, resume, destroy, discover }
}

/** The lieutenant service of one session. */
export class Lieutenants extends Context.Tag("troupe/Lieutenants")<Lieutenants, LieutenantsShape>() {
  /**
   * Over a session-bound `Actors` (`Actors.local` or the daemon client). Imports no runtime,
   * so the CLI can load it without the store.
   */
  static readonly layer = (actors: ActorsShape, options: LieutenantsOptions = {}): Layer.Layer<Lieutenants> => Layer.succeed(Lieutenants, make(actors, options))
}
