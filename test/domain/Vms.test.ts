/**
 * The VM domain data that crosses the RPC boundary: errors survive an encode/decode round trip
 * as their classes with their sentences, records decode strictly, and the reconciliation
 * summary line reads as documented.
 */
import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import { PersistenceError } from "../../src/domain/PersistenceError.js"
import { ActorsError } from "../../src/domain/Run.js"
import { VersAuthError, VmNotFound } from "../../src/domain/VersErrors.js"
import { reconcileSummary, VmReconcileReport, VmRecord, VmsError } from "../../src/domain/Vms.js"

const roundTrip = (e: VmsError) => Schema.decodeUnknownSync(VmsError)(JSON.parse(JSON.stringify(Schema.encodeSync(VmsError)(e))))

describe("VM domain", () => {
  it("errors round-trip as their classes, with their sentences", () => {
    const errors: Array<VmsError> = [
      new VmNotFound({ operation: "status", vmId: "v1", message: "Vers could not find VM v1 (status): it may have been deleted" }),
      new VersAuthError({ operation: "list", message: "Vers list needs an API key, but none is set" }),
      new PersistenceError({ operation: "VmLedger.record", detail: "SQLITE_FULL" }),
      new ActorsError({ reason: "forbidden", message: "VM v1 belongs to session cli" })
    ]
    for (const e of errors) {
      const back = roundTrip(e)
      expect(back).toBeInstanceOf(e.constructor)
      expect(back.message).toBe(e.message)
    }
  })

  it("a record with an unknown source or delete reason does not decode", () => {
    const ok = { vm_id: "v", session: "s", run: null, source: "root", parent: null, kept: false, created_at: 1, deleted_at: null, delete_reason: null }
    expect(Schema.decodeUnknownSync(VmRecord)(ok)).toBeInstanceOf(VmRecord)
    expect(() => Schema.decodeUnknownSync(VmRecord)({ ...ok, source: "teleport" })).toThrow()
    expect(() => Schema.decodeUnknownSync(VmRecord)({ ...ok, delete_reason: "lost" })).toThrow()
  })

  it("the summary line names what reconciliation did or why it did nothing", () => {
    expect(reconcileSummary(new VmReconcileReport({ skipped: "no Vers API key is set", deleted: [], failed: [], gone: [] }))).toBe(
      "VM reconciliation skipped: no Vers API key is set"
    )
    expect(reconcileSummary(new VmReconcileReport({
      skipped: null,
      deleted: [{ vm_id: "v1", session: "s", run: "r1", reason: "run r1 is lost" }],
      failed: [{ vm_id: "v2", message: "Vers is unavailable" }],
      gone: ["v3"]
    }))).toBe("VM reconciliation: deleted 1 orphaned VM(s) (v1 of run:r1); could not delete v2; 1 ledger VM(s) no longer exist")
  })
})
