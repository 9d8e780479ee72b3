/**
 * `Store`: the durable state of the runtime in SQLite (WAL) at `TROUPE_HOME/troupe.db`, with
 * versioned migrations (`@effect/sql` Migrator). It holds runs, the process identities they
 * started (for reaping), lifecycle events and each session's event stream.
 *
 * Single writer: only the owner process (the daemon, or the program that provided the
 * in-process runtime) opens it. pi-actors kept this in per-run `status.json` / `events.jsonl`
 * files edited under file locks; troupe replaces those with one transactional database.
 */
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { Effect, Layer, Option, PubSub, Schema, Stream } from "effect"
import * as fs from "node:fs"
import { errorDetail } from "../domain/Diagnostic.js"
import { persistenceError, PersistenceError, toActorsError } from "../domain/PersistenceError.js"
import { ActorsError, activeStates, Progress, RestartPolicy, RunEvent, type RunInfo, type RunState, SessionEvent } from "../domain/Run.js"
import type { ProcessIdentity } from "./Host.js"
import { migrations } from "./internal/StoreMigrations.js"
import { privateFileMode } from "./TroupeConfig.js"
import { infoColumns, type InfoRow, parseObject, processColumns, type ProcessRow, type RunRow, toInfo } from "./internal/StoreRows.js"

/**
 * How often a recipe file was launched (SPEC-runtime §2 usage metadata), keyed by its path.
 * `calls` counts launches since `reset_at` (the first launch after its content changed);
 * `last_called` is in ms since the epoch; `fingerprint` is the sha256 of the file the count
 * belongs to.
 */
export interface RecipeUsage {
  readonly path: string
  readonly id: string
  readonly calls: number
  readonly last_called: number
  readonly fingerprint: string
  readonly reset_at: number | null
}

// ---------------------------------------------------------------------------------------------
// Rows

/** The row a new run starts with. */
export interface NewRun {
  readonly id: string
  readonly generation: string
  readonly owner: string
  readonly parent?: string | undefined
  readonly recipe: string
  /** Resolved template + declarations (`inspect … view=recipe`). */
  readonly snapshot: unknown
  readonly values: Readonly<Record<string, unknown>>
  readonly cwd: string
  readonly stateDir: string
  readonly restart: RestartPolicy
  readonly tokenHash: string
  readonly at: number
}

/** Fields a transition may change. */
export interface RunPatch {
  readonly state?: RunState | undefined
  readonly code?: number | null | undefined
  readonly error?: string | null | undefined
  readonly progress?: Progress | undefined
  readonly restarts?: number | undefined
  readonly generation?: string | undefined
  readonly stdoutTail?: string | undefined
  readonly stderrTail?: string | undefined
  readonly endedAt?: number | null | undefined
}

/** A leaf process a run started, as `addProcess` records it. */
export interface NewProcess {
  /** The leaf's path in the plan (`0.1`). */
  readonly path: string
  readonly attempt: number
  readonly argv: ReadonlyArray<string>
  /** Where it runs and how its host knows it (`host`, pid, pgid, start time, marker, …). */
  readonly identity: ProcessIdentity
}

/** A stored run: its public record plus what only the runtime needs. */
export interface StoredRun {
  readonly info: RunInfo
  readonly snapshot: unknown
  readonly stdoutTail: string
  readonly stderrTail: string
}

const initialProgress = new Progress({ phase: "starting", active: 0, completed: 0, failures: [] })

/** Default bound of session and run event queries. */
const defaultEventLimit = 1000

// ---------------------------------------------------------------------------------------------
// Service

/**
 * The SQLite store. Every method fails with {@link PersistenceError} (naming the method) when
 * SQLite does (the database is damaged, the disk is full); `insertRun` also fails with
 * `ActorsError` `duplicate` when the id is active and `forbidden` when another session owns it. Writes that change a run are fenced by its generation: a patch aimed at an old
 * generation changes nothing and returns false.
 */
/**
 * Creates the database file with mode 0600 before SQLite opens it, and tightens an existing
 * one to 0600 (a store written by an older troupe followed the umask). `:memory:` and other
 * special names are left to SQLite.
 */
