/**
 * `Supervisor`: runs (actors) as fibers. Each run is one fiber in a `FiberMap` keyed by run id;
 * what it executes is its kind's business (`runs/RunKind.ts`: `template` runs a CommandGraph
 * plan whose leaves are scoped process groups), so interrupting the fiber — kill, cancel,
 * owner shutdown — stops every process it started before the interruption completes. The
 * store records every transition; the owner's session stream gets the events a coordinator
 * must see.
 *
 * This file is the public service: spawn, control and queries. Its parts live in `runs/`, one
 * job each: lifecycle (generations, restart policy, finish), access (callers, tokens), logs,
 * retention (prune, archive, schedule), reaping (startup, through `Hosts`) and worktree
 * isolation (`runs/RunWorktree.ts` over `Worktrees`: decided here, before the kind's
 * `prepare`, which gets the worktree as its cwd).
 *
 * Corresponds to pi-actors' detached runner (one Node process per run writing `status.json`)
 * and its `control.kill`; troupe keeps every run inside one owner process instead, adds
 * generations (fencing), an OTP-style restart policy and reaping by verified process identity.
 */
import { FileSystem, Path } from "@effect/platform"
import { Chunk, Clock, Deferred, Duration, Effect, Fiber, FiberMap, Layer, Option, Schema, Stream } from "effect"
import { randomBytes, randomUUID } from "node:crypto"
import { describeParseError } from "../domain/Diagnostic.js"
import type { MessageableAddress } from "../domain/Address.js"
import type { EnvelopeBody } from "../domain/Envelope.js"
import { MessageIds, stamp } from "./MessageIds.js"
import { RecipeError } from "../domain/Recipe.js"
import { hostOnText } from "../domain/Template.js"
import {
  ActorsError,
  type Caller,
  ControlResult,
  type ControlType,
  isTerminal,
  matchesFilter,
  RestartPolicy,
  RunId,
  type RunInfo,
  RunOutcome,
  runIdOf,
  type SessionEvent,
  SpawnRequest,
  newRunIdPattern,
  type StatusFilter,
  valuesProblem,
  WatchTick
} from "../domain/Run.js"
import { spawnEnvironment } from "../domain/Environment.js"
import { homePaths, TroupeConfig } from "./TroupeConfig.js"
import { writeSnapshot } from "./Communication.js"
import { Events } from "./Events.js"
import { Hosts } from "./Hosts.js"
import { Mailbox } from "./Mailbox.js"
import { Recipes } from "./Recipes.js"
import { Rooms } from "./Rooms.js"
import { makeRunAccess, mayTouch, requireSession, tokenHash } from "./runs/RunAccess.js"
import type { Entry } from "./runs/RunEntry.js"
import type { RunKind } from "./runs/RunKind.js"
import * as Kinds from "./runs/RunKinds.js"
import { makeRunLifecycle } from "./runs/RunLifecycle.js"
import { makeRunLogs } from "./runs/RunLogs.js"
import { adoptRemoteAgents } from "./runs/RunAdoption.js"
import { reapStale } from "./runs/RunReaping.js"
import { makeRunRetention } from "./runs/RunRetention.js"
import { makeRunWorktree } from "./runs/RunWorktree.js"
import { reportPersistence } from "./internal/ReportPersistence.js"
import { Store } from "./Store.js"
import { Worktrees } from "./Worktrees.js"

export type { RunBrief } from "./runs/RunEntry.js"
export { terminalText } from "./runs/RunLifecycle.js"
export { failureSummary } from "./runs/TemplateRun.js"

/** `watch` coalesces the changes of this window into one tick: 250 ms. */
const watchWindow = "250 millis"

const decodeRunId = Schema.decodeUnknownEither(RunId)
const decodeRestart = Schema.decodeUnknown(RestartPolicy)

