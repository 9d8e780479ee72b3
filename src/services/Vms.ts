/**
 * `Vms`: VMs as owned, scoped resources (SPEC-vers §2, last paragraph) — what `troupe vm …`
 * and the Pi `vers_vm_*` tools call through the daemon, and what runs use to hold a VM.
 *
 * Every VM it creates (root, branch, restore) is labelled with its owner ({@link labelKeys}:
 * `troupe-session`, `troupe-run` for a run-owned VM, `troupe-home`, `troupe-keep`) and
 * recorded in the store's VM ledger (create and delete times, owner, source, parent, kept).
 * Ownership (docs/vers.md "VMs and ownership"): a VM a session creates lives until it is
 * deleted (pi-vers' behaviour); a VM a run owns is a scoped resource — {@link VmsShape.acquire}
 * deletes it when its scope closes, {@link VmsShape.hold} when the run ends — unless `keep`.
 * Startup reconciliation ({@link VmsShape.reconcile}) deletes the labelled run-owned VMs of
 * this troupe home whose run is gone (not in the store, or terminal) and not kept.
 *
 * Errors: a Vers call fails with its `VersError` (`VersAuthError` when no API key is set —
 * the daemon still starts: reconciliation is then skipped with a note); the store with
 * `PersistenceError`; acting on another session's VM with `ActorsError` `forbidden`; an id
 * that is not one with `ActorsError` `invalid`.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Clock, Context, Deferred, Effect, Fiber, FiberSet, Layer, Option, Schema, Scope } from "effect"
import { createHash } from "node:crypto"
import { hostname } from "node:os"
import type { PersistenceError } from "../domain/PersistenceError.js"
import { ActorsError, type Caller } from "../domain/Run.js"
import { CommitId, shortVmId, type Vm, VmId, type VmTargetState } from "../domain/Vers.js"
import { labelKeys, VmCommitted, VmEntry, VmReconcileReport, VmRecord, type VmSource, type VmsError } from "../domain/Vms.js"
import { Events } from "./Events.js"
import { Store } from "./Store.js"
import { TroupeConfig } from "./TroupeConfig.js"
import { VersApi, type VmConfigInput } from "./VersApi.js"
import { makeLedger } from "./vms/Ledger.js"
import { reconcile as runReconcile } from "./vms/Reconcile.js"

/** Who owns a VM: a session, and a run when the run owns it; `keep` = outlives its run. */
export interface VmOwner {
  readonly session: string
  readonly run?: string | undefined
  readonly keep?: boolean | undefined
}

/** How to get a VM: a new root VM (sizes in MiB), a branch of a VM, or a restore of a commit. */
export type VmHow =
  | { readonly _tag: "root"; readonly config?: VmConfigInput | undefined }
  | { readonly _tag: "branch"; readonly vmId: string }
  | { readonly _tag: "restore"; readonly commitId: string }

export interface VmGetOptions {
  /** Wait until the VM runs (`VersApi.waitRunning`, up to 120 s); default true. */
  readonly wait?: boolean | undefined
}