const privateDatabaseFile = (filename: string) =>
  Layer.effectDiscard(
    Effect.try({
      try: () => {
        if (filename === "" || filename.startsWith(":") || filename.startsWith("file:")) return
        const fd = fs.openSync(filename, fs.constants.O_RDWR | fs.constants.O_CREAT, privateFileMode)
        try {
          fs.fchmodSync(fd, privateFileMode)
        } finally {
          fs.closeSync(fd)
        }
      },
      catch: (e) => toActorsError(persistenceError(`Store.open ${filename}`)({ message: errorDetail(e), cause: e }))
    })
  )

export class Store extends Effect.Service<Store>()("troupe/Store", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* Migrator.make({})({ loader: migrations }).pipe(Effect.mapError(persistenceError("Store.migrate")))

    // Ids of runs whose record or lifecycle history was written, live only (see `runChanges`).
    const changed = yield* PubSub.unbounded<string>()
    const touched = (id: string) => PubSub.publish(changed, id)

    /** A query of `operation` whose SQL faults become a {@link PersistenceError}. */
    const q = <A>(operation: string, e: Effect.Effect<A, SqlError>) => Effect.mapError(e, persistenceError(operation))

    const processRows = (generations: ReadonlyArray<string>) =>
      generations.length === 0
        ? Effect.succeed<ReadonlyArray<ProcessRow>>([])
        : q("Store.processes", sql<ProcessRow>`SELECT ${sql.literal(processColumns)} FROM processes WHERE ${sql.in("generation", generations)} ORDER BY rowid`)

    /** Run records with their live processes; a row that no longer decodes is a store fault, not a defect. */
    const withProcesses = (rows: ReadonlyArray<InfoRow>) =>
      Effect.flatMap(processRows(rows.filter((r) => activeStates.includes(r.state)).map((r) => r.generation)), (procs) =>
        Effect.try({
          try: () => rows.map((r) => toInfo(r, procs.filter((p) => p.generation === r.generation))),
          catch: (e) => persistenceError("Store.read")({ message: `unreadable run record: ${errorDetail(e)}` })
        })
      )

    /** Inserts a new run (replacing a terminal run of the same id); true when it replaced one. */
    const insertRun = Effect.fn("Store.insertRun")(function* (run: NewRun) {
      return yield* sql.withTransaction(
        Effect.gen(function* () {
          const existing = yield* sql<{ state: RunState; owner: string }>`SELECT state, owner FROM runs WHERE id = ${run.id}`
          // Another session's id is refused the same way whatever its state: only its owner
          // may learn that it is active.
          if (existing[0] !== undefined && existing[0].owner !== run.owner) {
            return yield* new ActorsError({ reason: "forbidden", message: `run:${run.id} belongs to another session; choose another id` })
          }
          if (existing[0] !== undefined && activeStates.includes(existing[0].state)) {
            return yield* new ActorsError({ reason: "duplicate", message: `run:${run.id} is already active` })
          }
          // A reused id replaces the old run: its record and its lifecycle history.
          yield* sql`DELETE FROM runs WHERE id = ${run.id}`
          yield* sql`DELETE FROM run_events WHERE run_id = ${run.id}`
          yield* sql`INSERT INTO runs ${sql.insert({
            id: run.id,
            generation: run.generation,
            owner: run.owner,
            parent: run.parent ?? null,
            recipe: run.recipe,
            snapshot: JSON.stringify(run.snapshot ?? null),
            run_values: JSON.stringify(run.values),
            cwd: run.cwd,
            state_dir: run.stateDir,
            state: "starting",
            restart: JSON.stringify(Schema.encodeSync(RestartPolicy)(run.restart)),
            progress: JSON.stringify(Schema.encodeSync(Progress)(initialProgress)),
            token_hash: run.tokenHash,
            created_at: run.at,
            updated_at: run.at
          })}`
          return existing[0] !== undefined
        })
      ).pipe(Effect.catchTag("SqlError", (e) => Effect.fail(persistenceError("Store.insertRun")(e))), Effect.tap(() => touched(run.id)))
    })

    /** Applies a patch to the run's current generation; false when fenced out. */
    const updateRun = Effect.fn("Store.updateRun")(function* (id: string, generation: string, patch: RunPatch, at: number) {
      const fields: Record<string, unknown> = { updated_at: at }
      if (patch.state !== undefined) fields.state = patch.state
      if (patch.code !== undefined) fields.code = patch.code
      if (patch.error !== undefined) fields.error = patch.error
      if (patch.progress !== undefined) fields.progress = JSON.stringify(Schema.encodeSync(Progress)(patch.progress))
      if (patch.restarts !== undefined) fields.restarts = patch.restarts
      if (patch.generation !== undefined) fields.generation = patch.generation
      if (patch.stdoutTail !== undefined) fields.stdout_tail = patch.stdoutTail
      if (patch.stderrTail !== undefined) fields.stderr_tail = patch.stderrTail
      if (patch.endedAt !== undefined) fields.ended_at = patch.endedAt
      const updated = yield* q("Store.updateRun", sql<{ id: string }>`UPDATE runs SET ${sql.update(fields)} WHERE id = ${id} AND generation = ${generation} RETURNING id`)
      if (updated.length > 0) yield* touched(id)
      return updated.length > 0
    })

    const getRun = Effect.fn("Store.getRun")(function* (id: string) {
      const rows = yield* q("Store.getRun", sql<RunRow>`SELECT * FROM runs WHERE id = ${id}`)
      const row = rows[0]
      if (row === undefined) return Option.none<StoredRun>()
      const [info] = yield* withProcesses([row])
      const snapshot: unknown = yield* Effect.try({
        try: () => JSON.parse(row.snapshot),
        catch: (e) => persistenceError("Store.read")({ message: `unreadable snapshot of run:${id}: ${errorDetail(e)}` })
      })
      return Option.some<StoredRun>({ info: info!, snapshot, stdoutTail: row.stdout_tail, stderrTail: row.stderr_tail })
    })

    /** Runs, newest first; `owner` undefined = every session (operator). */
    const listRuns = Effect.fn("Store.listRuns")(function* (owner: string | undefined) {
      const rows = owner === undefined
        ? yield* q("Store.listRuns", sql<InfoRow>`SELECT ${sql.literal(infoColumns)} FROM runs ORDER BY created_at DESC, id`)
        : yield* q("Store.listRuns", sql<InfoRow>`SELECT ${sql.literal(infoColumns)} FROM runs WHERE owner = ${owner} ORDER BY created_at DESC, id`)
      return yield* withProcesses(rows)
    })

    /** Runs still marked starting/running (reaping on startup). */
    const activeRuns = Effect.fn("Store.activeRuns")(function* () {
      const rows = yield* q("Store.activeRuns", sql<InfoRow>`SELECT ${sql.literal(infoColumns)} FROM runs WHERE state IN ('starting', 'running') ORDER BY created_at`)
      return yield* withProcesses(rows)
    })

    /** The id of the run whose token hashes to `hash`, if any. */
    const runByToken = Effect.fn("Store.runByToken")(function* (hash: string) {
      // Only a live run's token authenticates.
      const rows = yield* q("Store.runByToken", sql<{ id: string; owner: string; generation: string }>`
        SELECT id, owner, generation FROM runs WHERE token_hash = ${hash} AND state IN ('starting', 'running')`)
      return Option.fromNullable(rows[0])
    })

    /**
     * Records a leaf a generation started (replacing the row of the same path and attempt):
     * its host and the host's whole identity of it, which reaping hands back to that host.
     */
    const addProcess = Effect.fn("Store.addProcess")(function* (generation: string, p: NewProcess) {
      yield* q("Store.addProcess", sql`INSERT OR REPLACE INTO processes ${sql.insert({
        generation,
        path: p.path,
        attempt: p.attempt,
        host: p.identity.host,
        pid: p.identity.pid,
        pgid: p.identity.pgid,
        start_time: p.identity.startTime,
        marker: p.identity.marker ?? null,
        argv: JSON.stringify(p.argv),
        identity: JSON.stringify(p.identity)
      })}`)
    })

    const removeProcess = Effect.fn("Store.removeProcess")(function* (generation: string, path: string) {
      yield* q("Store.removeProcess", sql`DELETE FROM processes WHERE generation = ${generation} AND path = ${path}`)
    })

    const clearProcesses = Effect.fn("Store.clearProcesses")(function* (generation: string) {
      yield* q("Store.clearProcesses", sql`DELETE FROM processes WHERE generation = ${generation}`)
    })

    const appendRunEvent = Effect.fn("Store.appendRunEvent")(function* (
      e: { runId: string; generation: string; type: string; at: number; data: Record<string, unknown> }
    ) {
      yield* q("Store.appendRunEvent", sql`INSERT INTO run_events ${sql.insert({ run_id: e.runId, generation: e.generation, type: e.type, at: e.at, data: JSON.stringify(e.data) })}`)
      yield* touched(e.runId)
    })

    /**
     * Ids of runs as their record or lifecycle history is written (insert, update, run event),
     * from the moment of subscribing; nothing is replayed or persisted. What `troupe top`
     * watches (through `Supervisor.watch`) instead of polling the run list.
     */
    const runChanges: Stream.Stream<string> = Stream.fromPubSub(changed)

    /** The last `limit` lifecycle events of a run, oldest first. */
    const runEvents = Effect.fn("Store.runEvents")(function* (runId: string, limit: number) {
      const rows = yield* q("Store.runEvents", sql<{ seq: number; run_id: string; generation: string; type: string; at: number; data: string }>`
        SELECT * FROM (SELECT * FROM run_events WHERE run_id = ${runId} ORDER BY seq DESC LIMIT ${limit}) ORDER BY seq`)
      return rows.map((r) => new RunEvent({ seq: r.seq, run_id: r.run_id, generation: r.generation, type: r.type, at: r.at, data: parseObject(r.data) }))
    })

    /** Appends to a session's stream; returns the stored event with its id (cursor). */
    const appendSessionEvent = Effect.fn("Store.appendSessionEvent")(function* (
      e: { session: string; runId: string; generation: string; type: string; at: number; text: string; data: Record<string, unknown> }
    ) {
      const rows = yield* q("Store.appendSessionEvent", sql<{ id: number }>`INSERT INTO session_events ${sql.insert({
        session: e.session,
        run_id: e.runId,
        generation: e.generation,
        type: e.type,
        at: e.at,
        text: e.text,
        data: JSON.stringify(e.data)
      })} RETURNING id`)
      return new SessionEvent({ id: rows[0]!.id, session: e.session, run_id: e.runId, generation: e.generation, type: e.type, at: e.at, text: e.text, data: e.data })
    })

    /** Events of `session` (undefined = all sessions) with id > `since`, oldest first. */
    const sessionEvents = Effect.fn("Store.sessionEvents")(function* (session: string | undefined, since: number, limit = defaultEventLimit) {
      const rows = session === undefined
        ? yield* q("Store.sessionEvents", sql<{ id: number; session: string; run_id: string; generation: string; type: string; at: number; text: string; data: string }>`
            SELECT * FROM session_events WHERE id > ${since} ORDER BY id LIMIT ${limit}`)
        : yield* q("Store.sessionEvents", sql<{ id: number; session: string; run_id: string; generation: string; type: string; at: number; text: string; data: string }>`
            SELECT * FROM session_events WHERE session = ${session} AND id > ${since} ORDER BY id LIMIT ${limit}`)
      return rows.map((r) => new SessionEvent({ ...r, data: parseObject(r.data) }))
    })

    /**
     * Deletes terminal runs that ended before `before` (epoch ms), with their lifecycle and
     * session events; `ids`
     * restricts it to those runs, `owner` to one session's runs. Returns the deleted runs' ids
     * and state directories.
     */
    const pruneRuns = Effect.fn("Store.pruneRuns")(function* (before: number, ids?: ReadonlyArray<string>, owner?: string) {
      return yield* sql.withTransaction(
        Effect.gen(function* () {
          const byId = ids === undefined ? sql`1 = 1` : sql.in("id", ids)
          const byOwner = owner === undefined ? sql`1 = 1` : sql`owner = ${owner}`
          const rows = yield* sql<{ id: string; state_dir: string }>`
            SELECT id, state_dir FROM runs
            WHERE state NOT IN ('starting', 'running') AND ended_at < ${before} AND ${byId} AND ${byOwner}`
          if (rows.length === 0) return rows
          const gone = rows.map((r) => r.id)
          yield* sql`DELETE FROM run_events WHERE ${sql.in("run_id", gone)}`
          yield* sql`DELETE FROM session_events WHERE ${sql.in("run_id", gone)}`
          yield* sql`DELETE FROM runs WHERE ${sql.in("id", gone)}`
          return rows
        })
      ).pipe(Effect.mapError(persistenceError("Store.pruneRuns")))
    })

    /**
     * Counts one launch of a recipe file. A different `fingerprint` than the stored one (the
     * file was edited) restarts the count at 1 and sets `reset_at`.
     */
    const recordUsage = Effect.fn("Store.recordUsage")(function* (recipe: { readonly path: string; readonly id: string; readonly fingerprint: string }, at: number) {
      yield* q("Store.recordUsage", sql`INSERT INTO recipe_usage ${sql.insert({ path: recipe.path, id: recipe.id, calls: 1, last_called: at, fingerprint: recipe.fingerprint, reset_at: null })}
        ON CONFLICT (path) DO UPDATE SET
          id = excluded.id,
          calls = CASE WHEN fingerprint = excluded.fingerprint THEN calls + 1 ELSE 1 END,
          reset_at = CASE WHEN fingerprint = excluded.fingerprint THEN reset_at ELSE excluded.last_called END,
          fingerprint = excluded.fingerprint,
          last_called = excluded.last_called`)
    })

    /** Usage rows of every recipe file ever launched. */
    const recipeUsage = q("Store.recipeUsage", sql<RecipeUsage>`SELECT path, id, calls, last_called, fingerprint, reset_at FROM recipe_usage ORDER BY path`)

    return {
      runChanges,
      insertRun,
      updateRun,
      getRun,
      listRuns,
      activeRuns,
      runByToken,
      addProcess,
      removeProcess,
      clearProcesses,
      appendRunEvent,
      runEvents,
      appendSessionEvent,
      sessionEvents,
      pruneRuns,
      recordUsage,
      recipeUsage
    } as const
  })
}) {
  /**
   * The store on a SQLite file (its directory must exist), created 0600 whatever the umask
   * (SQLite gives the `-wal` and `-shm` files the database file's mode). The connection takes SQLite's
   * exclusive lock (`locking_mode=EXCLUSIVE`, WAL journal, `synchronous=NORMAL`: a committed
   * write survives a crash of the process) and holds it while the layer lives, so exactly one
   * owner process uses a `TROUPE_HOME` at a time; the kernel drops the lock when the owner dies.
   * @fails ActorsError `unavailable` when another process owns the store, `persistence` when the
   *   file cannot be opened or migrated (the {@link PersistenceError} message).
   */
  static readonly sqlite = (filename: string): Layer.Layer<Store | SqlClient.SqlClient, ActorsError> =>
    Store.Default.pipe(
      Layer.provideMerge(
        Layer.effectDiscard(
          Effect.gen(function* () {
            const sql = yield* SqlClient.SqlClient
            yield* sql`PRAGMA busy_timeout = 250`
            yield* sql`PRAGMA locking_mode = EXCLUSIVE`
            yield* sql`PRAGMA journal_mode = WAL`
            yield* sql`PRAGMA synchronous = NORMAL`
            // The first write takes the exclusive lock; it is held until the connection closes.
            yield* sql`BEGIN IMMEDIATE`
            yield* sql`COMMIT`
          }).pipe(
            Effect.mapError((e) =>
              String((e.cause as { code?: unknown } | undefined)?.code ?? "").startsWith("SQLITE_BUSY")
                ? new ActorsError({ reason: "unavailable", message: `the store ${filename} is in use by another troupe owner (a daemon or an embedded runtime)` })
                : toActorsError(persistenceError(`Store.open ${filename}`)(e))
            )
          )
        ).pipe(Layer.provideMerge(SqliteClient.layer({ filename, disableWAL: true }).pipe(Layer.provide(privateDatabaseFile(filename)))))
      ),
      Layer.mapError((e) => (e instanceof ActorsError ? e : toActorsError(e instanceof PersistenceError ? e : persistenceError(`Store.open ${filename}`)(e))))
    )
}
