/**
 * A run's lifecycle once started: generations under an OTP-style restart policy, progress and
 * lifecycle events from its process events, the terminal transition (store record, follow-up
 * event, waiters released) and what an interrupted run records. What a generation executes is
 * the run kind's business ({@link PreparedRun.execute}).
 *
 * Corresponds to pi-actors' detached runner writing `status.json` and its `control.kill`;
 * generations (fencing) and restarts are troupe's.
 */
import type { RunStore } from "./RunEntry.js"
import type { EnvelopeBody } from "../../domain/Envelope.js"
import { Cause, Clock, Deferred, Duration, Effect, Option } from "effect"
import { randomUUID } from "node:crypto"
import { ActorsError, maxBackoffMs, Progress, type RestartPolicy, type RunState } from "../../domain/Run.js"
import type { Events } from "../Events.js"
import type { Store } from "../Store.js"
import type { Entries, Entry } from "./RunEntry.js"
import type { RunEvent, RunReport } from "./RunKind.js"

const backoffFor = (policy: RestartPolicy, restart: number) =>
  Math.min(maxBackoffMs, policy.backoff_ms * 2 ** Math.max(0, restart - 1))

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

/**
 * A report taken at the end of every generation (a worktree's diff stat): recorded as a
 * lifecycle event `type` with `data`, kept as `data[key]` of the terminal follow-up event, and
 * its `text` ends the follow-up text.
 */
export interface GenerationReport {
  readonly type: string
  readonly key: string
  readonly data: Record<string, unknown>
  readonly text: string
}

/** What a started run needs for its lifecycle. */
export interface Started {
  readonly entry: Entry
  readonly policy: RestartPolicy
  readonly stateDir: string
  readonly env: Record<string, string>
  readonly logs: { readonly stdout: string; readonly stderr: string; readonly maxBytes?: number | undefined }
  readonly spillDir: string
  /** Taken after each generation (never fails; undefined = nothing to report). */
  readonly report?: Effect.Effect<GenerationReport | undefined> | undefined
  /** Posts an envelope of the run to its room `room:<id>` (type, summary, body); never fails. */
  readonly post: (type: string, summary: string, body: EnvelopeBody) => Effect.Effect<void>
}

