/**
 * The VM ledger's SQL (table `vm_ledger`, migration `7_vm_ledger`): insert a VM troupe
 * created, mark it deleted, read records. Rows are decoded with Schema; SQL faults and rows
 * that no longer decode become a `PersistenceError` naming the operation (`VmLedger.record`, …).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Option, Schema } from "effect"
import { persistenceError, type PersistenceError } from "../../domain/PersistenceError.js"
import { VmDeleteReason, VmRecord, VmSource } from "../../domain/Vms.js"

const Row = Schema.Struct({
  vm_id: Schema.String,
  session: Schema.String,
  run: Schema.NullOr(Schema.String),
  source: VmSource,
  parent: Schema.NullOr(Schema.String),
  kept: Schema.Number,
  created_at: Schema.Number,
  deleted_at: Schema.NullOr(Schema.Number),
  delete_reason: Schema.NullOr(VmDeleteReason)
})

const RecordFromRow = Schema.transform(Row, Schema.typeSchema(VmRecord), {
  strict: true,
  decode: (r) => new VmRecord({ ...r, kept: r.kept !== 0 }),
  encode: (r) => ({ ...r, kept: r.kept ? 1 : 0 })
})
const decodeRows = Schema.decodeUnknown(Schema.Array(RecordFromRow))

export interface VmLedger {
  readonly record: (r: VmRecord) => Effect.Effect<void, PersistenceError>
  /** Marks a live VM deleted; false when it was not in the ledger or already deleted. */
  readonly markDeleted: (vmId: string, reason: VmDeleteReason, at: number) => Effect.Effect<boolean, PersistenceError>
  readonly get: (vmId: string) => Effect.Effect<Option.Option<VmRecord>, PersistenceError>
  /** Live VMs (not deleted), oldest first; `session` undefined = every session. */
  readonly live: (session: string | undefined) => Effect.Effect<ReadonlyArray<VmRecord>, PersistenceError>
  /** Every record, oldest first (live and deleted). */
  readonly all: () => Effect.Effect<ReadonlyArray<VmRecord>, PersistenceError>
}

/** The ledger over the store's `SqlClient`. */
export const makeLedger = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const read = (operation: string, e: Effect.Effect<ReadonlyArray<unknown>, SqlError>) =>
    e.pipe(
      Effect.flatMap((rows) => decodeRows(rows)),
      Effect.mapError(persistenceError(operation))
    )
  const ledger: VmLedger = {
    record: (r) =>
      sql`INSERT INTO vm_ledger ${sql.insert({ ...r, kept: r.kept ? 1 : 0 })} ON CONFLICT (vm_id) DO UPDATE SET
        session = excluded.session, run = excluded.run, source = excluded.source, parent = excluded.parent,
        kept = excluded.kept, created_at = excluded.created_at, deleted_at = NULL, delete_reason = NULL`.pipe(
        Effect.asVoid,
        Effect.mapError(persistenceError("VmLedger.record"))
      ),
    markDeleted: (vmId, reason, at) =>
      sql<{ vm_id: string }>`UPDATE vm_ledger SET deleted_at = ${at}, delete_reason = ${reason}
        WHERE vm_id = ${vmId} AND deleted_at IS NULL RETURNING vm_id`.pipe(
        Effect.map((rows) => rows.length > 0),
        Effect.mapError(persistenceError("VmLedger.markDeleted"))
      ),
    get: (vmId) =>
      Effect.map(read("VmLedger.get", sql`SELECT * FROM vm_ledger WHERE vm_id = ${vmId}`), (rows) => Option.fromNullable(rows[0])),
    live: (session) =>
      read(
        "VmLedger.live",
        session === undefined
          ? sql`SELECT * FROM vm_ledger WHERE deleted_at IS NULL ORDER BY created_at, vm_id`
          : sql`SELECT * FROM vm_ledger WHERE deleted_at IS NULL AND session = ${session} ORDER BY created_at, vm_id`
      ),
    all: () => read("VmLedger.all", sql`SELECT * FROM vm_ledger ORDER BY created_at, vm_id`)
  }
  return ledger
})
