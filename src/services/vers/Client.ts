/**
 * The body of `VersApi` (`src/services/VersApi.ts`): one method per Vers operation over the
 * shared call plumbing of `Http.ts` and the create reconciliation of `Reconcile.ts`, plus
 * boot waiting.
 */
import { HttpClient } from "@effect/platform"
import { Duration, Effect, Fiber, Option, Schedule, Schema, type Scope } from "effect"
import {
  BranchResponse,
  CommitRequest,
  CommitResponse,
  DeleteResponse,
  isDead,
  LabelRequest,
  NewRootRequest,
  NewVm,
  ResizeDiskRequest,
  RestoreSource,
  SetStateRequest,
  SshKey,
  Vm,
  VmConfig,
  type VmId,
  VmList,
  VmMetadata
} from "../../domain/Vers.js"
import { type VersError, VersMessages, VersTimeout, VmDead } from "../../domain/VersErrors.js"
import type { VersApiShape } from "../VersApi.js"
import { VersConfig } from "../VersConfig.js"
import { type Call, idempotentRetry, isTransient, segment, send, sendIdempotent } from "./Http.js"
import { createReconciled, restoreReconciled } from "./Reconcile.js"

/** Boot polling: first wait 1 s, then ×1.5, each wait capped at 5 s. */
export const bootPoll = Schedule.exponential(Duration.seconds(1), 1.5).pipe(Schedule.union(Schedule.spaced(Duration.seconds(5))))
/** How long `waitRunning` waits for a VM to reach `running`, in all. */
export const bootBudget = Duration.seconds(120)

const flag = (b: boolean | undefined): string | undefined => (b === true ? "true" : undefined)

