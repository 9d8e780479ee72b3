/**
 * Store migrations on databases written by older versions, and how store faults surface.
 *
 * Store migration 5 (`Envelope.sender`, SPEC-messaging §2): envelopes stored before sender
 * provenance existed — room timeline entries and inbox records — get the only provenance that
 * was possible then: `runtime` for a spawn's default-room join, `token` for other `run:` /
 * `branch:` senders, `session:<owner>` for `coordinator` / `session:` senders
 * (`session:unknown` when the run record is gone). Rows that have a sender keep it.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { join } from "node:path"
import { ActorsError } from "../../src/domain/Run.js"
import { reportPersistence } from "../../src/services/internal/ReportPersistence.js"
import { Store } from "../../src/services/Store.js"
import { scratch } from "../support/graph.js"

/** The `processes` table as troupe wrote it before migration 6 (no host, no identity); later migrations not applied either. */
const processesBefore6 = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`DROP TABLE processes`
  yield* sql`CREATE TABLE processes (
    generation TEXT NOT NULL, path TEXT NOT NULL, attempt INTEGER NOT NULL, pid INTEGER NOT NULL, pgid INTEGER NOT NULL,
    start_time INTEGER NOT NULL, marker TEXT, argv TEXT NOT NULL, PRIMARY KEY (generation, path, attempt))`
  // Tables of later migrations did not exist yet (the Migrator only runs ids above the last one applied).
  yield* sql`DROP TABLE vm_ledger`
  yield* sql`DELETE FROM effect_sql_migrations WHERE migration_id >= 6`
})

/** A `runs` row written straight into the table (as an older troupe, or a damaged file, left it). */
const insertRun = (fields: Record<string, unknown>) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`INSERT INTO runs ${sql.insert({
      id: "old", generation: "g1", owner: "s1", recipe: "inline", snapshot: "{}", run_values: "{}", cwd: "/", state_dir: "/tmp/old",
      state: "done", restart: "{}", progress: "{}", token_hash: "h", created_at: 1, updated_at: 1, ...fields
    })}`)

const envelope = (id: string, from: string, to: string, type: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ id, received_at: 1, to, from, type, ...extra })

describe("store migration 5: sender provenance", () => {
  it.live("fills in sender for rows stored before it, and keeps the ones that have one", () => {
    const file = join(scratch("troupe-store-migration-"), "troupe.db")
    const legacy = Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* insertRun({})
      const entries = [
        envelope("msg_1", "run:old", "room:old", "actor.join", { summary: "Run joined default room", body: { role: "run", status: "present" } }),
        envelope("msg_2", "branch:old/a", "room:old", "note.posted"),
        envelope("msg_3", "coordinator", "room:old", "note.posted"),
        envelope("msg_4", "run:old", "room:old", "actor.join", { summary: "I joined again" }),
        envelope("msg_5", "coordinator", "room:gone", "note.posted"),
        envelope("msg_6", "branch:old/a", "room:old", "note.posted", { sender: "session:s9" })
      ]
      yield* sql`INSERT INTO room_entries ${sql.insert(entries.map((e, i) => {
        const { id, to } = JSON.parse(e) as { id: string; to: string }
        return { room: to, seq: i + 1, id, envelope: e, received_at: 1 }
      }))}`
      const records = [
        { id: "msg_7", address: "run:old", run_id: "old", envelope: envelope("msg_7", "coordinator", "run:old", "task.do") },
        { id: "msg_8", address: "branch:old/b", run_id: "old", envelope: envelope("msg_8", "branch:old/a", "branch:old/b", "task.do") },
        { id: "msg_9", address: "run:gone", run_id: "gone", envelope: envelope("msg_9", "session:s2", "run:gone", "task.do") }
      ]
      yield* sql`INSERT INTO inbox ${sql.insert(records.map((r) => ({ ...r, state: "queued", created_at: 1, updated_at: 1 })))}`
      // As if the database were written by a troupe before migration 5.
      yield* processesBefore6
      yield* sql`DELETE FROM effect_sql_migrations WHERE migration_id = 5`
    })
    const read = Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const done = yield* sql<{ n: number }>`SELECT COUNT(*) AS n FROM effect_sql_migrations WHERE migration_id = 5`
      const entries = yield* sql<{ id: string; envelope: string }>`SELECT id, envelope FROM room_entries ORDER BY id`
      const inbox = yield* sql<{ id: string; envelope: string }>`SELECT id, envelope FROM inbox ORDER BY id`
      const senders = Object.fromEntries([...entries, ...inbox].map((r) => [r.id, (JSON.parse(r.envelope) as { sender?: string }).sender]))
      return { done: done[0]!.n, senders, body: (JSON.parse(entries[0]!.envelope) as { body: unknown }).body }
    })
    return Effect.gen(function* () {
      yield* legacy.pipe(Effect.provide(Store.sqlite(file)))
      const before = yield* read.pipe(Effect.provide(SqliteClient.layer({ filename: file })))
      // The legacy rows exist without a sender, and migration 5 is not recorded.
      expect(before.done).toBe(0)
      expect(before.senders.msg_3).toBeUndefined()
      const after = yield* read.pipe(Effect.provide(Store.sqlite(file)))
      expect(after.done).toBe(1)
      expect(after.senders).toEqual({
        msg_1: "runtime",
        msg_2: "token",
        msg_3: "session:s1",
        msg_4: "token",
        msg_5: "session:unknown",
        msg_6: "session:s9",
        msg_7: "session:s1",
        msg_8: "token",
        msg_9: "session:unknown"
      })
      expect(after.body).toEqual({ role: "run", status: "present" })
    })
  })
})