export interface VmsShape {
  /**
   * Creates a VM for `owner` (labelled, recorded) as a scoped resource: closing the scope
   * deletes it (ledger reason `scope`) unless `owner.keep`. A failure after the VM exists
   * (boot wait, labelling, the store) deletes it before failing.
   * @fails VmsError
   */
  readonly acquire: (owner: VmOwner, how: VmHow, options?: VmGetOptions) => Effect.Effect<VmRecord, VmsError, Scope.Scope>
  /**
   * {@link acquire} in a scope of the service's own that closes when `until` completes (the
   * daemon passes "the run ended"), or when the service stops (daemon shutdown). Returns once
   * the VM exists (and runs, with `wait`).
   * @fails VmsError
   */
  readonly hold: (owner: VmOwner, how: VmHow, until: Effect.Effect<unknown, unknown>, options?: VmGetOptions) => Effect.Effect<VmRecord, VmsError>
  /** A session-owned VM that lives until deleted (`troupe vm create`, `vers_vm_create`). @fails VmsError */
  readonly create: (caller: Caller, how: VmHow, options?: VmGetOptions) => Effect.Effect<VmRecord, VmsError>
  /** Snapshots a VM (`POST /vm/{id}/commit`); `keepPaused` leaves it paused. @fails VmsError */
  readonly commit: (caller: Caller, vmId: string, options?: { readonly keepPaused?: boolean | undefined }) => Effect.Effect<VmCommitted, VmsError>
  /** Pauses (`Paused`) or resumes (`Running`) a VM. @fails VmsError */
  readonly setState: (caller: Caller, vmId: string, state: VmTargetState) => Effect.Effect<VmEntry, VmsError>
  /** One VM with its ledger record. @fails VmNotFound, VmsError */
  readonly status: (caller: Caller, vmId: string) => Effect.Effect<VmEntry, VmsError>
  /** Deletes a VM at Vers and in the ledger (reason `user`). @fails VmNotFound, VmsError */
  readonly delete: (caller: Caller, vmId: string) => Effect.Effect<VmRecord | undefined, VmsError>
  /**
   * VMs the API key sees, oldest first. `owned`: only the live ledger VMs of the caller's
   * session (every session's with `caller.all`), joined with Vers' state.
   * @fails VmsError
   */
  readonly list: (caller: Caller, options?: { readonly owned?: boolean | undefined }) => Effect.Effect<ReadonlyArray<VmEntry>, VmsError>
  /** The ledger (live and deleted records), oldest first; `session` undefined = all. @fails PersistenceError */
  readonly ledger: (session?: string | undefined) => Effect.Effect<ReadonlyArray<VmRecord>, PersistenceError>
  /**
   * Startup reconciliation: deletes this home's run-owned, not-kept VMs whose run is gone or
   * terminal, marks ledger VMs Vers no longer has, publishes a `vm.reconciled` event to each
   * owning session, and reports what it did. Never fails: a missing key or an unreachable
   * Vers is a report with `skipped`.
   */
  readonly reconcile: () => Effect.Effect<VmReconcileReport>
}

/** The `troupe-home` label of a home: a short hash of host name and `TROUPE_HOME`. */
export const homeLabel = (home: string): string => createHash("sha256").update(`${hostname()}:${home}`).digest("hex").slice(0, 16)

const decodeVmId = Schema.decodeUnknown(VmId)
const decodeCommitId = Schema.decodeUnknown(CommitId)

const vmIdOf = (text: string) =>
  decodeVmId(text).pipe(Effect.mapError(() => new ActorsError({ reason: "invalid", message: `${JSON.stringify(text)} is not a VM id (see: troupe vm ls)` })))

/**
 * Runs a cleanup from an uninterruptible region (a finalizer, an `onError`) in a child fiber
 * that is interruptible, so the Vers calls' own timeouts can fire, and waits for it. (Made
 * interruptible in place, it would stop at once in a fiber that is being interrupted.)
 */
const cleanup = <A, E>(effect: Effect.Effect<A, E>) => Effect.flatMap(Effect.fork(Effect.interruptible(effect)), Fiber.join)

const entryOf = (vm: Vm, record: VmRecord | undefined) =>
  new VmEntry({ vm_id: vm.vmId, state: vm.state, created_at: vm.createdAt.epochMillis, labels: { ...vm.labels }, ledger: record ?? null })

