/**
 * VMs as troupe owns them (SPEC-vers §2, last paragraph): who owns a VM, the ledger record
 * the store keeps for it, what `troupe vm` / the `vers_vm_*` tools answer, and the report of
 * startup reconciliation. Pure data that crosses the RPC boundary (the CLI imports it without
 * the runtime).
 *
 * Ownership (docs/vers.md "VMs and ownership"):
 * - a VM a person creates from the CLI or Pi (`create`, `branch`, `restore`) belongs to the
 *   calling session and lives until someone deletes it (pi-vers' behaviour: VMs outlive the
 *   tool call);
 * - a VM a run creates (`troupe vm create --run <run>`, or any `vm create` from inside an
 *   actor process, or `Vms.acquire` in a run's scope) belongs to that run and is deleted when
 *   the run ends, unless it was created with `keep` (`--keep`);
 * - every VM carries the {@link labelKeys} labels, so startup reconciliation can find the
 *   run-owned VMs of a daemon that died and delete those whose run is gone.
 */
import { Schema } from "effect"
import { PersistenceError } from "./PersistenceError.js"
import { ActorsError } from "./Run.js"
import { VersError } from "./VersErrors.js"

/**
 * The labels troupe puts on every VM it creates:
 * - `troupe-session`: the owning session (`cli`, a Pi session id);
 * - `troupe-run`: the owning run's id, only on run-owned VMs;
 * - `troupe-home`: which troupe store owns it (a hash of host name and `TROUPE_HOME`), so
 *   two troupe homes on one Vers account never reconcile each other's VMs away;
 * - `troupe-keep`: `"true"` on a run-owned VM that outlives its run (`--keep`).
 */
export const labelKeys = {
  session: "troupe-session",
  run: "troupe-run",
  home: "troupe-home",
  keep: "troupe-keep"
} as const

/** How troupe got a VM: a new root VM, a branch of a VM, a restore of a commit. */
export const VmSource = Schema.Literal("root", "branch", "restore")
export type VmSource = typeof VmSource.Type

/**
 * Why a ledger VM is gone: `user` (deleted by `vm delete` / `vers_vm_delete`), `scope` (its
 * run's scope closed), `reconcile` (startup reconciliation found its run gone), `gone` (Vers
 * no longer had it when troupe looked).
 */
export const VmDeleteReason = Schema.Literal("user", "scope", "reconcile", "gone")
export type VmDeleteReason = typeof VmDeleteReason.Type

/**
 * One VM of the ledger (table `vm_ledger`): its owner, where it came from, whether it is
 * kept past its run, and its create / delete times (ms since the epoch).
 */
export class VmRecord extends Schema.Class<VmRecord>("VmRecord")({
  vm_id: Schema.String,
  /** The owning session. */
  session: Schema.String,
  /** The owning run's id (run-owned VMs), else null. */
  run: Schema.NullOr(Schema.String),
  source: VmSource,
  /** The VM a branch came from, or the commit a restore came from; null for a root VM. */
  parent: Schema.NullOr(Schema.String),
  /** A run-owned VM that outlives its run. */
  kept: Schema.Boolean,
  created_at: Schema.Number,
  deleted_at: Schema.NullOr(Schema.Number),
  delete_reason: Schema.NullOr(VmDeleteReason)
}) {}

/** A VM as `vm ls` / `vm status` show it: Vers' view plus troupe's ledger record, if troupe made it. */
export class VmEntry extends Schema.Class<VmEntry>("VmEntry")({
  vm_id: Schema.String,
  /** `booting`, `running`, `paused`, `sleeping`, `dead`, or a newer state kept verbatim. */
  state: Schema.String,
  /** ms since the epoch. */
  created_at: Schema.Number,
  labels: Schema.Record({ key: Schema.String, value: Schema.String }),
  /** troupe's record of it; null for a VM troupe did not create (or another troupe home did). */
  ledger: Schema.NullOr(VmRecord)
}) {}

/** What `vm commit` answers. */
export class VmCommitted extends Schema.Class<VmCommitted>("VmCommitted")({
  vm_id: Schema.String,
  commit_id: Schema.String
}) {}

/** One VM reconciliation deleted (or failed to). */
export const ReconciledVm = Schema.Struct({
  vm_id: Schema.String,
  session: Schema.String,
  run: Schema.String,
  /** Why it was deleted: `run <id> is gone` / `run <id> is <state>`. */
  reason: Schema.String
})
export type ReconciledVm = typeof ReconciledVm.Type

/**
 * What startup reconciliation did: `skipped` says why it did nothing (no API key, Vers
 * unreachable); `deleted` are run-owned VMs whose run was gone; `failed` could not be deleted
 * (retried at the next start); `gone` are ledger VMs Vers no longer has (marked deleted).
 */
export class VmReconcileReport extends Schema.Class<VmReconcileReport>("VmReconcileReport")({
  skipped: Schema.NullOr(Schema.String),
  deleted: Schema.Array(ReconciledVm),
  failed: Schema.Array(Schema.Struct({ vm_id: Schema.String, message: Schema.String })),
  gone: Schema.Array(Schema.String)
}) {}

/** One line of a report, for the daemon log. */
export const reconcileSummary = (r: VmReconcileReport): string =>
  r.skipped !== null
    ? `VM reconciliation skipped: ${r.skipped}`
    : `VM reconciliation: deleted ${r.deleted.length} orphaned VM(s)${r.deleted.length === 0 ? "" : ` (${r.deleted.map((d) => `${d.vm_id} of run:${d.run}`).join(", ")})`}` +
      (r.failed.length === 0 ? "" : `; could not delete ${r.failed.map((f) => f.vm_id).join(", ")}`) +
      (r.gone.length === 0 ? "" : `; ${r.gone.length} ledger VM(s) no longer exist`)

/** Every error of a VM operation: Vers', the store's, or the caller's (`forbidden`, `not_found`, `invalid`). */
export const VmsError = Schema.Union(ActorsError, PersistenceError, VersError)
export type VmsError = typeof VmsError.Type

const Size = Schema.optional(Schema.Int.pipe(Schema.positive()))

/** How `vm create` gets its VM over RPC: a new root VM (sizes in MiB), a branch, or a restore. */
export const VmCreateHow = Schema.Union(
  Schema.TaggedStruct("root", { vcpu_count: Size, mem_size_mib: Size, fs_size_mib: Size }),
  Schema.TaggedStruct("branch", { vm_id: Schema.String }),
  Schema.TaggedStruct("restore", { commit_id: Schema.String })
)
export type VmCreateHow = typeof VmCreateHow.Type

/** The payload of `VmCreate`: how, for which run (run-owned when set), kept past it, wait for it to run. */
export const VmCreatePayload = {
  how: VmCreateHow,
  /** The owning run (`run:<id>` or `<id>`); absent = the caller's session owns it (an actor process: its run). */
  run: Schema.optional(Schema.String),
  /** A run-owned VM outlives its run. */
  keep: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** Wait until it runs (default true). */
  wait: Schema.optionalWith(Schema.Boolean, { default: () => true })
}
