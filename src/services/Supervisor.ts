/**
 * `Supervisor`: runs (actors) as fibers. Each run is one fiber in a `FiberMap` keyed by run id;
 * its leaves are scoped process groups (through `Host`), so interrupting the fiber — kill,
 * cancel, owner shutdown — kills every process group it started before the interruption
 * completes. The store records every transition; the owner's session stream gets the events a
 * coordinator must see.
 *
 * Corresponds to pi-actors' detached runner (one Node process per run writing `status.json`)
 * and its `control.kill`; troupe keeps every run inside one owner process instead, adds
 * generations (fencing), an OTP-style restart policy and reaping by verified process identity.
 */
import { FileSystem, Path } from "@effect/platform"
import { Cause, Clock, Deferred, Duration, Effect, Fiber, FiberMap, Option, Queue, Schedule, Schema, Stream } from "effect"
import { createHash, randomBytes, randomUUID } from "node:crypto"
import { describeParseError } from "../domain/Diagnostic.js"
import type { MessageableAddress } from "../domain/Address.js"
import { MessageIds, stamp } from "../domain/Envelope.js"
import * as Output from "../domain/Output.js"
import type { GraphEvent, GraphResult, PlannedNode } from "../domain/Plan.js"
import { RecipeError } from "../domain/Recipe.js"
import {
  ActorsError,
  type Caller,
  ControlResult,
  type ControlType,
  isTerminal,
  matchesFilter,
  maxBackoffMs,
  Progress,
  RestartPolicy,
  RunId,
  type RunInfo,
  RunOutcome,
  runIdOf,
  type RunState,
  type SessionEvent,
  SpawnRequest,
  type StatusFilter
} from "../domain/Run.js"
import { TemplateError } from "../domain/Template.js"
import { homePaths, TroupeConfig } from "./TroupeConfig.js"
import { CommandGraph, firstLeafPath } from "./CommandGraph.js"
import { writeSnapshot } from "./Communication.js"
import { Events } from "./Events.js"
import { Host } from "./Host.js"
import { Mailbox } from "./Mailbox.js"
import { Recipes } from "./Recipes.js"
import { Rooms } from "./Rooms.js"
import { Store, type StoredRun } from "./Store.js"

// ---------------------------------------------------------------------------------------------
// Policies

/** How often `logs --follow` looks for new bytes in a live run's log file. */
const logFollowPoll = Schedule.spaced("100 millis")

/** How often retention runs (and once at startup). */
const retentionSchedule = Schedule.spaced("1 hour")

/** Bytes of final stdout/stderr kept in the store for `wait` and `view=tail`: 64 KiB. */
const outputTailBytes = Output.spilledTailBytes

/** Largest piece `logs` reads (and sends) at once: 1 MiB. */
const logChunkBytes = 1024 * 1024

// ---------------------------------------------------------------------------------------------
// Helpers

const tokenHash = (token: string) => createHash("sha256").update(token).digest("hex")

const decodeRunId = Schema.decodeUnknownEither(RunId)
const decodeRestart = Schema.decodeUnknown(RestartPolicy)

