/**
 * Creates that must not run twice: `POST /vm/new_root` and `POST /vm/from_commit` are never
 * retried blindly, because an ambiguous failure (a timeout, a 5xx, a dropped connection, an
 * unreadable answer) may hide a VM that was created. Instead:
 *
 * - **createRoot** labels the VM with a unique request id (`troupe-request`). After an
 *   ambiguous failure it lists VMs and adopts the one carrying that label (deleting any
 *   duplicate with the same label, which only this call can have made); if none exists it
 *   creates again, at most {@link createAttempts} times in all.
 * - **restore**: the document gives `from_commit` no labels, so it lists VMs first; after an
 *   ambiguous failure it lists again and considers VMs that are new since, carry no
 *   `troupe-request` label (another troupe call's VM carries one) and, for a commit source,
 *   whose metadata names that commit as parent. One candidate is adopted; none → restore again
 *   (bounded); several → `VmConflict` (the caller decides). Right after success the VM is
 *   labelled with the request id plus the caller's labels (`PATCH /vm/{id}/label`).
 *
 * A 429 is not ambiguous (nothing was created): it waits its retry-after and tries again.
 */
import { Array as Arr, Duration, Effect, Option, Order, Random } from "effect"
import { randomUUID } from "node:crypto"
import { type Labels, requestLabel, type RestoreSource, type Vm, type VmId } from "../../domain/Vers.js"
import { type VersError, VmConflict } from "../../domain/VersErrors.js"
import { maxRetryAfterMs } from "./Http.js"

/** Attempts in all of one create (the first plus re-creates after reconciling found nothing). */
export const createAttempts = 3

/** The pause before reconciling an ambiguous create (lets the server's list catch up), ms; doubled per attempt, jittered ×0.8–1.2. */
export const reconcileBaseMs = 500

/** The jittered pause before retry `n` (1-based) of a create. */
const reconcileDelay = (n: number): Effect.Effect<Duration.Duration> =>
  Effect.map(Random.nextRange(0.8, 1.2), (j) => Duration.millis(Math.round(reconcileBaseMs * 2 ** (n - 1) * j)))

/** Whether a create's failure leaves it unknown whether the VM exists. */
export const isAmbiguous = (e: VersError): boolean =>
  e._tag === "VersUnavailable" || e._tag === "VersTimeout" || e._tag === "VersDecodeError"

/** A create's outcome: the VM, and whether it was adopted after an ambiguous failure (not answered by the create itself). */
export interface Created {
  readonly vmId: VmId
  readonly adopted: boolean
}

/** A fresh request id for one create call. */
export const newRequestId = (): string => randomUUID()

/** What reconciliation needs from the client. */
export interface ReconcileDeps {
  readonly list: () => Effect.Effect<ReadonlyArray<Vm>, VersError>
  readonly delete: (vmId: VmId) => Effect.Effect<unknown, VersError>
  readonly parentCommit: (vmId: VmId) => Effect.Effect<Option.Option<string>, VersError>
}

/**
 * Asks `find` whether an ambiguous create happened. If the lookup itself fails, creating again
 * could make a second VM, so the create's own failure `last` is reported instead (a
 * `VmConflict` from the lookup — several candidates — is reported as it is).
 */
const lookup = (find: Effect.Effect<Option.Option<VmId>, VersError>, last: VersError) =>
  Effect.catchAll(find, (e) => Effect.fail(e._tag === "VmConflict" ? e : last))

/**
 * Runs `attempt` until it succeeds, retrying after a 429 (waiting its retry-after) and, after an
 * ambiguous failure, first asking `find` whether the create happened anyway. Fails with the
 * last failure once {@link createAttempts} are spent, or at once on any other failure.
 */