const slug = (text: string) => text.replace(/[^A-Za-z0-9_.-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40) || "run"

// ---------------------------------------------------------------------------------------------
// Service

export class Supervisor extends Effect.Service<Supervisor>()("troupe/Supervisor", {
  scoped: Effect.gen(function* () {
    const store = reportPersistence(yield* Store)
    const events = yield* Events
    const hosts = yield* Hosts
    const kinds = yield* Kinds.RunKinds
    const recipes = yield* Recipes
    const rooms = yield* Rooms
    const mailbox = yield* Mailbox
    const messageIds = yield* MessageIds
    const config = yield* TroupeConfig
    const worktrees = yield* Worktrees
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const paths = homePaths(config.home)

    const fibers = yield* FiberMap.make<string>()
    const entries = new Map<string, Entry>()

    const internal = (message: string) => new ActorsError({ reason: "internal", message })
    const invalid = (message: string) => new ActorsError({ reason: "invalid", message })

    /** The kind a stored run ran as (the default when its snapshot names none). */
    const kindOf = (name: string | undefined): RunKind => kinds.get(name ?? Kinds.defaultRunKind) ?? kinds.get(Kinds.defaultRunKind)!
    /** The kind a spawn asks for. */
    const kindNamed = (name: string | undefined) => {
      const kind = kinds.get(name ?? Kinds.defaultRunKind)
      return kind === undefined
        ? Effect.fail(invalid(`Unknown run kind ${JSON.stringify(name)}: this runtime runs ${[...kinds.keys()].join(", ")}`))
        : Effect.succeed(kind)
    }

    const { mustGet, get, brief, callerForToken } = makeRunAccess(store, entries, kindOf)
    const lifecycle = makeRunLifecycle(store, events, entries)
    const { logs, logTail } = makeRunLogs(fs, path, get, entries)
    const retention = makeRunRetention({ store, rooms, mailbox, fs, path, archiveDir: paths.archive, entries, get, release: worktrees.removeRecorded })
    const runWorktree = makeRunWorktree({ worktrees, store, fs, get })
    const { prune, archive } = retention

    /**
     * Queues bytes for a run's live input (`stdin-jsonl`: the first leaf's stdin, SPEC-messaging
     * §4); they reach the process in order while it runs. False when the run is not active or
     * has no live input.
     */
    const writeStdin = (id: string, bytes: Uint8Array) =>
      Effect.suspend(() => {
        const entry = entries.get(id)
        return entry?.prepared.input === undefined || entry.finished ? Effect.succeed(false) : entry.prepared.input.offer(bytes)
      })

    /** Posts an envelope from `run:<id>` (sender `runtime`) to its room; a failure is logged. */
    const postAs = (id: string, parent: string | undefined) => (type: string, summary: string, body: EnvelopeBody) =>
      Effect.gen(function* () {
        const envelope = yield* stamp(
          { to: `room:${id}`, type, summary, body },
          { from: { _tag: "Run", run: id } as MessageableAddress, sender: "runtime" }
        ).pipe(Effect.provideService(MessageIds, messageIds))
        yield* rooms.post({ room: `room:${id}`, envelope, ...(parent === undefined ? {} : { parent: `run:${parent}` }) })
      }).pipe(Effect.catchAll((e) => Effect.logWarning(`run:${id}: ${type} not posted to its room: ${e.message}`)))

    // --- spawn -------------------------------------------------------------------------------

    const chooseId = (req: SpawnRequest, recipe: string) =>
      Effect.gen(function* () {
        if (req.as === undefined) return `${slug(recipe)}-${randomBytes(3).toString("hex")}`
        const raw = runIdOf(req.as)
        const decoded = decodeRunId(raw)
        if (decoded._tag === "Left" || !newRunIdPattern.test(raw)) {
          // The id as given, shortened: the request may carry any amount of text.
          const shown = raw.length > 40 ? `${JSON.stringify(raw.slice(0, 40))}… (${raw.length} characters)` : JSON.stringify(raw)
          return yield* invalid(`Invalid run id ${shown}: run ids are 1–128 letters, digits, _ . or -, not starting with - or .`)
        }
        return decoded.right
      })

    /**
     * Starts a run. Everything that can be checked is checked before anything is written or
     * started: the request shape, the recipe, the id, the template against its values. The run
     * is recorded (`starting`) and its fiber forked before this returns.
     * With `isolation` (or the recipe's) the run gets its own git worktree (`Worktrees.plan`
     * checks, `create` makes it once the state directory exists) and executes there.
     * @fails ActorsError `invalid` (bad id, recipe, template or values; no git repository,
     *   existing branch, dirty base with `worktree-clean`), `duplicate` (the id is
     *   active — nothing was touched), `internal` (store, state directory or worktree not
     *   writable).
     */
    const spawn = Effect.fn("Supervisor.spawn")(function* (caller: Caller, req: SpawnRequest) {
      yield* requireSession(caller)
      const isAgent = req.kind === "agent"
      // A group run takes neither (the kind refuses a template).
      const needsOne = !isAgent && req.kind !== "group"
      if (needsOne ? (req.recipe === undefined) === (req.template === undefined) : req.recipe !== undefined && req.template !== undefined) {
        return yield* invalid("spawn needs exactly one of recipe or template")
      }
      const recipe = req.recipe === undefined
        ? undefined
        : yield* recipes.resolve(req.recipe).pipe(
            Effect.mapError((e: RecipeError) => (e.reason === "not_found" ? new ActorsError({ reason: "not_found", message: e.message }) : invalid(e.message)))
          )
      // An agent recipe (`"kind": "agent"`) makes an agent run.
      const agentRecipe = recipe?.file.kind === "agent"
      if (agentRecipe && req.kind === "template") return yield* invalid(`recipe ${recipe!.id} is an agent recipe ("kind": "agent")`)
      const agentRun = isAgent || agentRecipe
      if (!agentRun && (req.task !== undefined || req.model !== undefined || req.pi !== undefined)) {
        return yield* invalid("task, model and pi apply only to agent runs (kind agent, troupe spawn --agent)")
      }
      const recipeName = recipe?.id ?? (isAgent ? "agent" : "inline")
      const id = yield* chooseId(req, recipeName)
      const active = entries.get(id)
      if (active !== undefined) {
        // Only the owner learns that the id is active; others are told it is not theirs.
        if (active.owner !== caller.session) return yield* new ActorsError({ reason: "forbidden", message: `run:${id} belongs to another session; choose another id` })
        return yield* new ActorsError({ reason: "duplicate", message: `run:${id} is already active` })
      }
      const policy = yield* decodeRestart(req.restart ?? {}).pipe(Effect.mapError((e) => invalid(`Invalid restart policy: ${describeParseError(e, req.restart)}`)))
      const cwd = req.cwd ?? process.cwd()
      if (!path.isAbsolute(cwd)) return yield* invalid(`cwd must be an absolute path: ${cwd}`)
      const problem = valuesProblem(req.values)
      if (problem !== undefined) return yield* invalid(problem)
      if (req.max_log_bytes !== undefined && !(Number.isSafeInteger(req.max_log_bytes) && req.max_log_bytes > 0)) {
        return yield* invalid(`max_log_bytes must be a positive whole number of bytes, not ${req.max_log_bytes}`)
      }

      const stateDir = path.join(paths.runs, id)
      const isolation = req.isolation ?? recipe?.file.isolation
      const planned = isolation === undefined ? undefined : yield* worktrees.plan({ run: id, cwd, dir: path.join(stateDir, "worktree"), isolation })
      const runCwd = planned?.record.cwd ?? cwd
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
      const template = recipe === undefined ? req.template : agentRecipe ? undefined : recipe.template
      const kind = yield* kindNamed(agentRun ? "agent" : req.kind)
      // An agent recipe's `on` is where its Pi runs (a template recipe's applies to its root node).
      const onField = req.on ?? (agentRecipe ? recipe?.file.on : undefined)
      const on = onField === undefined ? undefined : hostOnText(onField)
      const agent = agentRun ? { task: req.task ?? recipe?.file.task, model: req.model ?? recipe?.file.model, pi: req.pi } : undefined
      const prepared = yield* kind.prepare({ id, recipe, template, values, cwd: runCwd, worktree: planned?.record, on, home: config.userHome, mailbox: recipe?.mailbox, agent })

      // The kind is kept in the snapshot when it is not the default (older runs have none).
      const kindField = kind.name === Kinds.defaultRunKind ? {} : { kind: kind.name, ...agent }
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
              ? { template, ...kindField }
              : {
                  ...kindField,
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
            cwd: runCwd,
            stateDir,
            restart: policy,
            tokenHash: tokenHash(token),
            at
          })
          // A reused id starts with a fresh state directory (and git forgets its old worktree).
          yield* worktrees.removeRecorded(stateDir)
          yield* fs.remove(stateDir, { recursive: true }).pipe(Effect.catchAll(() => Effect.void))
          yield* fs.makeDirectory(stateDir, { recursive: true, mode: 0o700 }).pipe(
            Effect.tapError(() => store.updateRun(id, generation, { state: "failed", error: `cannot create ${stateDir}`, endedAt: at }, at).pipe(Effect.ignore)),
            Effect.mapError((e) => internal(`cannot create state directory ${stateDir}: ${e.message}`))
          )
          if (planned !== undefined) {
            const record = yield* worktrees.create(planned, stateDir).pipe(
              Effect.tapError((e) => store.updateRun(id, generation, { state: "failed", error: e.message, endedAt: at }, at).pipe(Effect.ignore))
            )
            yield* store.appendRunEvent({ runId: id, generation, type: "worktree.create", at, data: { ...record } }).pipe(Effect.ignore)
          }

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
            prepared
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
            ...spawnEnvironment(req.env ?? {}),
            TROUPE_RUN: id,
            TROUPE_ADDRESS: `run:${id}`,
            TROUPE_SOCKET: paths.socket,
            TROUPE_TOKEN: token,
            TROUPE_HOME: config.home
          }
          const logs = { stdout: path.join(stateDir, "stdout.log"), stderr: path.join(stateDir, "stderr.log"), maxBytes: req.max_log_bytes }
          const report = planned === undefined ? undefined : runWorktree.report(id, planned.record)
          yield* FiberMap.run(fibers, id, lifecycle.supervise({ entry, policy, stateDir, env, logs, spillDir: path.join(stateDir, "spill"), report, post: postAs(id, caller.run) }))
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
     * construction, not timing: LeafCapture writes each chunk to the log file synchronously in
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

    /** The caller's session event stream (`all` = every session). */
    const sessionEvents = (caller: Caller, since: number, follow: boolean): Stream.Stream<SessionEvent, ActorsError> =>
      Stream.unwrap(Effect.as(requireSession(caller), events.stream(caller.all ? undefined : caller.session, since, follow)))

    /**
     * Ticks while anything a live view shows changes — a run's record or lifecycle history, a
     * room post — at most one per {@link watchWindow}, each with the number of changes it
     * covers (no ids: a tick tells a session nothing about other sessions' runs).
     */
    const watch = (caller: Caller): Stream.Stream<WatchTick, ActorsError> =>
      Stream.unwrap(Effect.as(requireSession(caller), Stream.merge(store.runChanges, rooms.posts).pipe(
        Stream.groupedWithin(10_000, watchWindow),
        Stream.map((changes) => new WatchTick({ changes: Chunk.size(changes) }))
      )))

    /** Lifecycle events of a run (`view=tail`). */
    const runEvents = Effect.fn("Supervisor.runEvents")(function* (caller: Caller, ref: string, limit: number) {
      const run = yield* get(caller, ref)
      return yield* store.runEvents(run.info.id, limit)
    })

    /** The ids of active runs and how many there are (daemon idle exit, status). */
    const activeCount = Effect.sync(() => entries.size)

    /** The runs this supervisor is running now (from memory: no store reads). */
    const activeRuns = Effect.sync((): ReadonlyArray<{ readonly id: string; readonly owner: string; readonly generation: string; readonly stateDir: string }> =>
      [...entries.values()].map((e) => ({ id: e.id, owner: e.owner, generation: e.generation, stateDir: e.stateDir }))
    )

    // --- startup: reap, then retention -------------------------------------------------------

    yield* fs.makeDirectory(paths.runs, { recursive: true, mode: 0o700 }).pipe(Effect.mapError((e) => internal(e.message)))
    // Agents on VMs outlive a daemon: re-attach to them first, reap the rest.
    const adopted = yield* adoptRemoteAgents({
      store, kinds, fs, path, entries, userHome: config.userHome, env: { TROUPE_SOCKET: paths.socket, TROUPE_HOME: config.home },
      supervise: (id, started) => Effect.asVoid(FiberMap.run(fibers, id, lifecycle.supervise(started))),
      post: postAs
    })
    const reaped = yield* reapStale(store, events, hosts, adopted)
    yield* retention.schedule(config.retentionMs)

    return { spawn, control, get, list, wait, logs, logTail, diff: runWorktree.diff, sessionEvents, watch, runEvents, callerForToken, prune, archive, activeCount, activeRuns, writeStdin, brief, reaped } as const
  }),
  dependencies: [Kinds.layer.pipe(Layer.provideMerge(Worktrees.Default))]
}) {}

export { type Caller, ControlType, runIdOf, SpawnRequest } from "../domain/Run.js"