const slug = (text: string) => text.replace(/[^A-Za-z0-9_.-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40) || "run"

const backoffFor = (policy: RestartPolicy, restart: number) =>
  Math.min(maxBackoffMs, policy.backoff_ms * 2 ** Math.max(0, restart - 1))

const decodeTail = (o: Output.CapturedOutput) =>
  Output.decodeUtf8(Output.utf8SafeTail(o.bytes, outputTailBytes))

/**
 * One line on why a run failed: the critical failing step, its code and the last line of its
 * stderr (the full failure text stays in `view=tail`).
 */
export const failureSummary = (r: GraphResult): string => {
  const f = r.failures.find((x) => x.critical) ?? r.failures[r.failures.length - 1]
  if (f === undefined) return r.message ?? `exit code ${r.code}`
  const last = f.stderr_tail.trim().split("\n").pop() ?? ""
  const what = r.message ?? `step ${f.label ?? f.path} ${f.status === "timeout" ? "timed out" : `exited with code ${f.code}`}`
  return last === "" ? what : `${what} (${last.slice(0, 200)})`
}

const followUpHint = (id: string) => `Use inspect target=run:${id} view=tail if the result needs inspection.`

/** Follow-up text of a terminal transition (SPEC-messaging §7): short and action-shaped. */
export const terminalText = (id: string, state: RunState, code: number | null, error: string | undefined): string => {
  switch (state) {
    case "done":
      return `Run ${id} completed successfully.\n${followUpHint(id)}`
    case "failed":
      return `Run ${id} failed${code === null ? "" : ` with exit code ${code}`}${error === undefined ? "" : `: ${error}`}.\n${followUpHint(id)}`
    case "lost":
      return `Run ${id} was lost: ${error ?? "its owner stopped before it finished"}.\n${followUpHint(id)}`
    default:
      return `Run ${id} was ${state}${error === undefined ? "" : `: ${error}`}.\n${followUpHint(id)}`
  }
}

/** In-memory state of an active run. */
interface Entry {
  readonly id: string
  readonly owner: string
  generation: string
  /** Set by kill/cancel before the fiber is interrupted: the stop is intentional. */
  intent: "kill" | "cancel" | undefined
  /** Set once the terminal state is being written: later kills and interrupts change nothing. */
  finished: boolean
  /** Completes with the final record once the run is terminal (across restarts). */
  readonly done: Deferred.Deferred<RunInfo, ActorsError>
  progress: { phase: string; active: number; completed: number; failures: Array<string> }
  /** The run's state directory. */
  readonly stateDir: string
  /** The run that spawned this one (token callers), if any. */
  readonly parent: string | undefined
  /** The recipe's mailbox contract, if any. */
  readonly mailbox: unknown
  /** `stdin-jsonl` delivery: lines queued here are fed to the first leaf's stdin. */
  readonly stdin?: Queue.Queue<Uint8Array> | undefined
}

/** A run as messaging sees it (see `Supervisor.brief`). */
export interface RunBrief {
  readonly id: string
  readonly owner: string
  readonly parent: string | undefined
  readonly state: RunState
  readonly stateDir: string
  readonly generation: string
  readonly mailbox: unknown
}

// ---------------------------------------------------------------------------------------------
// Service

export class Supervisor extends Effect.Service<Supervisor>()("troupe/Supervisor", {
  scoped: Effect.gen(function* () {
    const store = yield* Store
    const events = yield* Events
    const graph = yield* CommandGraph
    const host = yield* Host
    const recipes = yield* Recipes
    const rooms = yield* Rooms
    const mailbox = yield* Mailbox
    const messageIds = yield* MessageIds
    const config = yield* TroupeConfig
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const paths = homePaths(config.home)

    const fibers = yield* FiberMap.make<string>()
    const entries = new Map<string, Entry>()

    /** Up to `length` bytes of `file` from `offset` (what exists now; empty on any error). */
    const readSlice = (file: string, offset: number, length: number) =>
      Effect.gen(function* () {
        const size = yield* fs.stat(file).pipe(Effect.map((i) => Number(i.size)))
        const wanted = Math.min(length, size - offset)
        if (wanted <= 0) return new Uint8Array(0)
        const bytes = yield* Effect.scoped(
          Effect.flatMap(fs.open(file, { flag: "r" }), (h) => Effect.flatMap(h.seek(offset, "start"), () => h.readAlloc(wanted)))
        )
        return Option.getOrElse(bytes, () => new Uint8Array(0))
      }).pipe(Effect.orElseSucceed(() => new Uint8Array(0)))

    const internal = (message: string) => new ActorsError({ reason: "internal", message })
    const notFound = (id: string) => new ActorsError({ reason: "not_found", message: `No run ${id}. Use troupe ps to list runs.` })

    const mustGet = (id: string) =>
      Effect.flatMap(store.getRun(id), Option.match({ onNone: () => Effect.fail(notFound(`run:${id}`)), onSome: Effect.succeed }))

    /** An actor process (run token) acts on its own run and on the runs it spawned. */
    const mayTouch = (caller: Caller, info: RunInfo) =>
      info.owner === caller.session && (info.id === caller.run || info.parent === caller.run)

    /** A caller without a session (and not the operator) may do nothing. */
    const requireSession = (caller: Caller) =>
      caller.all || caller.session !== ""
        ? Effect.void
        : Effect.fail(new ActorsError({ reason: "forbidden", message: "a session id is required" }))

    /** Exact-owner access, fail closed; not-found and forbidden read the same to a stranger. */
    const authorize = (caller: Caller, run: StoredRun) =>
      caller.run !== undefined
        ? mayTouch(caller, run.info)
          ? Effect.succeed(run)
          : Effect.fail(new ActorsError({ reason: "forbidden", message: `run:${caller.run} may only act on itself and the runs it spawned` }))
        : caller.all || (caller.session !== "" && run.info.owner === caller.session)
          ? Effect.succeed(run)
          : Effect.fail(new ActorsError({ reason: "forbidden", message: `run:${run.info.id} belongs to another session` }))

    /**
     * Reads a run the caller may see.
     * @fails ActorsError `not_found` (unknown id), `forbidden` (another session's run).
     */
    const get = Effect.fn("Supervisor.get")(function* (caller: Caller, ref: string) {
      return yield* authorize(caller, yield* mustGet(runIdOf(ref)))
    })

    /**
     * What messaging needs of a run the caller may see — owner, parent, state, state
     * directory, generation, mailbox contract — from memory for an active run (no store read,
     * no record decoding: this is on every message's path), else from the store.
     * @fails ActorsError `not_found`, `forbidden` (as {@link get}).
     */
    const brief = (caller: Caller, ref: string): Effect.Effect<RunBrief, ActorsError> =>
      Effect.suspend(() => {
        const id = runIdOf(ref)
        const e = entries.get(id)
        if (e === undefined || e.finished) {
          return Effect.map(get(caller, ref), (r): RunBrief => ({
            id: r.info.id,
            owner: r.info.owner,
            parent: r.info.parent,
            state: r.info.state,
            stateDir: r.info.state_dir,
            generation: r.info.generation,
            mailbox: (r.snapshot as { mailbox?: unknown } | null)?.mailbox
          }))
        }
        const allowed = caller.run !== undefined
          ? e.owner === caller.session && (id === caller.run || e.parent === caller.run)
          : caller.all || (caller.session !== "" && e.owner === caller.session)
        if (!allowed) {
          return Effect.fail(new ActorsError({
            reason: "forbidden",
            message: caller.run !== undefined ? `run:${caller.run} may only act on itself and the runs it spawned` : `run:${id} belongs to another session`
          }))
        }
        return Effect.succeed({ id, owner: e.owner, parent: e.parent, state: e.progress.phase === "starting" ? "starting" : "running", stateDir: e.stateDir, generation: e.generation, mailbox: e.mailbox })
      })

    const persistProgress = (entry: Entry) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        store.updateRun(entry.id, entry.generation, { progress: new Progress({ ...entry.progress, failures: [...entry.progress.failures] }) }, now)
      )

    const recordEvent = (entry: Entry, type: string, data: Record<string, unknown>) =>
      Effect.flatMap(Clock.currentTimeMillis, (at) => store.appendRunEvent({ runId: entry.id, generation: entry.generation, type, at, data }))

    /** Store failures inside a running run are logged, never silently dropped or fatal to it. */
    const logged = <A>(what: string, e: Effect.Effect<A, ActorsError>) =>
      e.pipe(Effect.asVoid, Effect.catchAll((err) => Effect.logError(`Supervisor: ${what} failed: ${err.message}`)))

    const onGraphEvent = (entry: Entry) => (e: GraphEvent) =>
      logged(
        e.type,
        Effect.gen(function* () {
          const generation = entry.generation
          if (e.type === "command.start") {
            entry.progress.active++
            entry.progress.phase = e.label ?? e.path
            yield* store.addProcess(generation, { path: e.path, attempt: e.attempt, pid: e.pid, pgid: e.pgid, startTime: e.startTime, marker: e.marker, argv: e.argv })
            yield* recordEvent(entry, "command.start", { path: e.path, label: e.label, argv: e.argv, pid: e.pid, pgid: e.pgid, attempt: e.attempt })
          } else {
            entry.progress.active = Math.max(0, entry.progress.active - 1)
            entry.progress.completed++
            const failed = e.status === "failed" || e.status === "timeout"
            if (failed) entry.progress.failures.push(e.label ?? e.path)
            yield* store.removeProcess(generation, e.path)
            const data = { path: e.path, label: e.label, code: e.code, killed: e.killed, duration_ms: e.duration_ms, status: e.status }
            yield* recordEvent(entry, "command.done", data)
            // Coordinator-visible only when it failed, or when a labelled step (a named branch)
            // finished while others are still running; unlabelled pipe stages stay internal.
            if (failed || (e.label !== undefined && entry.progress.active > 0)) {
              const at = yield* Clock.currentTimeMillis
              const what = e.label ?? e.path
              yield* events.publish({
                session: entry.owner,
                runId: entry.id,
                generation,
                type: "command.done",
                at,
                data,
                text: `Run ${entry.id}: step ${what} ${failed ? `failed with exit code ${e.code}` : "finished"}${entry.progress.active > 0 ? ` (${entry.progress.active} still running)` : ""}.`
              })
            }
          }
          yield* persistProgress(entry)
        })
      )

    /** Writes the terminal state of the current generation, emits events, releases waiters. */
    const finish = (
      entry: Entry,
      state: RunState,
      detail: { code: number | null; error?: string | undefined; stdout?: string | undefined; stderr?: string | undefined; followUp: boolean }
    ) =>
      Effect.gen(function* () {
        if (entry.finished) return
        entry.finished = true
        const at = yield* Clock.currentTimeMillis
        entry.progress.phase = state
        entry.progress.active = 0
        yield* logged(
          "finish",
          Effect.gen(function* () {
            yield* store.updateRun(entry.id, entry.generation, {
              state,
              code: detail.code,
              error: detail.error ?? null,
              progress: new Progress({ ...entry.progress, failures: [...entry.progress.failures] }),
              stdoutTail: detail.stdout,
              stderrTail: detail.stderr,
              endedAt: at
            }, at)
            yield* store.clearProcesses(entry.generation)
            const type = `run.${state === "cancelled" ? "cancel" : state === "killed" ? "kill" : state}`
            yield* recordEvent(entry, type, { code: detail.code, error: detail.error })
            if (detail.followUp) {
              yield* events.publish({
                session: entry.owner,
                runId: entry.id,
                generation: entry.generation,
                type: `run.${state}`,
                at,
                data: { state, code: detail.code, error: detail.error },
                text: terminalText(entry.id, state, detail.code, detail.error)
              })
            }
          })
        )
        const final = yield* store.getRun(entry.id).pipe(Effect.option, Effect.map(Option.flatten))
        if (Option.isSome(final)) yield* Deferred.succeed(entry.done, final.value.info)
        else yield* Deferred.fail(entry.done, internal(`run:${entry.id} vanished from the store`)).pipe(Effect.asVoid)
      }).pipe(Effect.uninterruptible)

    const liveStdinFor = (plan: PlannedNode, queue: Queue.Queue<Uint8Array>) => {
      const leafPath = firstLeafPath(plan)
      return leafPath === undefined ? undefined : { leafPath, source: Stream.fromQueue(queue) }
    }

    /**
     * Queues bytes for a `stdin-jsonl` run's stdin (SPEC-messaging §4); they reach the process
     * in order while it runs. False when the run is not active or has no live stdin.
     */
    const writeStdin = (id: string, bytes: Uint8Array) =>
      Effect.suspend(() => {
        const entry = entries.get(id)
        return entry?.stdin === undefined || entry.finished ? Effect.succeed(false) : Queue.offer(entry.stdin, bytes)
      })

    const resultState = (r: GraphResult): RunState => (r.status === "failed" || r.status === "timeout" ? "failed" : "done")

    interface Started {
      readonly entry: Entry
      readonly plan: PlannedNode
      readonly policy: RestartPolicy
      readonly stateDir: string
      readonly env: Record<string, string>
    }

    const runGeneration = (s: Started) =>
      Effect.gen(function* () {
        const { entry } = s
        const at = yield* Clock.currentTimeMillis
        entry.progress = { phase: "running", active: 0, completed: 0, failures: [] }
        yield* logged("start", store.updateRun(entry.id, entry.generation, { state: "running", progress: new Progress({ ...entry.progress }) }, at))
        yield* logged("start", recordEvent(entry, "run.start", { generation: entry.generation }))
        return yield* graph.execute(s.plan, {
          outputDir: path.join(s.stateDir, "spill"),
          env: s.env,
          logs: { stdout: path.join(s.stateDir, "stdout.log"), stderr: path.join(s.stateDir, "stderr.log") },
          onEvent: onGraphEvent(entry),
          liveStdin: entry.stdin === undefined ? undefined : liveStdinFor(s.plan, entry.stdin)
        })
      })

    /** Runs generations until the run is terminal for good (restart policy). */
    const runLoop = (s: Started) =>
      Effect.gen(function* () {
        const { entry, policy } = s
        const restartTimes: Array<number> = []
        let restarts = 0
        for (;;) {
          const result = yield* runGeneration(s)
          const state = resultState(result)
          const stdout = decodeTail(result.stdout)
          const stderr = decodeTail(result.stderr)
          const error = state === "failed" ? failureSummary(result) : undefined
          const wants = policy.restart === "always" || (policy.restart === "on-failure" && state === "failed")
          if (!wants) return yield* finish(entry, state, { code: result.code, error, stdout, stderr, followUp: true })
          const now = yield* Clock.currentTimeMillis
          const recent = restartTimes.filter((t) => now - t < policy.restart_window_ms)
          if (recent.length >= policy.max_restarts) {
            const why = `restart limit reached (${policy.max_restarts} restarts within ${policy.restart_window_ms} ms)${error === undefined ? "" : `; last failure: ${error}`}`
            return yield* finish(entry, "failed", { code: result.code === 0 ? 1 : result.code, error: why, stdout, stderr, followUp: true })
          }
          restartTimes.splice(0, restartTimes.length, ...recent, now)
          restarts++
          const delay = backoffFor(policy, restarts)
          const next = randomUUID()
          yield* logged("restart", recordEvent(entry, "run.restart", { code: result.code, state, restart: restarts, delay_ms: delay, next_generation: next }))
          yield* logged("restart", store.clearProcesses(entry.generation))
          const moved = yield* store.updateRun(entry.id, entry.generation, { generation: next, state: "starting", code: result.code, restarts, stdoutTail: stdout, stderrTail: stderr }, now).pipe(
            Effect.catchAll((e) => Effect.as(Effect.logError(`Supervisor: restart of run:${entry.id} not recorded: ${e.message}`), false))
          )
          if (!moved) {
            return yield* finish(entry, state, { code: result.code, error: error ?? "restart could not be recorded in the store", stdout, stderr, followUp: true })
          }
          entry.generation = next
          yield* Effect.sleep(Duration.millis(delay))
        }
      })

    /** What an interrupted run records: intentional stops report synchronously, no follow-up. */
    const finishInterrupted = (entry: Entry) =>
      entry.intent === "cancel"
        ? finish(entry, "cancelled", { code: null, followUp: false })
        : entry.intent === "kill"
          ? finish(entry, "killed", { code: null, followUp: false })
          : finish(entry, "killed", { code: null, error: "the troupe owner process stopped", followUp: true })

    const superviseRun = (s: Started) =>
      runLoop(s).pipe(
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.failCause(cause)
            : finish(s.entry, "failed", { code: 1, error: `internal error: ${Cause.pretty(cause).split("\n")[0]}`, followUp: true })
        ),
        Effect.onInterrupt(() => finishInterrupted(s.entry)),
        // The entry goes only when the fiber is done: the id stays active until then.
        Effect.ensuring(
          Effect.zipRight(
            Effect.sync(() => {
              if (entries.get(s.entry.id) === s.entry) entries.delete(s.entry.id)
            }),
            s.entry.stdin === undefined ? Effect.void : Queue.shutdown(s.entry.stdin)
          )
        )
      )

    // --- spawn -------------------------------------------------------------------------------

    const invalid = (message: string) => new ActorsError({ reason: "invalid", message })

    const chooseId = (req: SpawnRequest, recipe: string) =>
      Effect.gen(function* () {
        if (req.as === undefined) return `${slug(recipe)}-${randomBytes(3).toString("hex")}`
        const raw = runIdOf(req.as)
        const decoded = decodeRunId(raw)
        if (decoded._tag === "Left") return yield* invalid(`Invalid run id ${JSON.stringify(raw)}: run ids match ^[A-Za-z0-9_.-]+$ (not . or ..)`)
        return decoded.right
      })

    /**
     * Starts a run. Everything that can be checked is checked before anything is written or
     * started: the request shape, the recipe, the id, the template against its values. The run
     * is recorded (`starting`) and its fiber forked before this returns.
     * @fails ActorsError `invalid` (bad id, recipe, template or values), `duplicate` (the id is
     *   active — nothing was touched), `internal` (store or state directory not writable).
     */
    const spawn = Effect.fn("Supervisor.spawn")(function* (caller: Caller, req: SpawnRequest) {
      yield* requireSession(caller)
      if ((req.recipe === undefined) === (req.template === undefined)) {
        return yield* invalid("spawn needs exactly one of recipe or template")
      }
      const recipe = req.recipe === undefined
        ? undefined
        : yield* recipes.resolve(req.recipe).pipe(
            Effect.mapError((e: RecipeError) => (e.reason === "not_found" ? new ActorsError({ reason: "not_found", message: e.message }) : invalid(e.message)))
          )
      const recipeName = recipe?.id ?? "inline"
      const id = yield* chooseId(req, recipeName)
      if (entries.has(id)) return yield* new ActorsError({ reason: "duplicate", message: `run:${id} is already active` })
      const policy = yield* decodeRestart(req.restart ?? {}).pipe(Effect.mapError((e) => invalid(`Invalid restart policy: ${describeParseError(e, req.restart)}`)))
      const cwd = req.cwd ?? process.cwd()
      if (!path.isAbsolute(cwd)) return yield* invalid(`cwd must be an absolute path: ${cwd}`)

      const stateDir = path.join(paths.runs, id)
      const values: Record<string, unknown> = {
        // A recipe's `values` bind above its defaults and below the caller's values.
        ...recipe?.values,
        ...req.values,
        run_id: id,
        state_dir: stateDir,
        actor_address: `run:${id}`,
        default_room: `room:${id}`,
        communication_file: path.join(stateDir, "communication.json")
      }
      if (recipe !== undefined && values.recipe_dir === undefined) values.recipe_dir = recipe.dir
      const template = recipe === undefined ? req.template : recipe.template
      const plan = yield* graph
        .plan(template, { values, args: recipe?.args, defaults: recipe?.defaults, cwd, home: config.userHome })
        .pipe(Effect.mapError((e: TemplateError) => invalid(e.message)))

      const generation = randomUUID()
      const token = randomBytes(24).toString("hex")
      const at = yield* Clock.currentTimeMillis
      // From the first write until the fiber runs nothing may interrupt: a half-started run
      // would stay `starting` with no fiber to finish it.
      yield* Effect.uninterruptible(
        Effect.gen(function* () {
          const replaced = yield* store.insertRun({
            id,
            generation,
            owner: caller.session,
            parent: caller.run,
            recipe: recipeName,
            snapshot: recipe === undefined
              ? { template }
              : {
                  id: recipe.id,
                  path: recipe.path,
                  source: recipe.source,
                  description: recipe.file.description,
                  template,
                  args: recipe.args,
                  defaults: recipe.defaults,
                  artifacts: recipe.artifacts,
                  mailbox: recipe.mailbox
                },
            values: req.values,
            cwd,
            stateDir,
            restart: policy,
            tokenHash: tokenHash(token),
            at
          })
          // A reused id starts with a fresh state directory.
          yield* fs.remove(stateDir, { recursive: true }).pipe(Effect.catchAll(() => Effect.void))
          yield* fs.makeDirectory(stateDir, { recursive: true, mode: 0o700 }).pipe(
            Effect.tapError(() => store.updateRun(id, generation, { state: "failed", error: `cannot create ${stateDir}`, endedAt: at }, at).pipe(Effect.ignore)),
            Effect.mapError((e) => internal(`cannot create state directory ${stateDir}: ${e.message}`))
          )

          const entry: Entry = {
            id,
            stateDir,
            parent: caller.run,
            mailbox: recipe?.mailbox,
            owner: caller.session,
            generation,
            intent: undefined,
            finished: false,
            done: yield* Deferred.make<RunInfo, ActorsError>(),
            progress: { phase: "starting", active: 0, completed: 0, failures: [] },
            stdin: recipe?.mailbox?.delivery === "stdin-jsonl" ? yield* Queue.unbounded<Uint8Array>() : undefined
          }
          entries.set(id, entry)
          // The default room (SPEC-messaging §5), before the process starts so the join is the
          // room's first entry: a reused id starts with an empty room and inbox, then the run
          // joins `room:<id>`. A failure here is logged; the run starts anyway.
          yield* Effect.gen(function* () {
            if (replaced) yield* Effect.all([rooms.removeRun(id), mailbox.removeRun(id)], { discard: true })
            const join = yield* stamp(
              { to: `room:${id}`, type: "actor.join", summary: "Run joined default room", body: { role: "run", status: "present" } },
              { from: { _tag: "Run", run: id } as MessageableAddress, sender: "runtime" }
            ).pipe(Effect.provideService(MessageIds, messageIds))
            yield* rooms.post({ room: `room:${id}`, envelope: join, ...(caller.run === undefined ? {} : { parent: `run:${caller.run}` }) })
          }).pipe(Effect.catchAll((e) => Effect.logWarning(`run:${id} did not join its default room: ${e.message}`)))
          // Its communication snapshot ({communication_file}) exists before the process starts;
          // later room changes rewrite it.
          yield* writeSnapshot({ run: id, stateDir, parent: caller.run }).pipe(
            Effect.provideService(Rooms, rooms),
            Effect.provideService(FileSystem.FileSystem, fs),
            Effect.provideService(Path.Path, path)
          )
          const env: Record<string, string> = {
            TROUPE_RUN: id,
            TROUPE_ADDRESS: `run:${id}`,
            TROUPE_SOCKET: paths.socket,
            TROUPE_TOKEN: token,
            TROUPE_HOME: config.home
          }
          yield* FiberMap.run(fibers, id, superviseRun({ entry, plan, policy, stateDir, env }))
        })
      )
      // Usage metadata (SPEC-runtime §2): counted in the store, never in the recipe file. A
      // failure to count is logged, not a failed spawn: the run is already started.
      if (recipe !== undefined) {
        yield* store.recordUsage(recipe, at).pipe(Effect.catchAll((e) => Effect.logWarning(`recipe usage of ${recipe.id} not recorded: ${e.message}`)))
      }
      return (yield* mustGet(id)).info
    })

    // --- control -----------------------------------------------------------------------------

    /**
     * `control.kill` (→ `killed`) or `control.stop` / `control.cancel` (graceful cancel →
     * `cancelled`; delivered to the recipe instead once mailboxes exist and it accepts them).
     * Every process group of the run gets SIGTERM, a grace period, then SIGKILL, before this
     * returns. Fenced: with `generation`, a run now in another generation is left alone.
     * Intentional stops produce no follow-up event.
     * @fails ActorsError `not_found`, `forbidden`.
     */
    const control = Effect.fn("Supervisor.control")(function* (
      caller: Caller,
      ref: string,
      type: ControlType,
      generation?: string | undefined
    ) {
      const run = yield* get(caller, ref)
      const id = run.info.id
      const entry = entries.get(id)
      if (entry === undefined || entry.finished || isTerminal(run.info.state)) {
        return new ControlResult({ run: `run:${id}`, type, applied: false, state: run.info.state, reason: "run is not active" })
      }
      if (generation !== undefined && generation !== entry.generation) {
        return new ControlResult({ run: `run:${id}`, type, applied: false, state: run.info.state, reason: `generation ${generation} is not the current generation` })
      }
      entry.intent ??= type === "control.kill" ? "kill" : "cancel"
      const fiber = yield* FiberMap.get(fibers, id).pipe(Effect.option)
      if (Option.isSome(fiber)) yield* Fiber.interrupt(fiber.value)
      const final = yield* Deferred.await(entry.done)
      return new ControlResult({ run: `run:${id}`, type, applied: true, state: final.state })
    })

    // --- queries -----------------------------------------------------------------------------

    /**
     * Runs visible to the caller, newest first. `session`: another session's inventory
     * (operator only, i.e. `caller.all`); `"all"` = every session.
     * @fails ActorsError `forbidden` when asking for another session without `all`.
     */
    const list = Effect.fn("Supervisor.list")(function* (caller: Caller, filter: StatusFilter, session?: string | undefined) {
      yield* requireSession(caller)
      const owner = session === "all" ? undefined : session ?? (caller.all ? undefined : caller.session)
      if (owner !== caller.session && !caller.all) {
        return yield* new ActorsError({ reason: "forbidden", message: "listing another session's runs needs --all" })
      }
      const runs = yield* store.listRuns(owner)
      return runs.filter((r) => matchesFilter(r.state, filter) && (caller.run === undefined || mayTouch(caller, r)))
    })

    /**
     * Waits until the run is terminal (including restarts) or `timeoutMs` elapses.
     *
     * Observations agree (issue 12 item 7): when this returns a terminal run, its
     * `stdout.log` / `stderr.log` already hold all of its output, so `logs` afterwards shows
     * everything — for a command or a sequence the returned `stdout` is the end of
     * `stdout.log`; a parallel node's joined output is the same bytes with branch headers
     * (`stdout.log` has its branches' output as it arrived). The order is by
     * construction, not timing: LocalHost writes each chunk to the log file synchronously in
     * the same handler that captures it; a leaf completes only after both of its streams
     * ended; the graph (and so the generation) completes after its leaves; the run turns
     * terminal after the generation.
     * @returns the run with the tail of its final stdout/stderr; `timed_out: true` with the
     *   current record when the timeout came first.
     * @fails ActorsError `not_found`, `forbidden`.
     */
    const wait = Effect.fn("Supervisor.wait")(function* (caller: Caller, ref: string, timeoutMs?: number | undefined) {
      const run = yield* get(caller, ref)
      const entry = entries.get(run.info.id)
      if (entry !== undefined) {
        const waited = timeoutMs === undefined
          ? Option.some(yield* Deferred.await(entry.done))
          : yield* Effect.timeoutOption(Deferred.await(entry.done), Duration.millis(timeoutMs))
        if (Option.isNone(waited)) {
          const now = yield* mustGet(run.info.id)
          return new RunOutcome({ run: now.info, stdout: now.stdoutTail, stderr_tail: now.stderrTail, timed_out: true })
        }
      }
      const final = yield* mustGet(run.info.id)
      return new RunOutcome({ run: final.info, stdout: final.stdoutTail, stderr_tail: final.stderrTail, timed_out: !isTerminal(final.info.state) })
    })

    /**
     * The run's `stdout.log` or `stderr.log` as byte chunks. With `follow`, keeps reading new
     * bytes until the run is terminal and the file is drained. The files only grow (appends),
     * so a later read starts with everything an earlier one showed, and after {@link wait}
     * reports the run terminal they hold all of its output.
     * @fails ActorsError `not_found`, `forbidden`.
     */
    const logs = (caller: Caller, ref: string, stream: "stdout" | "stderr", follow: boolean): Stream.Stream<Uint8Array, ActorsError> =>
      Stream.unwrap(
        Effect.gen(function* () {
          const run = yield* get(caller, ref)
          const file = path.join(run.info.state_dir, `${stream}.log`)
          let offset = 0
          const readMore = Effect.gen(function* () {
            const bytes = yield* readSlice(file, offset, logChunkBytes)
            offset += bytes.length
            return bytes
          })
          const untilDrained = Stream.repeatEffectOption(
            Effect.flatMap(readMore, (bytes) => (bytes.length === 0 ? Effect.fail(Option.none()) : Effect.succeed(bytes)))
          )
          if (!follow) return untilDrained
          // Follow this run, not the id: a later run reusing the id is not followed.
          const entry = entries.get(run.info.id)
          const ended = () => entry === undefined || entry.finished
          return Stream.repeatEffectOption(
            Effect.gen(function* () {
              const wasEnded = ended()
              const bytes = yield* readMore
              if (bytes.length === 0 && wasEnded) return yield* Effect.fail(Option.none())
              return bytes
            })
          ).pipe(
            Stream.filter((b) => b.length > 0),
            Stream.schedule(logFollowPoll)
          )
        })
      )

    /**
     * The last `maxBytes` of a live run's `stdout.log` / `stderr.log` (a UTF-8 character cut at
     * the start is dropped). Empty when the file does not exist.
     * @fails ActorsError `not_found`, `forbidden`.
     */
    const logTail = Effect.fn("Supervisor.logTail")(function* (caller: Caller, ref: string, stream: "stdout" | "stderr", maxBytes: number) {
      const run = yield* get(caller, ref)
      const file = path.join(run.info.state_dir, `${stream}.log`)
      const size = yield* fs.stat(file).pipe(Effect.map((i) => Number(i.size)), Effect.orElseSucceed(() => 0))
      const bytes = yield* readSlice(file, Math.max(0, size - maxBytes), maxBytes)
      return Output.decodeUtf8(Output.utf8SafeTail(bytes, maxBytes))
    })

    /** The caller's session event stream (`all` = every session). */
    const sessionEvents = (caller: Caller, since: number, follow: boolean): Stream.Stream<SessionEvent, ActorsError> =>
      Stream.unwrap(Effect.as(requireSession(caller), events.stream(caller.all ? undefined : caller.session, since, follow)))

    /** Lifecycle events of a run (`view=tail`). */
    const runEvents = Effect.fn("Supervisor.runEvents")(function* (caller: Caller, ref: string, limit: number) {
      const run = yield* get(caller, ref)
      return yield* store.runEvents(run.info.id, limit)
    })

    /** Resolves an actor process's run token to the caller it acts as. */
    const callerForToken = Effect.fn("Supervisor.callerForToken")(function* (token: string) {
      const found = yield* store.runByToken(tokenHash(token))
      return Option.map(found, (r): Caller => ({ session: r.owner, all: false, run: r.id }))
    })

    /**
     * Deletes terminal runs and their state directories: those in `ids` (any age), or every
     * terminal run of the caller's session (every session with `all`) that ended more than
     * `olderThanMs` ago. Active runs are never touched.
     * @returns the ids removed.
     * @fails ActorsError `not_found` / `forbidden` for an id the caller may not see.
     */
    const prune = Effect.fn("Supervisor.prune")(function* (caller: Caller, ids: ReadonlyArray<string> | undefined, olderThanMs: number) {
      yield* requireSession(caller)
      const now = yield* Clock.currentTimeMillis
      if (ids !== undefined) for (const id of ids) yield* get(caller, id)
      else if (caller.run !== undefined) return yield* new ActorsError({ reason: "forbidden", message: "an actor process may only prune runs by id" })
      const removed = (yield* store.pruneRuns(ids === undefined ? now - olderThanMs : now + 1, ids?.map(runIdOf), caller.all ? undefined : caller.session))
        // A run reusing one of these ids right now keeps its fresh state directory.
        .filter((r) => !entries.has(r.id))
      for (const r of removed) {
        yield* fs.remove(r.state_dir, { recursive: true }).pipe(Effect.ignore)
        yield* Effect.all([rooms.removeRun(r.id), mailbox.removeRun(r.id)], { discard: true }).pipe(
          Effect.catchAll((e) => Effect.logWarning(`messages of pruned run:${r.id} not removed: ${e.message}`))
        )
      }
      return removed.map((r) => r.id)
    })

    /**
     * Archives terminal runs: writes `run.json` (the record, its lifecycle events and the
     * recipe snapshot) into the state directory, moves the directory to
     * `TROUPE_HOME/archive/<id>-<generation prefix>/`, then deletes the run from the store (in
     * that order, so a crash never loses the record). Active runs are refused.
     * @returns the archive directories.
     * @fails ActorsError `not_found`, `forbidden`, `invalid` (run still active), `internal`.
     */
    const archive = Effect.fn("Supervisor.archive")(function* (caller: Caller, ids: ReadonlyArray<string>) {
      const out: Array<string> = []
      for (const ref of ids) {
        const run = yield* get(caller, ref)
        const info = run.info
        if (!isTerminal(info.state)) {
          return yield* invalid(`run:${info.id} is ${info.state}; only terminal runs can be archived`)
        }
        const events = yield* store.runEvents(info.id, 100_000)
        const target = path.join(paths.archive, `${info.id}-${info.generation.slice(0, 8)}`)
        const io = (e: { message: string }) => internal(`cannot archive run:${info.id}: ${e.message}`)
        yield* fs.makeDirectory(info.state_dir, { recursive: true, mode: 0o700 }).pipe(Effect.mapError(io))
        yield* fs.writeFileString(
          path.join(info.state_dir, "run.json"),
          JSON.stringify({ run: info, events, recipe: run.snapshot, stdout_tail: run.stdoutTail, stderr_tail: run.stderrTail }, null, 2) + "\n"
        ).pipe(Effect.mapError(io))
        yield* fs.makeDirectory(paths.archive, { recursive: true, mode: 0o700 }).pipe(Effect.mapError(io))
        yield* fs.remove(target, { recursive: true }).pipe(Effect.ignore)
        yield* fs.rename(info.state_dir, target).pipe(Effect.mapError(io))
        const now = yield* Clock.currentTimeMillis
        yield* store.pruneRuns(now + 1, [info.id])
        yield* Effect.all([rooms.removeRun(info.id), mailbox.removeRun(info.id)], { discard: true }).pipe(
          Effect.catchAll((e) => Effect.logWarning(`messages of archived run:${info.id} not removed: ${e.message}`))
        )
        out.push(target)
      }
      return out
    })

    /** The ids of active runs and how many there are (daemon idle exit, status). */
    const activeCount = Effect.sync(() => entries.size)

    /** The runs this supervisor is running now (from memory: no store reads). */
    const activeRuns = Effect.sync((): ReadonlyArray<{ readonly id: string; readonly owner: string; readonly generation: string; readonly stateDir: string }> =>
      [...entries.values()].map((e) => ({ id: e.id, owner: e.owner, generation: e.generation, stateDir: e.stateDir }))
    )

    // --- startup: reap, then retention -------------------------------------------------------

    const reap = Effect.gen(function* () {
      const stale = yield* store.activeRuns()
      // Every leftover process at once: each sweep may wait out the kill grace.
      const signalledPerRun = yield* Effect.forEach(
        stale,
        (run) =>
          Effect.map(
            Effect.forEach(run.processes, (p) => host.reap({ host: "local", pid: p.pid, pgid: p.pgid, startTime: p.start_time, marker: p.marker }), { concurrency: "unbounded" }),
            (counts) => counts.reduce((a, b) => a + b, 0)
          ),
        { concurrency: "unbounded" }
      )
      for (const [i, run] of stale.entries()) {
        const signalled = signalledPerRun[i]!
        const at = yield* Clock.currentTimeMillis
        const error = `its owner stopped before it finished${signalled > 0 ? `; ${signalled} leftover process(es) killed` : ""}`
        yield* store.updateRun(run.id, run.generation, { state: "lost", error, endedAt: at, progress: new Progress({ ...run.progress, active: 0, phase: "lost" }) }, at)
        yield* store.clearProcesses(run.generation)
        yield* store.appendRunEvent({ runId: run.id, generation: run.generation, type: "run.lost", at, data: { error, signalled } })
        yield* events.publish({ session: run.owner, runId: run.id, generation: run.generation, type: "run.lost", at, data: { state: "lost", error }, text: terminalText(run.id, "lost", null, error) })
        yield* Effect.logInfo(`Supervisor: reaped run:${run.id} (${signalled} process(es) signalled)`)
      }
      return stale.length
    })

    yield* fs.makeDirectory(paths.runs, { recursive: true, mode: 0o700 }).pipe(Effect.mapError((e) => internal(e.message)))
    const reaped = yield* reap
    yield* prune({ session: "", all: true }, undefined, config.retentionMs).pipe(
      Effect.catchAll((e) => Effect.logError(`Supervisor: retention failed: ${e.message}`)),
      Effect.repeat(retentionSchedule),
      Effect.forkScoped
    )

    return { spawn, control, get, list, wait, logs, logTail, sessionEvents, runEvents, callerForToken, prune, archive, activeCount, activeRuns, writeStdin, brief, reaped } as const
  })
}) {}

export { type Caller, ControlType, runIdOf, SpawnRequest } from "../domain/Run.js"