const reconciled = (
  attempt: Effect.Effect<VmId, VersError>,
  find: Effect.Effect<Option.Option<VmId>, VersError>
): Effect.Effect<Created, VersError> =>
  Effect.gen(function* () {
    let last: VersError | undefined
    for (let n = 0; n < createAttempts; n++) {
      if (last !== undefined) {
        const delay = yield* reconcileDelay(n)
        yield* Effect.sleep(last._tag === "VersRateLimited" ? Duration.max(delay, Duration.millis(last.retryAfterMs)) : delay)
        if (isAmbiguous(last)) {
          const found = yield* lookup(find, last)
          if (Option.isSome(found)) return { vmId: found.value, adopted: true }
        }
      }
      const result = yield* Effect.either(attempt)
      if (result._tag === "Right") return { vmId: result.right, adopted: false }
      const e = result.left
      const retryable = isAmbiguous(e) || (e._tag === "VersRateLimited" && e.retryAfterMs <= maxRetryAfterMs)
      if (!retryable) return yield* Effect.fail(e)
      last = e
    }
    // Spent: one last look, so a VM created by the final attempt is not leaked.
    if (last !== undefined && isAmbiguous(last)) {
      const found = yield* lookup(find, last)
      if (Option.isSome(found)) return { vmId: found.value, adopted: true }
    }
    return yield* Effect.fail(last!)
  })

/**
 * `createRoot`'s reconciliation: `create(labels)` is one `POST /vm/new_root` with the caller's
 * labels plus `troupe-request: <id>`. After an ambiguous failure, a listed VM with that label is
 * adopted; duplicates with the same label (the server created twice) are deleted, oldest kept.
 */
export const createReconciled = (
  deps: ReconcileDeps,
  labels: Labels,
  create: (labels: Labels) => Effect.Effect<VmId, VersError>
): Effect.Effect<Created, VersError> => {
  const id = newRequestId()
  const labelled = { ...labels, [requestLabel]: id }
  const find = Effect.gen(function* () {
    const mine = Arr.sort((yield* deps.list()).filter((vm) => vm.labels[requestLabel] === id), oldestFirst)
    if (mine.length === 0) return Option.none<VmId>()
    for (const extra of mine.slice(1)) yield* deps.delete(extra.vmId).pipe(Effect.ignore)
    return Option.some(mine[0]!.vmId)
  })
  return reconciled(create(labelled), find)
}

const oldestFirst = Order.mapInput(Order.number, (vm: Vm) => vm.createdAt.epochMillis)

/** Whether a VM carries no troupe request label (so no other troupe create claims it). */
const unclaimed = (vm: Vm): boolean => vm.labels[requestLabel] === undefined

/**
 * `restore`'s reconciliation (see the module docs). `restoreOnce` is one `POST /vm/from_commit`;
 * the VM it gives (or adopts) is then labelled with `labels` plus the request label.
 */
export const restoreReconciled = (
  deps: ReconcileDeps,
  source: RestoreSource,
  labels: Labels,
  restoreOnce: Effect.Effect<VmId, VersError>,
  label: (vmId: VmId, labels: Labels) => Effect.Effect<void, VersError>
): Effect.Effect<VmId, VersError> =>
  Effect.gen(function* () {
    const before = new Set((yield* deps.list()).map((vm) => vm.vmId as string))
    const find = Effect.gen(function* () {
      const fresh = (yield* deps.list()).filter((vm) => !before.has(vm.vmId) && unclaimed(vm))
      const candidates: Array<VmId> = []
      for (const vm of fresh) {
        if (!("commitId" in source)) {
          candidates.push(vm.vmId)
          continue
        }
        const parent = yield* deps.parentCommit(vm.vmId)
        if (Option.isSome(parent) && parent.value === source.commitId) candidates.push(vm.vmId)
      }
      if (candidates.length > 1) {
        return yield* new VmConflict({
          operation: "restore",
          message: `Vers restore failed ambiguously and ${candidates.length} new VMs could be its own, so none was adopted`
        })
      }
      return Option.fromNullable(candidates[0])
    })
    const { vmId } = yield* reconciled(restoreOnce, find)
    // An unlabelled VM would escape the run's ownership: if labelling fails, give the VM back.
    yield* label(vmId, { ...labels, [requestLabel]: newRequestId() }).pipe(
      Effect.tapError(() => deps.delete(vmId).pipe(Effect.ignore))
    )
    return vmId
  })
