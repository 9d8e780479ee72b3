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
import { Effect, Layer, Option, Schema } from "effect"
import {
  ActorsError,
  activeStates,
  Progress,
  ProcessRecord,
  RestartPolicy,
  RunEvent,
  RunInfo,
  type RunState,
  SessionEvent
} from "../domain/Run.js"

// ---------------------------------------------------------------------------------------------
// Migrations

const migrations = Migrator.fromRecord({
  "1_runs": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE runs (
      id TEXT PRIMARY KEY,
      generation TEXT NOT NULL UNIQUE,
      owner TEXT NOT NULL,
      parent TEXT,
      recipe TEXT NOT NULL,
      snapshot TEXT NOT NULL,
      run_values TEXT NOT NULL,
      cwd TEXT NOT NULL,
      state_dir TEXT NOT NULL,
      state TEXT NOT NULL,
      code INTEGER,
      error TEXT,
      restart TEXT NOT NULL,
      restarts INTEGER NOT NULL DEFAULT 0,
      progress TEXT NOT NULL,
      token_hash TEXT NOT NULL,
      stdout_tail TEXT NOT NULL DEFAULT '',
      stderr_tail TEXT NOT NULL DEFAULT '',
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      ended_at INTEGER
    )`
    yield* sql`CREATE INDEX runs_owner ON runs (owner, created_at)`
    yield* sql`CREATE INDEX runs_state ON runs (state)`
    yield* sql`CREATE INDEX runs_token ON runs (token_hash)`
    yield* sql`CREATE TABLE processes (
      generation TEXT NOT NULL,
      path TEXT NOT NULL,
      attempt INTEGER NOT NULL,
      pid INTEGER NOT NULL,
      pgid INTEGER NOT NULL,
      start_time INTEGER NOT NULL,
      marker TEXT,
      argv TEXT NOT NULL,
      PRIMARY KEY (generation, path, attempt)
    )`
    yield* sql`CREATE TABLE run_events (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      run_id TEXT NOT NULL,
      generation TEXT NOT NULL,
      type TEXT NOT NULL,
      at INTEGER NOT NULL,
      data TEXT NOT NULL
    )`
    yield* sql`CREATE INDEX run_events_run ON run_events (run_id, seq)`
    yield* sql`CREATE TABLE session_events (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      session TEXT NOT NULL,
      run_id TEXT NOT NULL,
      generation TEXT NOT NULL,
      type TEXT NOT NULL,
      at INTEGER NOT NULL,
      text TEXT NOT NULL,
      data TEXT NOT NULL
    )`
    yield* sql`CREATE INDEX session_events_session ON session_events (session, id)`
  }),
  "2_recipe_usage": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE recipe_usage (
      path TEXT PRIMARY KEY,
      id TEXT NOT NULL,
      calls INTEGER NOT NULL,
      last_called INTEGER NOT NULL,
      fingerprint TEXT NOT NULL,
      reset_at INTEGER
    )`
  }),
  // Messaging (SPEC-messaging §4, §5): durable inboxes, room timelines, rosters. Used by
  // `Mailbox` and `Rooms`; see docs/messaging.md "Mailboxes" and "Rooms".
  "3_messages": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    // One row per (envelope id) delivery to an actor address.
    yield* sql`CREATE TABLE inbox (
      id TEXT PRIMARY KEY,
      address TEXT NOT NULL,
      run_id TEXT NOT NULL,
      state TEXT NOT NULL,
      envelope TEXT NOT NULL,
      consumer TEXT,
      error TEXT,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    )`
    yield* sql`CREATE INDEX inbox_address ON inbox (address, id)`
    yield* sql`CREATE INDEX inbox_state ON inbox (address, state, id)`
    // `next` (oldest open record) and retention (oldest terminal records) in index order.
    yield* sql`CREATE INDEX inbox_open ON inbox (address, id) WHERE state IN ('queued', 'delivered')`
    yield* sql`CREATE INDEX inbox_terminal ON inbox (address, id) WHERE state IN ('handled', 'failed')`
    yield* sql`CREATE INDEX inbox_run ON inbox (run_id)`
    // Per room: its compaction record (entries with seq < before_seq were removed).
    yield* sql`CREATE TABLE rooms (
      room TEXT PRIMARY KEY,
      removed INTEGER NOT NULL DEFAULT 0,
      before_seq INTEGER,
      compacted_at INTEGER
    )`
    yield* sql`CREATE TABLE room_entries (
      room TEXT NOT NULL,
      seq INTEGER NOT NULL,
      id TEXT NOT NULL,
      envelope TEXT NOT NULL,
      received_at INTEGER NOT NULL,
      PRIMARY KEY (room, seq)
    )`
    yield* sql`CREATE UNIQUE INDEX room_entries_id ON room_entries (room, id)`
    yield* sql`CREATE TABLE room_members (
      room TEXT NOT NULL,
      address TEXT NOT NULL,
      parent TEXT,
      role TEXT NOT NULL,
      caps TEXT NOT NULL,
      claim TEXT,
      status TEXT NOT NULL,
      display TEXT,
      glyph TEXT,
      joined_at INTEGER NOT NULL,
      joined_seq INTEGER NOT NULL,
      last_seen INTEGER NOT NULL,
      PRIMARY KEY (room, address)
    ) WITHOUT ROWID`
  }),
  // Idempotency keys of sends (`MessageKeys`; docs/messaging.md "Retries and idempotency keys"):
  // (sender scope, client key) → the message id the first send got.
  "4_message_keys": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE message_keys (
      scope TEXT NOT NULL,
      key TEXT NOT NULL,
      id TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      PRIMARY KEY (scope, key)
    ) WITHOUT ROWID`
    yield* sql`CREATE INDEX message_keys_created ON message_keys (created_at)`
  }),
  // Sender provenance (SPEC-messaging §2; `Envelope.sender`): every stored envelope says who
  // vouches for its `from`. Rows written before it get what was the only possibility then:
  // the runtime's own default-room join → `runtime`; any other `run:` / `branch:` sender had
  // to be that run's actor → `token`; `coordinator` / `session:` senders were the run's
  // owner → `session:<owner>` (`session:unknown` when the run record is gone).
  "5_message_sender": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`UPDATE inbox SET envelope = json_set(envelope, '$.sender',
      CASE
        WHEN json_extract(envelope, '$.from') LIKE 'run:%' OR json_extract(envelope, '$.from') LIKE 'branch:%' THEN 'token'
        ELSE 'session:' || COALESCE((SELECT owner FROM runs WHERE runs.id = inbox.run_id), 'unknown')
      END)
      WHERE json_extract(envelope, '$.sender') IS NULL`
    yield* sql`UPDATE room_entries SET envelope = json_set(envelope, '$.sender',
      CASE
        WHEN json_extract(envelope, '$.type') = 'actor.join' AND json_extract(envelope, '$.summary') = 'Run joined default room'
          AND json_extract(envelope, '$.from') = 'run:' || substr(room, 6) THEN 'runtime'
        WHEN json_extract(envelope, '$.from') LIKE 'run:%' OR json_extract(envelope, '$.from') LIKE 'branch:%' THEN 'token'
        ELSE 'session:' || COALESCE((SELECT owner FROM runs WHERE runs.id = substr(room_entries.room, 6)), 'unknown')
      END)
      WHERE json_extract(envelope, '$.sender') IS NULL`
  })
})

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

/** The columns a run record needs; `snapshot`, the output tails and the token stay out of lists. */
const infoColumns =
  "id, generation, owner, parent, recipe, run_values, cwd, state_dir, state, code, error, restart, restarts, progress, created_at, updated_at, ended_at"

/** A `runs` row as read for a run record (`infoColumns`). */
interface InfoRow {
  readonly id: string
  readonly generation: string
  readonly owner: string
  readonly parent: string | null
  readonly recipe: string
  readonly run_values: string
  readonly cwd: string
  readonly state_dir: string
  readonly state: RunState
  readonly code: number | null
  readonly error: string | null
  readonly restart: string
  readonly restarts: number
  readonly progress: string
  readonly created_at: number
  readonly updated_at: number
  readonly ended_at: number | null
}

/** A whole `runs` row (`getRun`). */
interface RunRow extends InfoRow {
  readonly snapshot: string
  readonly stdout_tail: string
  readonly stderr_tail: string
}

interface ProcessRow {
  readonly generation: string
  readonly path: string
  readonly pid: number
  readonly pgid: number
  readonly start_time: number
  readonly marker: string | null
  readonly argv: string
}

const decodeRestart = Schema.decodeUnknownSync(Schema.parseJson(RestartPolicy))
const decodeProgress = Schema.decodeUnknownSync(Schema.parseJson(Progress))
const parseObject = (text: string): Record<string, unknown> => {
  const v: unknown = JSON.parse(text)
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {}
}

const toProcess = (p: ProcessRow) =>
  new ProcessRecord({
    path: p.path,
    pid: p.pid,
    pgid: p.pgid,
    start_time: p.start_time,
    marker: p.marker ?? undefined,
    argv: JSON.parse(p.argv) as Array<string>
  })

const toInfo = (r: InfoRow, processes: ReadonlyArray<ProcessRow>): RunInfo =>
  new RunInfo({
    id: r.id,
    address: `run:${r.id}`,
    generation: r.generation,
    owner: r.owner,
    parent: r.parent ?? undefined,
    recipe: r.recipe,
    state: r.state,
    code: r.code,
    error: r.error ?? undefined,
    cwd: r.cwd,
    state_dir: r.state_dir,
    values: parseObject(r.run_values),
    restart: decodeRestart(r.restart),
    restarts: r.restarts,
    progress: decodeProgress(r.progress),
    processes: processes.map(toProcess),
    created_at: r.created_at,
    updated_at: r.updated_at,
    ended_at: r.ended_at
  })

/** A stored run: its public record plus what only the runtime needs. */
export interface StoredRun {
  readonly info: RunInfo
  readonly snapshot: unknown
  readonly stdoutTail: string
  readonly stderrTail: string
}

const initialProgress = new Progress({ phase: "starting", active: 0, completed: 0, failures: [] })

const internal = (e: SqlError | Migrator.MigrationError) =>
  new ActorsError({ reason: "internal", message: `store: ${e.message}` })

/** Default bound of session and run event queries. */
const defaultEventLimit = 1000

// ---------------------------------------------------------------------------------------------
// Service

/**
 * The SQLite store. Every method fails with `ActorsError` `internal` when SQLite does (the
 * database is corrupt, the disk is full); `insertRun` fails with `duplicate` when the id is
 * active. Writes that change a run are fenced by its generation: a patch aimed at an old
 * generation changes nothing and returns false.
 */
export class Store extends Effect.Service<Store>()("troupe/Store", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* Migrator.make({})({ loader: migrations }).pipe(Effect.mapError(internal))

    const q = <A>(e: Effect.Effect<A, SqlError>) => Effect.mapError(e, internal)

    const processRows = (generations: ReadonlyArray<string>) =>
      generations.length === 0
        ? Effect.succeed<ReadonlyArray<ProcessRow>>([])
        : q(sql<ProcessRow>`SELECT generation, path, pid, pgid, start_time, marker, argv FROM processes WHERE ${sql.in("generation", generations)} ORDER BY rowid`)

    const withProcesses = (rows: ReadonlyArray<InfoRow>) =>
      Effect.map(processRows(rows.filter((r) => activeStates.includes(r.state)).map((r) => r.generation)), (procs) =>
        rows.map((r) => toInfo(r, procs.filter((p) => p.generation === r.generation)))
      )

    /** Inserts a new run (replacing a terminal run of the same id); true when it replaced one. */
    const insertRun = Effect.fn("Store.insertRun")(function* (run: NewRun) {
      return yield* sql.withTransaction(
        Effect.gen(function* () {
          const existing = yield* sql<{ state: RunState; owner: string }>`SELECT state, owner FROM runs WHERE id = ${run.id}`
          if (existing[0] !== undefined && activeStates.includes(existing[0].state)) {
            return yield* new ActorsError({ reason: "duplicate", message: `run:${run.id} is already active` })
          }
          if (existing[0] !== undefined && existing[0].owner !== run.owner) {
            return yield* new ActorsError({ reason: "forbidden", message: `run:${run.id} belongs to another session; choose another id` })
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
      ).pipe(Effect.catchTag("SqlError", (e) => Effect.fail(internal(e))))
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
      const changed = yield* q(sql<{ id: string }>`UPDATE runs SET ${sql.update(fields)} WHERE id = ${id} AND generation = ${generation} RETURNING id`)
      return changed.length > 0
    })

    const getRun = Effect.fn("Store.getRun")(function* (id: string) {
      const rows = yield* q(sql<RunRow>`SELECT * FROM runs WHERE id = ${id}`)
      const row = rows[0]
      if (row === undefined) return Option.none<StoredRun>()
      const [info] = yield* withProcesses([row])
      return Option.some<StoredRun>({ info: info!, snapshot: JSON.parse(row.snapshot), stdoutTail: row.stdout_tail, stderrTail: row.stderr_tail })
    })

    /** Runs, newest first; `owner` undefined = every session (operator). */
    const listRuns = Effect.fn("Store.listRuns")(function* (owner: string | undefined) {
      const rows = owner === undefined
        ? yield* q(sql<InfoRow>`SELECT ${sql.literal(infoColumns)} FROM runs ORDER BY created_at DESC, id`)
        : yield* q(sql<InfoRow>`SELECT ${sql.literal(infoColumns)} FROM runs WHERE owner = ${owner} ORDER BY created_at DESC, id`)
      return yield* withProcesses(rows)
    })

    /** Runs still marked starting/running (reaping on startup). */
    const activeRuns = Effect.fn("Store.activeRuns")(function* () {
      const rows = yield* q(sql<InfoRow>`SELECT ${sql.literal(infoColumns)} FROM runs WHERE state IN ('starting', 'running') ORDER BY created_at`)
      return yield* withProcesses(rows)
    })

    /** The id of the run whose token hashes to `hash`, if any. */
    const runByToken = Effect.fn("Store.runByToken")(function* (hash: string) {
      // Only a live run's token authenticates.
      const rows = yield* q(sql<{ id: string; owner: string; generation: string }>`
        SELECT id, owner, generation FROM runs WHERE token_hash = ${hash} AND state IN ('starting', 'running')`)
      return Option.fromNullable(rows[0])
    })

    const addProcess = Effect.fn("Store.addProcess")(function* (
      generation: string,
      p: { path: string; attempt: number; pid: number; pgid: number; startTime: number; marker?: string | undefined; argv: ReadonlyArray<string> }
    ) {
      yield* q(sql`INSERT OR REPLACE INTO processes ${sql.insert({
        generation,
        path: p.path,
        attempt: p.attempt,
        pid: p.pid,
        pgid: p.pgid,
        start_time: p.startTime,
        marker: p.marker ?? null,
        argv: JSON.stringify(p.argv)
      })}`)
    })

    const removeProcess = Effect.fn("Store.removeProcess")(function* (generation: string, path: string) {
      yield* q(sql`DELETE FROM processes WHERE generation = ${generation} AND path = ${path}`)
    })

    const clearProcesses = Effect.fn("Store.clearProcesses")(function* (generation: string) {
      yield* q(sql`DELETE FROM processes WHERE generation = ${generation}`)
    })

    const appendRunEvent = Effect.fn("Store.appendRunEvent")(function* (
      e: { runId: string; generation: string; type: string; at: number; data: Record<string, unknown> }
    ) {
      yield* q(sql`INSERT INTO run_events ${sql.insert({ run_id: e.runId, generation: e.generation, type: e.type, at: e.at, data: JSON.stringify(e.data) })}`)
    })

    /** The last `limit` lifecycle events of a run, oldest first. */
    const runEvents = Effect.fn("Store.runEvents")(function* (runId: string, limit: number) {
      const rows = yield* q(sql<{ seq: number; run_id: string; generation: string; type: string; at: number; data: string }>`
        SELECT * FROM (SELECT * FROM run_events WHERE run_id = ${runId} ORDER BY seq DESC LIMIT ${limit}) ORDER BY seq`)
      return rows.map((r) => new RunEvent({ seq: r.seq, run_id: r.run_id, generation: r.generation, type: r.type, at: r.at, data: parseObject(r.data) }))
    })

    /** Appends to a session's stream; returns the stored event with its id (cursor). */
    const appendSessionEvent = Effect.fn("Store.appendSessionEvent")(function* (
      e: { session: string; runId: string; generation: string; type: string; at: number; text: string; data: Record<string, unknown> }
    ) {
      const rows = yield* q(sql<{ id: number }>`INSERT INTO session_events ${sql.insert({
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
        ? yield* q(sql<{ id: number; session: string; run_id: string; generation: string; type: string; at: number; text: string; data: string }>`
            SELECT * FROM session_events WHERE id > ${since} ORDER BY id LIMIT ${limit}`)
        : yield* q(sql<{ id: number; session: string; run_id: string; generation: string; type: string; at: number; text: string; data: string }>`
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
      ).pipe(Effect.mapError(internal))
    })

    /**
     * Counts one launch of a recipe file. A different `fingerprint` than the stored one (the
     * file was edited) restarts the count at 1 and sets `reset_at`.
     */
    const recordUsage = Effect.fn("Store.recordUsage")(function* (recipe: { readonly path: string; readonly id: string; readonly fingerprint: string }, at: number) {
      yield* q(sql`INSERT INTO recipe_usage ${sql.insert({ path: recipe.path, id: recipe.id, calls: 1, last_called: at, fingerprint: recipe.fingerprint, reset_at: null })}
        ON CONFLICT (path) DO UPDATE SET
          id = excluded.id,
          calls = CASE WHEN fingerprint = excluded.fingerprint THEN calls + 1 ELSE 1 END,
          reset_at = CASE WHEN fingerprint = excluded.fingerprint THEN reset_at ELSE excluded.last_called END,
          fingerprint = excluded.fingerprint,
          last_called = excluded.last_called`)
    })

    /** Usage rows of every recipe file ever launched. */
    const recipeUsage = q(sql<RecipeUsage>`SELECT path, id, calls, last_called, fingerprint, reset_at FROM recipe_usage ORDER BY path`)

    return {
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
   * The store on a SQLite file (its directory must exist). The connection takes SQLite's
   * exclusive lock (`locking_mode=EXCLUSIVE`, WAL journal, `synchronous=NORMAL`: a committed
   * write survives a crash of the process) and holds it while the layer lives, so exactly one
   * owner process uses a `TROUPE_HOME` at a time; the kernel drops the lock when the owner dies.
   * @fails ActorsError `unavailable` when another process owns the store, `internal` otherwise.
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
                : internal(e)
            )
          )
        ).pipe(Layer.provideMerge(SqliteClient.layer({ filename, disableWAL: true })))
      ),
      Layer.mapError((e) => (e instanceof ActorsError ? e : new ActorsError({ reason: "internal", message: `store ${filename}: ${e.message}` })))
    )
}
