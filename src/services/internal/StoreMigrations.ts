/**
 * The store's schema history: every table the runtime keeps in `TROUPE_HOME/troupe.db`, as the
 * ordered `@effect/sql` Migrator list `Store` applies on open. A migration is never edited once
 * released; a change is a new numbered entry that also carries the rows older versions wrote.
 *
 * pi-actors kept this state in per-run `status.json` / `events.jsonl` files and had no
 * migrations; the tables here are troupe's.
 */
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

export const migrations = Migrator.fromRecord({
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
  }),
  // Host v2 (ARCHITECTURE.md "Hosts, leaf processes and run kinds"): a process row records the
  // host its leaf ran on and the host's whole identity of it (JSON, `ProcessIdentity` of
  // src/services/Host.ts), so reaping after a restart dispatches to that host. Rows written
  // before it were started by the only host there was, the local one.
  "6_process_host": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`ALTER TABLE processes ADD COLUMN host TEXT NOT NULL DEFAULT 'local'`
    yield* sql`ALTER TABLE processes ADD COLUMN identity TEXT NOT NULL DEFAULT '{}'`
    yield* sql`UPDATE processes SET identity = json_object('host', host, 'pid', pid, 'pgid', pgid, 'startTime', start_time)
      WHERE identity = '{}' AND marker IS NULL`
    yield* sql`UPDATE processes SET identity = json_object('host', host, 'pid', pid, 'pgid', pgid, 'startTime', start_time, 'marker', marker)
      WHERE identity = '{}' AND marker IS NOT NULL`
  }),
  // The VM ledger (`Vms`; docs/vers.md "The ledger and reconciliation"): one row per VM troupe
  // created — its owner (session, run), source and parent, whether it outlives its run, and
  // its create and delete times (`deleted_at` null = troupe believes it exists).
  "7_vm_ledger": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE vm_ledger (
      vm_id TEXT PRIMARY KEY,
      session TEXT NOT NULL,
      run TEXT,
      source TEXT NOT NULL,
      parent TEXT,
      kept INTEGER NOT NULL DEFAULT 0,
      created_at INTEGER NOT NULL,
      deleted_at INTEGER,
      delete_reason TEXT
    ) WITHOUT ROWID`
    yield* sql`CREATE INDEX vm_ledger_live ON vm_ledger (deleted_at, session)`
  })
})