/** The client over `HttpClient` and `VersConfig`; its operations run in fibers of the layer's scope (see {@link unmasked}). */
export const make = Effect.gen(function* () {
  const client = yield* HttpClient.HttpClient
  const config = yield* VersConfig

  const decoded = <A, I>(call: Call, schema: Schema.Schema<A, I>, idempotent: boolean) =>
    idempotent ? sendIdempotent(client, config, call, schema) : send(client, config, call, schema)
  const encode = <A, I>(schema: Schema.Schema<A, I>, value: A) => Schema.encode(schema)(value)

  const list = Effect.fn("VersApi.list")(function* () {
    return yield* decoded({ operation: "list", method: "GET", path: "/vms" }, VmList, true)
  })

  const status = Effect.fn("VersApi.status")(function* (vmId: VmId) {
    return yield* decoded({ operation: "status", vmId, method: "GET", path: `/vm/${segment(vmId)}/status` }, Vm, true)
  })

  const metadata = Effect.fn("VersApi.metadata")(function* (vmId: VmId) {
    return yield* decoded({ operation: "metadata", vmId, method: "GET", path: `/vm/${segment(vmId)}/metadata` }, VmMetadata, true)
  })

  const delete_ = Effect.fn("VersApi.delete")(function* (vmId: VmId) {
    let attempts = 0
    const call: Call = { operation: "delete", vmId, method: "DELETE", path: `/vm/${segment(vmId)}` }
    // A retry that meets 404 after a failed first attempt: the first one deleted it.
    const once = Effect.suspend(() => {
      attempts++
      return send(client, config, call, DeleteResponse)
    }).pipe(Effect.catchTag("VmNotFound", (e) => (attempts > 1 ? Effect.succeed({ vmIds: [vmId] }) : Effect.fail(e))))
    return (yield* Effect.retry(once, idempotentRetry)).vmIds
  })

  const label = Effect.fn("VersApi.label")(function* (vmId: VmId, labels: Record<string, string>) {
    yield* sendIdempotent(client, config, {
      operation: "label",
      vmId,
      method: "PATCH",
      path: `/vm/${segment(vmId)}/label`,
      body: encode(LabelRequest, { labels })
    })
  })

  const deps = {
    list,
    delete: delete_,
    parentCommit: (vmId: VmId) =>
      metadata(vmId).pipe(
        Effect.map((m): Option.Option<string> => Option.fromNullable(m.parentCommitId)),
        Effect.catchTag("VmNotFound", () => Effect.succeed(Option.none<string>()))
      )
  }

  const waitRunning = Effect.fn("VersApi.waitRunning")(function* (vmId: VmId) {
    const check = status(vmId).pipe(
      Effect.filterOrFail((vm) => !isDead(vm.state), () => new VmDead({ operation: "waitRunning", vmId, message: VersMessages.dead("waitRunning", vmId) }))
    )
    const poll = Effect.gen(function* () {
      const delays = yield* Schedule.driver(bootPoll)
      for (;;) {
        const result = yield* Effect.either(check)
        // A transient failure (after status' own retries) is one more "not yet": the budget decides.
        if (result._tag === "Left" && !isTransient(result.left)) return yield* Effect.fail(result.left)
        if (result._tag === "Right" && result.right.state === "running") return result.right
        yield* delays.next(undefined).pipe(Effect.orDie) // sleeps the next delay; bootPoll never ends
      }
    })
    return yield* poll.pipe(
      Effect.timeoutFail({
        duration: bootBudget,
        onTimeout: () =>
          new VersTimeout({ operation: "waitRunning", vmId, timeoutMs: Duration.toMillis(bootBudget), message: VersMessages.timeout("waitRunning", Duration.toMillis(bootBudget), vmId) })
      })
    )
  })

  const createRoot: VersApiShape["createRoot"] = Effect.fn("VersApi.createRoot")(function* (options = {}) {
    const sizes = definedOnly({ ...options.config })
    const create = (labels: Record<string, string>) =>
      decoded(
        {
          operation: "createRoot",
          method: "POST",
          path: "/vm/new_root",
          query: { wait_boot: flag(options.waitBoot) },
          body: encode(NewRootRequest, { vmConfig: new VmConfig({ ...sizes, labels }, true) })
        },
        NewVm,
        false
      ).pipe(Effect.map((r) => r.vmId))
    const created = yield* createReconciled(deps, options.labels ?? {}, create)
    // An adopted VM never had its wait_boot answer: wait for it here.
    if (created.adopted && options.waitBoot === true) yield* waitRunning(created.vmId)
    return created.vmId
  })

  const restore: VersApiShape["restore"] = Effect.fn("VersApi.restore")(function* (source, options = {}) {
    const once = decoded(
      { operation: "restore", method: "POST", path: "/vm/from_commit", body: encode(RestoreSource, source) },
      NewVm,
      false
    ).pipe(Effect.map((r) => r.vmId))
    return yield* restoreReconciled(deps, source, options.labels ?? {}, once, label)
  })

  const branch: VersApiShape["branch"] = Effect.fn("VersApi.branch")(function* (vmId, options = {}) {
    const r = yield* decoded(
      {
        operation: "branch",
        vmId,
        method: "POST",
        path: `/vm/${segment(vmId)}/branch`,
        query: { count: options.count === undefined ? undefined : String(options.count), keep_paused: flag(options.keepPaused) }
      },
      BranchResponse,
      false
    )
    return r.vmIds
  })

  const commit: VersApiShape["commit"] = Effect.fn("VersApi.commit")(function* (vmId, options = {}) {
    const { keepPaused, ...body } = options
    return yield* decoded(
      {
        operation: "commit",
        vmId,
        method: "POST",
        path: `/vm/${segment(vmId)}/commit`,
        query: { keep_paused: flag(keepPaused) },
        body: encode(CommitRequest, definedOnly(body))
      },
      CommitResponse,
      false
    )
  })

  const setState = Effect.fn("VersApi.setState")(function* (vmId: VmId, state: "Paused" | "Running") {
    let attempts = 0
    const call: Call = { operation: "setState", vmId, method: "PATCH", path: `/vm/${segment(vmId)}/state`, body: encode(SetStateRequest, { state }) }
    const target = state === "Paused" ? "paused" : "running"
    // Vers refuses (400) to pause a paused VM: a retry refused after an ambiguous first attempt
    // is a success when the VM is in the requested state now (the first attempt changed it).
    const once = Effect.suspend(() => {
      attempts++
      return send(client, config, call)
    }).pipe(
      Effect.catchTag("VmConflict", (e) =>
        attempts > 1 ? status(vmId).pipe(Effect.flatMap((vm) => (vm.state === target ? Effect.void : Effect.fail(e)))) : Effect.fail(e)
      )
    )
    yield* Effect.retry(once, idempotentRetry)
  })

  const sshKey = Effect.fn("VersApi.sshKey")(function* (vmId: VmId) {
    return yield* decoded({ operation: "sshKey", vmId, method: "GET", path: `/vm/${segment(vmId)}/ssh_key` }, SshKey, true)
  })

  const resizeDisk = Effect.fn("VersApi.resizeDisk")(function* (vmId: VmId, fsSizeMib: number) {
    yield* sendIdempotent(client, config, {
      operation: "resizeDisk",
      vmId,
      method: "PATCH",
      path: `/vm/${segment(vmId)}/disk`,
      body: encode(ResizeDiskRequest, { fsSizeMib })
    })
  })

  const scope = yield* Effect.scope
  const own = <Args extends ReadonlyArray<any>, A, E>(operation: (...args: Args) => Effect.Effect<A, E>) => (...args: Args) => unmasked(scope, operation(...args))

  return {
    list: own(list),
    status: own(status),
    metadata: own(metadata),
    createRoot: own(createRoot),
    delete: own(delete_),
    branch: own(branch),
    commit: own(commit),
    restore: own(restore),
    setState: own(setState),
    sshKey: own(sshKey),
    resizeDisk: own(resizeDisk),
    label: own(label),
    waitRunning: own(waitRunning)
  } satisfies VersApiShape
})

/**
 * Runs one operation in a fiber of the client's `scope` that is interruptible, and joins it.
 *
 * Why: a call's timeouts (per request, the boot budget) work by interrupting the request, and
 * a fiber started in an uninterruptible region — the acquire of a VM held as a scoped resource,
 * a finalizer deleting one — inherits that mask, so a hung request would hold its caller
 * forever. Here the operation always runs interruptible, bounded by its own timeouts. An
 * interruptible caller that is interrupted interrupts the operation (as before); an
 * uninterruptible one waits for it to finish, which its timeouts bound, and is never cut off
 * half-way (a create interrupted there could leave a VM nobody owns).
 */
const unmasked = <A, E>(scope: Scope.Scope, operation: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(Effect.forkIn(Effect.interruptible(operation), scope), (fiber) =>
      restore(Fiber.join(fiber)).pipe(Effect.onInterrupt(() => Fiber.interrupt(fiber)))
    )
  )

/** `{a: 1, b: undefined}` → `{a: 1}` (exact optional properties). */
const definedOnly = <T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as never

export type { VersError }
