/**
 * Retention of terminal runs (SPEC-runtime §3): `prune` deletes them with their state
 * directories and messages (a run's git worktree is removed, its branch kept), `archive` moves them under `TROUPE_HOME/archive/`, and the
 * retention schedule prunes every session's runs older than `retentionMs` hourly (and once at
 * startup). Active runs are never touched. pi-actors kept run directories until removed by
 * hand; this is troupe's.
 */
import type { RunStore } from "./RunEntry.js"
import type { FileSystem, Path } from "@effect/platform"
import { Clock, Effect, Schedule, type Scope } from "effect"
import { ActorsError, type Caller, isTerminal, runIdOf } from "../../domain/Run.js"
import type { Mailbox } from "../Mailbox.js"
import type { Rooms } from "../Rooms.js"
import type { Store, StoredRun } from "../Store.js"
import { requireSession } from "./RunAccess.js"
import type { Entries } from "./RunEntry.js"
import { privateFileMode } from "../TroupeConfig.js"

/** How often retention runs (and once at startup). */
const retentionSchedule = Schedule.spaced("1 hour")

export interface RetentionDeps {
  readonly store: RunStore
  readonly rooms: Rooms
  readonly mailbox: Mailbox
  readonly fs: FileSystem.FileSystem
  readonly path: Path.Path
  /** `TROUPE_HOME/archive`. */
  readonly archiveDir: string
  readonly entries: Entries
  readonly get: (caller: Caller, ref: string) => Effect.Effect<StoredRun, ActorsError>
  /** Releases what a run holds outside its state directory (its git worktree); never fails. */
  readonly release: (stateDir: string) => Effect.Effect<void>
}

export const makeRunRetention = ({ store, rooms, mailbox, fs, path, archiveDir, entries, get, release }: RetentionDeps) => {
  const internal = (message: string) => new ActorsError({ reason: "internal", message })
  const invalid = (message: string) => new ActorsError({ reason: "invalid", message })

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
      yield* release(r.state_dir)
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
      const target = path.join(archiveDir, `${info.id}-${info.generation.slice(0, 8)}`)
      const io = (e: { message: string }) => internal(`cannot archive run:${info.id}: ${e.message}`)
      yield* fs.makeDirectory(info.state_dir, { recursive: true, mode: 0o700 }).pipe(Effect.mapError(io))
      yield* fs.writeFileString(
        path.join(info.state_dir, "run.json"),
        JSON.stringify({ run: info, events, recipe: run.snapshot, stdout_tail: run.stdoutTail, stderr_tail: run.stderrTail }, null, 2) + "\n",
        { mode: privateFileMode }
      ).pipe(Effect.mapError(io))
      yield* fs.makeDirectory(archiveDir, { recursive: true, mode: 0o700 }).pipe(Effect.mapError(io))
      yield* fs.remove(target, { recursive: true }).pipe(Effect.ignore)
      yield* release(info.state_dir)
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

  /** Prunes every session's runs older than `retentionMs` now and hourly, in the scope. */
  const schedule = (retentionMs: number): Effect.Effect<void, never, Scope.Scope> =>
    prune({ session: "", all: true }, undefined, retentionMs).pipe(
      Effect.catchAll((e) => Effect.logError(`Supervisor: retention failed: ${e.message}`)),
      Effect.repeat(retentionSchedule),
      Effect.forkScoped,
      Effect.asVoid
    )

  return { prune, archive, schedule } as const
}
