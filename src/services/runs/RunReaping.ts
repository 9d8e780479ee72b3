/**
 * Startup reaping: runs left `starting` / `running` by an owner that died are marked `lost`,
 * and what is left of their processes is killed on the host each process row names, through
 * `Hosts.reap` (verified identity: leader pid + start time, or marker). A process whose host
 * is unknown here (or cannot be reached) is reported — logged and recorded as a
 * `run.reap_failed` event on its run — never guessed at or signalled locally.
 *
 * pi-actors had no reaping (a dead runner's children lived on); pi-vers left VMs running.
 */
import type { RunStore } from "./RunEntry.js"
import { Clock, Effect, Either } from "effect"
import { Progress, type ProcessRecord } from "../../domain/Run.js"
import type { Events } from "../Events.js"
import type { HostError } from "../Host.js"
import type { Hosts } from "../Hosts.js"
import type { Store } from "../Store.js"
import { terminalText } from "./RunLifecycle.js"

/** A process that could not be reaped: its row and why. */
interface Unreaped {
  readonly process: ProcessRecord
  readonly host: string
  readonly error: HostError
}

/**
 * Reaps every run the store still shows active (but those in `skip`, re-attached by RunAdoption.ts): kills leftovers (all runs' processes at once,
 * since each sweep may wait out the kill grace), marks the runs `lost` and publishes their
 * follow-up events.
 * @returns how many runs were reaped.
 */
export const reapStale = (store: RunStore, events: Events, hosts: Hosts["Type"], skip: ReadonlySet<string> = new Set()) =>
  Effect.gen(function* () {
    const stale = (yield* store.activeRuns()).filter((run) => !skip.has(run.id))
    const perRun = yield* Effect.forEach(
      stale,
      (run) =>
        Effect.forEach(
          run.processes,
          (p) => {
            const host = p.host
            return hosts.reap(p.identity).pipe(
              Effect.either,
              Effect.map(Either.mapLeft((error): Unreaped => ({ process: p, host, error })))
            )
          },
          { concurrency: "unbounded" }
        ),
      { concurrency: "unbounded" }
    )
    for (const [i, run] of stale.entries()) {
      const outcomes = perRun[i]!
      const signalled = outcomes.reduce((n, o) => n + (Either.isRight(o) ? o.right : 0), 0)
      const unreaped = outcomes.filter(Either.isLeft).map((o) => o.left)
      const at = yield* Clock.currentTimeMillis
      for (const u of unreaped) {
        yield* Effect.logError(`Supervisor: leftover process ${u.process.pid} of run:${run.id} on host ${u.host} was not reaped: ${u.error.message}`)
        yield* store.appendRunEvent({
          runId: run.id,
          generation: run.generation,
          type: "run.reap_failed",
          at,
          data: { host: u.host, pid: u.process.pid, pgid: u.process.pgid, path: u.process.path, reason: u.error.reason, error: u.error.message }
        })
      }
      const hostsLeft = [...new Set(unreaped.map((u) => u.host))]
      const error = `its owner stopped before it finished${signalled > 0 ? `; ${signalled} leftover process(es) killed` : ""}` +
        (unreaped.length > 0 ? `; ${unreaped.length} process(es) on ${hostsLeft.join(", ")} could not be reaped` : "")
      yield* store.updateRun(run.id, run.generation, { state: "lost", error, endedAt: at, progress: new Progress({ ...run.progress, active: 0, phase: "lost" }) }, at)
      yield* store.clearProcesses(run.generation)
      yield* store.appendRunEvent({ runId: run.id, generation: run.generation, type: "run.lost", at, data: { error, signalled } })
      yield* events.publish({ session: run.owner, runId: run.id, generation: run.generation, type: "run.lost", at, data: { state: "lost", error }, text: terminalText(run.id, "lost", null, error) })
      yield* Effect.logInfo(`Supervisor: reaped run:${run.id} (${signalled} process(es) signalled)`)
    }
    return stale.length
  })