describe("store migration 6: process host and identity", () => {
  it.live("gives process rows stored before it the local host and their identity, and stores new identities whole", () => {
    const file = join(scratch("troupe-store-migration-"), "troupe.db")
    const legacy = Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* insertRun({ state: "running", progress: JSON.stringify({ phase: "running", active: 2, completed: 0, failures: [] }) })
      // As if the database were written by a troupe before migration 6: the columns are gone.
      yield* processesBefore6
      yield* sql`INSERT INTO processes ${sql.insert([
        { generation: "g1", path: "0", attempt: 1, pid: 4101, pgid: 4101, start_time: 777, marker: "leaf-a", argv: JSON.stringify(["sleep", "30"]) },
        { generation: "g1", path: "1", attempt: 1, pid: 4102, pgid: 4102, start_time: 778, marker: null, argv: JSON.stringify(["cat"]) }
      ])}`
    })
    const columns = Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      return (yield* sql<{ name: string }>`PRAGMA table_info(processes)`).map((c) => c.name)
    })
    return Effect.gen(function* () {
      yield* legacy.pipe(Effect.provide(Store.sqlite(file)))
      const before = yield* columns.pipe(Effect.provide(SqliteClient.layer({ filename: file })))
      expect(before).not.toContain("host")
      expect(before).not.toContain("identity")
      const after = yield* Effect.gen(function* () {
        const store = yield* Store
        const migrated = yield* store.getRun("old")
        // A host may add fields of its own to the identity; they are kept.
        const identity = { host: "broker", pid: 5001, pgid: 5001, startTime: 900, marker: "leaf-c", connection: 3 }
        yield* store.addProcess("g1", { path: "2", attempt: 1, argv: ["node", "x.mjs"], identity })
        const added = yield* store.getRun("old")
        return { migrated, added, columns: yield* columns }
      }).pipe(Effect.provide(Store.sqlite(file)))
      expect(after.columns).toEqual(expect.arrayContaining(["host", "identity"]))
      const rows = Option.getOrThrow(after.migrated).info.processes
      expect(rows.map((p) => ({ path: p.path, host: p.host, pid: p.pid, argv: p.argv, identity: p.identity }))).toEqual([
        { path: "0", host: "local", pid: 4101, argv: ["sleep", "30"], identity: { host: "local", pid: 4101, pgid: 4101, startTime: 777, marker: "leaf-a" } },
        { path: "1", host: "local", pid: 4102, argv: ["cat"], identity: { host: "local", pid: 4102, pgid: 4102, startTime: 778 } }
      ])
      const added = Option.getOrThrow(after.added).info.processes.find((p) => p.path === "2")
      expect(added?.host).toBe("broker")
      expect(added?.marker).toBe("leaf-c")
      expect(added?.identity).toEqual({ host: "broker", pid: 5001, pgid: 5001, startTime: 900, marker: "leaf-c", connection: 3 })
    })
  })
})

describe("store faults", () => {
  it.live("fail with a PersistenceError naming the operation, and reach the public API as ActorsError persistence", () => {
    const file = join(scratch("troupe-store-fault-"), "troupe.db")
    return Effect.gen(function* () {
      const store = yield* Store
      const sql = yield* SqlClient.SqlClient
      yield* sql`DROP TABLE runs`
      const fault = yield* Effect.flip(store.listRuns(undefined))
      expect(fault._tag).toBe("PersistenceError")
      expect(fault.operation).toBe("Store.listRuns")
      expect(fault.message).toMatch(/^The troupe store failed during Store\.listRuns \(.*no such table: runs.*\); check free disk space/)
      const reported = yield* Effect.flip(reportPersistence(store).listRuns(undefined))
      expect(reported).toBeInstanceOf(ActorsError)
      expect(reported.reason).toBe("persistence")
      expect(reported.message).toBe(fault.message)
    }).pipe(Effect.provide(Store.sqlite(file)))
  })

  it.live("a run row that no longer decodes is a PersistenceError, not a defect", () => {
    const file = join(scratch("troupe-store-fault-"), "troupe.db")
    return Effect.gen(function* () {
      const store = yield* Store
      const sql = yield* SqlClient.SqlClient
      yield* insertRun({ id: "bad", snapshot: "{", progress: "not json" })
      const fault = yield* Effect.flip(store.getRun("bad"))
      expect(fault._tag).toBe("PersistenceError")
      expect(fault._tag === "PersistenceError" ? fault.operation : undefined).toBe("Store.read")
      expect(fault.message).toMatch(/^The troupe store failed during Store\.read \(unreadable run record: /)
    }).pipe(Effect.provide(Store.sqlite(file)))
  })
})