export const make = Effect.gen(function* () {
  const api = yield* VersApi
  const config = yield* TroupeConfig
  const store = yield* Store
  const events = yield* Events
  const ledger = yield* makeLedger
  const held = yield* FiberSet.make()
  const home = homeLabel(config.home)

  /** Caller may act on a VM: not in the ledger (the account's own), or its session's (or `all`). */
  const checkAccess = (caller: Caller, vmId: string) =>
    Effect.flatMap(ledger.get(vmId), (record) => {
      if (Option.isNone(record) || record.value.deleted_at !== null) return Effect.succeed<VmRecord | undefined>(Option.getOrUndefined(record))
      if (record.value.session === caller.session || caller.all) return Effect.succeed<VmRecord | undefined>(record.value)
      return Effect.fail(
        new ActorsError({
          reason: "forbidden",
          message: `VM ${shortVmId(vmId)} belongs to session ${record.value.session}: act as it (--session ${record.value.session}) or use --all`
        })
      )
    })

  const labelsOf = (owner: VmOwner): Record<string, string> => ({
    [labelKeys.session]: owner.session,
    [labelKeys.home]: home,
    ...(owner.run === undefined ? {} : { [labelKeys.run]: owner.run }),
    ...(owner.keep === true ? { [labelKeys.keep]: "true" } : {})
  })

  /** Creates the VM at Vers; its labels are on it before this returns. */
  const createAtVers = (owner: VmOwner, how: VmHow): Effect.Effect<{ vmId: VmId; source: VmSource; parent: string | null }, VmsError> => {
    const labels = labelsOf(owner)
    switch (how._tag) {
      case "root":
        return Effect.map(api.createRoot({ config: how.config, labels }), (vmId) => ({ vmId, source: "root" as const, parent: null }))
      case "branch":
        return Effect.gen(function* () {
          const parent = yield* vmIdOf(how.vmId)
          const [vmId] = yield* api.branch(parent)
          if (vmId === undefined) return yield* new ActorsError({ reason: "internal", message: `Vers answered the branch of VM ${shortVmId(parent)} with no VM` })
          yield* api.label(vmId, labels).pipe(Effect.onError(() => Effect.ignore(api.delete(vmId))))
          return { vmId, source: "branch" as const, parent }
        })
      case "restore":
        return Effect.gen(function* () {
          const commitId = yield* decodeCommitId(how.commitId).pipe(
            Effect.mapError(() => new ActorsError({ reason: "invalid", message: `${JSON.stringify(how.commitId)} is not a commit id (a UUID, as troupe vm commit prints it)` }))
          )
          const vmId = yield* api.restore({ commitId }, { labels })
          return { vmId, source: "restore" as const, parent: commitId }
        })
    }
  }

  /** Deletes at Vers (already gone counts) and marks the ledger. */
  const remove = (vmId: string, reason: "user" | "scope" | "reconcile") =>
    Effect.gen(function* () {
      const id = yield* vmIdOf(vmId)
      const gone = yield* api.delete(id).pipe(
        Effect.as(false),
        Effect.catchTag("VmNotFound", (e) => (reason === "user" ? Effect.fail(e) : Effect.succeed(true)))
      )
      yield* ledger.markDeleted(vmId, gone ? "gone" : reason, yield* Clock.currentTimeMillis)
    })

  const get = (owner: VmOwner, how: VmHow, options: VmGetOptions) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.gen(function* () {
        const made = yield* restore(createAtVers(owner, how))
        const record = new VmRecord({
          vm_id: made.vmId,
          session: owner.session,
          run: owner.run ?? null,
          source: made.source,
          parent: made.parent,
          kept: owner.keep === true,
          created_at: yield* Clock.currentTimeMillis,
          deleted_at: null,
          delete_reason: null
        })
        yield* ledger.record(record).pipe(Effect.onError(() => Effect.ignore(cleanup(api.delete(made.vmId)))))
        if (options.wait !== false) {
          yield* restore(api.waitRunning(made.vmId)).pipe(Effect.onError(() => Effect.ignore(cleanup(remove(made.vmId, "scope")))))
        }
        return record
      })
    )

  const acquire: VmsShape["acquire"] = (owner, how, options = {}) =>
    Effect.acquireRelease(get(owner, how, options), (record) =>
      owner.keep === true
        ? Effect.void
        : cleanup(remove(record.vm_id, "scope")).pipe(
          Effect.catchAll((e) => Effect.logWarning(`could not delete VM ${record.vm_id} when its scope closed: ${e.message}; the next daemon start reconciles it`))
        )).pipe(Effect.withSpan("Vms.acquire"))

  const hold: VmsShape["hold"] = Effect.fn("Vms.hold")(function* (owner, how, until, options = {}) {
    const ready = yield* Deferred.make<VmRecord, VmsError>()
    yield* FiberSet.run(
      held,
      Effect.scoped(
        Effect.gen(function* () {
          const record = yield* acquire(owner, how, options)
          yield* Deferred.succeed(ready, record)
          yield* Effect.exit(until)
        })
      ).pipe(Effect.catchAll((e) => Deferred.fail(ready, e)))
    )
    return yield* Deferred.await(ready)
  })

  const create: VmsShape["create"] = Effect.fn("Vms.create")(function* (caller, how, options = {}) {
    if (how._tag === "branch") yield* checkAccess(caller, how.vmId)
    return yield* get({ session: caller.session }, how, options)
  })

  const commit: VmsShape["commit"] = Effect.fn("Vms.commit")(function* (caller, vmId, options = {}) {
    const id = yield* vmIdOf(vmId)
    yield* checkAccess(caller, id)
    const r = yield* api.commit(id, { keepPaused: options.keepPaused })
    return new VmCommitted({ vm_id: id, commit_id: r.commitId })
  })

  const status: VmsShape["status"] = Effect.fn("Vms.status")(function* (caller, vmId) {
    const id = yield* vmIdOf(vmId)
    const record = yield* checkAccess(caller, id)
    const vm = yield* api.status(id)
    return entryOf(vm, record)
  })

  const setState: VmsShape["setState"] = Effect.fn("Vms.setState")(function* (caller, vmId, state) {
    const id = yield* vmIdOf(vmId)
    yield* checkAccess(caller, id)
    yield* api.setState(id, state)
    return yield* status(caller, id)
  })

  const delete_: VmsShape["delete"] = Effect.fn("Vms.delete")(function* (caller, vmId) {
    const id = yield* vmIdOf(vmId)
    const record = yield* checkAccess(caller, id)
    yield* api.delete(id).pipe(
      // Vers no longer has it: the ledger learns so, and the caller hears VmNotFound.
      Effect.tapErrorTag("VmNotFound", () => Effect.flatMap(Clock.currentTimeMillis, (at) => ledger.markDeleted(id, "gone", at)))
    )
    yield* ledger.markDeleted(id, "user", yield* Clock.currentTimeMillis)
    return record === undefined ? undefined : Option.getOrUndefined(yield* ledger.get(id))
  })

  const list: VmsShape["list"] = Effect.fn("Vms.list")(function* (caller, options = {}) {
    const vms = yield* api.list()
    const live = yield* ledger.live(caller.all ? undefined : caller.session)
    const records = new Map(live.map((r) => [r.vm_id, r]))
    const entries = vms.map((vm) => entryOf(vm, records.get(vm.vmId)))
    const sorted = [...entries].sort((a, b) => a.created_at - b.created_at || a.vm_id.localeCompare(b.vm_id))
    return options.owned === true ? sorted.filter((e) => e.ledger !== null) : sorted
  })

  const reconcile: VmsShape["reconcile"] = () =>
    runReconcile({ api, ledger, home, getRun: store.getRun, publish: events.publish, remove: (vmId) => remove(vmId, "reconcile") }).pipe(
      Effect.withSpan("Vms.reconcile")
    )

  const shape: VmsShape = {
    acquire,
    hold,
    create,
    commit,
    setState,
    status,
    delete: delete_,
    list,
    ledger: (session) => (session === undefined ? ledger.all() : Effect.map(ledger.all(), (rs) => rs.filter((r) => r.session === session))),
    reconcile
  }
  return shape
})

export class Vms extends Context.Tag("troupe/Vms")<Vms, VmsShape>() {
  /**
   * The service over `VersApi`, the store (`SqlClient`, `Store`), `Events` and `TroupeConfig`.
   * Scoped: VMs held by {@link VmsShape.hold} are deleted when it is released.
   */
  static readonly layer: Layer.Layer<Vms, never, VersApi | SqlClient.SqlClient | Store | Events | TroupeConfig> = Layer.scoped(Vms, make)
}

