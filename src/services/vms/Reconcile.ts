/**
 * Startup reconciliation of VMs (`Vms.reconcile`; docs/vers.md "The ledger and
 * reconciliation"). Lists the VMs the API key sees; of those labelled with this home's
 * `troupe-home` and a `troupe-run`, deletes each whose run is not in the store or is terminal,
 * unless it is kept (`troupe-keep=true` or kept in the ledger). Ledger VMs that Vers no longer
 * has are marked deleted (`gone`). Each deletion is recorded in the ledger (`reconcile`),
 * logged, and published to its owning session as a `vm.reconciled` event.
 *
 * It never fails: with no API key (or Vers unreachable) it does nothing and says why.
 */
import { Clock, Effect, Option } from "effect"
import type { PersistenceError } from "../../domain/PersistenceError.js"
import { isTerminal, type RunState } from "../../domain/Run.js"
import { labelKeys, type ReconciledVm, reconcileSummary, VmReconcileReport } from "../../domain/Vms.js"
import type { VersApiShape } from "../VersApi.js"
import type { VmLedger } from "./Ledger.js"

export interface ReconcileDeps {
  readonly api: VersApiShape
  readonly ledger: VmLedger
  /** This home's `troupe-home` label. */
  readonly home: string
  readonly getRun: (id: string) => Effect.Effect<Option.Option<{ readonly info: { readonly state: RunState } }>, PersistenceError>
  readonly publish: (e: { session: string; runId: string; generation: string; type: string; at: number; text: string; data: Record<string, unknown> }) => Effect.Effect<unknown, unknown>
  /** Deletes at Vers and marks the ledger (`reconcile`). */
  readonly remove: (vmId: string) => Effect.Effect<void, { readonly message: string }>
}

const skipped = (why: string) => new VmReconcileReport({ skipped: why, deleted: [], failed: [], gone: [] })

export const reconcile = (deps: ReconcileDeps): Effect.Effect<VmReconcileReport> =>
  Effect.gen(function* () {
    // Ledger rows newer than the listing are not judged by it (a VM created meanwhile).
    const listedAt = yield* Clock.currentTimeMillis
    const listed = yield* Effect.either(deps.api.list())
    if (listed._tag === "Left") {
      const e = listed.left
      const report = skipped(e._tag === "VersAuthError" && e.status === undefined && e.message.includes("none is set") ? "no Vers API key is set" : e.message)
      yield* Effect.logInfo(reconcileSummary(report))
      return report
    }
    const vms = listed.right
    const ledgerLive = yield* Effect.orElseSucceed(deps.ledger.live(undefined), () => [])
    const kept = new Set(ledgerLive.filter((r) => r.kept).map((r) => r.vm_id))
    const deleted: Array<ReconciledVm> = []
    const failed: Array<{ vm_id: string; message: string }> = []
    for (const vm of vms) {
      const labels = vm.labels
      const run = labels[labelKeys.run]
      if (labels[labelKeys.home] !== deps.home || run === undefined) continue
      if (labels[labelKeys.keep] === "true" || kept.has(vm.vmId)) continue
      const stored = yield* Effect.either(deps.getRun(run))
      if (stored._tag === "Left") {
        failed.push({ vm_id: vm.vmId, message: stored.left.message })
        continue
      }
      const state = Option.map(stored.right, (r) => r.info.state)
      if (Option.isSome(state) && !isTerminal(state.value)) continue
      const reason = Option.isNone(state) ? `run ${run} is gone` : `run ${run} is ${state.value}`
      const session = labels[labelKeys.session] ?? "cli"
      const removed = yield* Effect.either(deps.remove(vm.vmId))
      if (removed._tag === "Left") {
        failed.push({ vm_id: vm.vmId, message: removed.left.message })
        continue
      }
      deleted.push({ vm_id: vm.vmId, session, run, reason })
      yield* deps.publish({
        session,
        runId: run,
        generation: "",
        type: "vm.reconciled",
        at: yield* Clock.currentTimeMillis,
        text: `Deleted VM ${vm.vmId}: ${reason} (startup reconciliation)`,
        data: { vm_id: vm.vmId, run, reason }
      }).pipe(Effect.ignore)
    }
    const present = new Set(vms.map((v) => v.vmId as string))
    const gone: Array<string> = []
    const now = yield* Clock.currentTimeMillis
    for (const r of ledgerLive) {
      if (present.has(r.vm_id) || r.created_at >= listedAt) continue
      if (yield* Effect.orElseSucceed(deps.ledger.markDeleted(r.vm_id, "gone", now), () => false)) gone.push(r.vm_id)
    }
    const report = new VmReconcileReport({ skipped: null, deleted, failed, gone })
    yield* Effect.logInfo(reconcileSummary(report))
    return report
  })