/** The lifecycle over the store, the session events and the active runs. */
export const makeRunLifecycle = (store: RunStore, events: Events, entries: Entries) => {
  const internal = (message: string) => new ActorsError({ reason: "internal", message })

  const persistProgress = (entry: Entry) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      store.updateRun(entry.id, entry.generation, { progress: new Progress({ ...entry.progress, failures: [...entry.progress.failures] }) }, now)
    )

  /** Appends a lifecycle event of the run's current generation. */
  const recordEvent = (entry: Entry, type: string, data: Record<string, unknown>) =>
    Effect.flatMap(Clock.currentTimeMillis, (at) => store.appendRunEvent({ runId: entry.id, generation: entry.generation, type, at, data }))

  /** Store failures inside a running run are logged, never silently dropped or fatal to it. */
  const logged = <A>(what: string, e: Effect.Effect<A, ActorsError>) =>
    e.pipe(Effect.asVoid, Effect.catchAll((err) => Effect.logError(`Supervisor: ${what} failed: ${err.message}`)))

  /** Process events: processes recorded for reaping, progress, lifecycle and follow-up events. */
  const onRunEvent = (entry: Entry) => (e: RunEvent) =>
    logged(
      e.type,
      Effect.gen(function* () {
        const generation = entry.generation
        if (e.type === "log.truncated") {
          // Recorded (inspect events) and told to the owner once per stream and generation.
          const data = { stream: e.stream, file: e.file, limit_bytes: e.limit_bytes }
          yield* recordEvent(entry, "log.truncated", data)
          const at = yield* Clock.currentTimeMillis
          return yield* events.publish({
            session: entry.owner,
            runId: entry.id,
            generation,
            type: "log.truncated",
            at,
            data,
            text: `Run ${entry.id}: ${e.stream}.log reached its limit of ${e.limit_bytes} bytes; later ${e.stream} output is not kept in it.`
          })
        }
        if (e.type === "command.start") {
          entry.progress.active++
          entry.progress.phase = e.label ?? e.path
          yield* store.addProcess(generation, { path: e.path, attempt: e.attempt, argv: e.argv, identity: { host: e.host, pid: e.pid, pgid: e.pgid, startTime: e.startTime, marker: e.marker } })
          yield* recordEvent(entry, "command.start", { path: e.path, label: e.label, argv: e.argv, host: e.host, pid: e.pid, pgid: e.pgid, attempt: e.attempt })
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
    detail: {
      code: number | null
      error?: string | undefined
      stdout?: string | undefined
      stderr?: string | undefined
      followUp: boolean
      report?: GenerationReport | undefined
    }
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
              data: { state, code: detail.code, error: detail.error, ...(detail.report === undefined ? {} : { [detail.report.key]: detail.report.data }) },
              text: terminalText(entry.id, state, detail.code, detail.error) + (detail.report === undefined ? "" : `\n${detail.report.text}`)
            })
          }
        })
      )
      const final = yield* store.getRun(entry.id).pipe(Effect.option, Effect.map(Option.flatten))
      if (Option.isSome(final)) yield* Deferred.succeed(entry.done, final.value.info)
      else yield* Deferred.fail(entry.done, internal(`run:${entry.id} vanished from the store`)).pipe(Effect.asVoid)
    }).pipe(Effect.uninterruptible)

  /** A report of the running generation: a run event, a follow-up to the owner, a room post. */
  const report = (s: Started) => (r: RunReport) =>
    Effect.gen(function* () {
      const { entry } = s
      yield* logged(r.type, recordEvent(entry, r.type, r.data))
      const at = yield* Clock.currentTimeMillis
      yield* logged(r.type, events.publish({ session: entry.owner, runId: entry.id, generation: entry.generation, type: r.type, at, data: r.data, text: r.text }))
      yield* s.post(r.roomType, r.summary, r.data)
    })

  const runGeneration = (s: Started) =>
    Effect.gen(function* () {
      const { entry } = s
      const at = yield* Clock.currentTimeMillis
      entry.progress = { phase: "running", active: 0, completed: 0, failures: [] }
      yield* logged("start", store.updateRun(entry.id, entry.generation, { state: "running", progress: new Progress({ ...entry.progress }) }, at))
      yield* logged("start", recordEvent(entry, "run.start", { generation: entry.generation }))
      return yield* entry.prepared.execute({
        id: entry.id,
        owner: entry.owner,
        generation: entry.generation,
        stateDir: s.stateDir,
        env: s.env,
        logs: s.logs,
        spillDir: s.spillDir,
        onEvent: onRunEvent(entry),
        report: report(s)
      })
    })

  /** Runs generations until the run is terminal for good (restart policy). */
  const runLoop = (s: Started) =>
    Effect.gen(function* () {
      const { entry, policy } = s
      const restartTimes: Array<number> = []
      let restarts = 0
      for (;;) {
        const { state, code, error, stdout, stderr } = yield* runGeneration(s)
        const report = s.report === undefined ? undefined : yield* s.report
        if (report !== undefined) yield* logged(report.type, recordEvent(entry, report.type, report.data))
        const wants = policy.restart === "always" || (policy.restart === "on-failure" && state === "failed")
        if (!wants) return yield* finish(entry, state, { code, error, stdout, stderr, followUp: true, report })
        const now = yield* Clock.currentTimeMillis
        const recent = restartTimes.filter((t) => now - t < policy.restart_window_ms)
        if (recent.length >= policy.max_restarts) {
          const why = `restart limit reached (${policy.max_restarts} restarts within ${policy.restart_window_ms} ms)${error === undefined ? "" : `; last failure: ${error}`}`
          return yield* finish(entry, "failed", { code: code === 0 ? 1 : code, error: why, stdout, stderr, followUp: true, report })
        }
        restartTimes.splice(0, restartTimes.length, ...recent, now)
        restarts++
        const delay = backoffFor(policy, restarts)
        const next = randomUUID()
        yield* logged("restart", recordEvent(entry, "run.restart", { code, state, restart: restarts, delay_ms: delay, next_generation: next }))
        yield* logged("restart", store.clearProcesses(entry.generation))
        const moved = yield* store.updateRun(entry.id, entry.generation, { generation: next, state: "starting", code, restarts, stdoutTail: stdout, stderrTail: stderr }, now).pipe(
          Effect.catchAll((e) => Effect.as(Effect.logError(`Supervisor: restart of run:${entry.id} not recorded: ${e.message}`), false))
        )
        if (!moved) {
          return yield* finish(entry, state, { code, error: error ?? "restart could not be recorded in the store", stdout, stderr, followUp: true, report })
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

  /**
   * The run's fiber body: generations until terminal; a defect fails the run with one line;
   * an interruption records kill / cancel / owner stop. The entry goes (and its live input
   * closes) only when the fiber is done: the id stays active until then.
   */
  const supervise = (s: Started) =>
    runLoop(s).pipe(
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause)
          ? Effect.failCause(cause)
          : finish(s.entry, "failed", { code: 1, error: `internal error: ${Cause.pretty(cause).split("\n")[0]}`, followUp: true })
      ),
      Effect.onInterrupt(() => finishInterrupted(s.entry)),
      Effect.ensuring(
        Effect.zipRight(
          Effect.sync(() => {
            if (entries.get(s.entry.id) === s.entry) entries.delete(s.entry.id)
          }),
          s.entry.prepared.input === undefined ? Effect.void : s.entry.prepared.input.close
        )
      )
    )

  return { supervise, finish, recordEvent } as const
}
