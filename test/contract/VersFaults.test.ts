/**
 * Fleet faults (QUALITY.md): a real `VersApi` against a `FakeVers` injecting seeded 5xx (before
 * and after the operation took effect), 429s with retry-after, hangs and malformed JSON.
 * Idempotent calls succeed within their retry budget (a failure only after 3 faulty attempts);
 * hangs end in `VersTimeout`; creates and restores never leave two VMs for one call (the
 * fake's ledger counts). A property test interrupts a create → branch → commit → restore →
 * delete sequence, whose VMs are scoped resources, at any request — and the ledger ends with
 * zero live VMs.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, FastCheck as fc, Fiber, type Scope } from "effect"
import type { VmId } from "../../src/domain/Vers.js"
import type { VersError } from "../../src/domain/VersErrors.js"
import type { VersApi } from "../../src/services/VersApi.js"
import { FakeVers, type FakeVersHandle } from "../../src/testing/index.js"
import { makeApi, scopedVm, scopedVms } from "../support/versFleet.js"

type Api = typeof VersApi.Service

/** The requests the fake saw while `effect` ran (calls run one at a time, so a slice of the ledger is one call's). */
const attempts = <A, E, R>(fleet: FakeVersHandle, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const from = fleet.ledger.requests().length
    const exit = yield* Effect.exit(effect)
    return { exit, requests: fleet.ledger.requests().slice(from) }
  })

/** The VMs the fake created while `effect` ran. */
const creations = <A, E, R>(fleet: FakeVersHandle, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const from = fleet.ledger.created().length
    const exit = yield* Effect.exit(effect)
    return { exit, created: fleet.ledger.created().slice(from) }
  })

const requestsOf = (fleet: FakeVersHandle, operation: string) => fleet.ledger.requests().filter((r) => r.operation === operation)

const jsonOperations = ["list_vms", "vm_status", "get_vm_metadata", "ssh_key", "delete_vm"] as const

describe("VersApi under fleet faults", () => {
  it.live("30% 5xx (before and after effect), 429 with retry-after and malformed JSON: idempotent calls succeed within 3 attempts", () =>
    Effect.gen(function* () {
      const fleet = yield* FakeVers.make({ bootMs: 0, seed: 7 })
      const api = yield* makeApi(fleet)
      const vms: Array<VmId> = []
      for (let i = 0; i < 3; i++) vms.push(yield* api.createRoot({ labels: { n: String(i) } }))

      fleet.faults.inject({ operation: "*", fault: { kind: "status", status: 503 }, probability: 0.15 })
      fleet.faults.inject({ operation: "*", fault: { kind: "status", status: 500 }, probability: 0.15, afterEffect: true })
      fleet.faults.inject({ operation: "*", fault: { kind: "rateLimit", retryAfterMs: 40 }, probability: 0.1 })
      fleet.faults.inject({ operation: "*", fault: { kind: "rateLimit", retryAfterSeconds: 1 }, probability: 0.04 })
      // A truncated body where the answer is JSON (an empty-bodied PATCH has no JSON to break).
      for (const operation of jsonOperations) fleet.faults.inject({ operation, fault: { kind: "malformed" }, probability: 0.1 })

      const calls: Array<[string, (api: Api, vm: VmId) => Effect.Effect<unknown, VersError>]> = [
        ["status", (api, vm) => api.status(vm)],
        ["metadata", (api, vm) => api.metadata(vm)],
        ["sshKey", (api, vm) => api.sshKey(vm)],
        ["list", (api) => api.list()],
        ["pause", (api, vm) => api.setState(vm, "Paused")],
        ["resume", (api, vm) => api.setState(vm, "Running")],
        ["label", (api, vm) => api.label(vm, { n: "x" })]
      ]
      const outcomes: Array<{ what: string; ok: boolean; tries: number; faults: ReadonlyArray<string | null> }> = []
      for (const vm of vms) {
        for (const [what, call] of calls) {
          const { exit, requests } = yield* attempts(fleet, call(api, vm))
          outcomes.push({ what, ok: Exit.isSuccess(exit), tries: requests.length, faults: requests.map((r) => r.fault) })
        }
      }
      for (const vm of vms) {
        const { exit, requests } = yield* attempts(fleet, api.delete(vm))
        outcomes.push({ what: "delete", ok: Exit.isSuccess(exit), tries: requests.length, faults: requests.map((r) => r.fault) })
      }
      // The faults fired (a retry happened), no call used more than its budget of 3 attempts
      // (setState may add one status read to verify a refused retry), and a call failed only
      // when each of its attempts met a fault.
      expect(outcomes.filter((o) => o.tries > 1).length).toBeGreaterThan(3)
      const faulted = fleet.ledger.requests().filter((r) => r.fault !== null).map((r) => r.fault)
      expect(new Set(faulted)).toEqual(new Set(["status 503", "status 500", "rateLimit", "malformed"]))
      for (const o of outcomes) {
        expect(o.tries, o.what).toBeLessThanOrEqual(o.what === "pause" || o.what === "resume" ? 4 : 3)
        if (!o.ok) expect(o.faults.slice(0, 3).every((f) => f !== null), JSON.stringify(o)).toBe(true)
      }
      expect(outcomes.filter((o) => o.ok).length).toBeGreaterThanOrEqual(outcomes.length - 2)
      fleet.faults.clear()
      for (const vm of fleet.ledger.live()) yield* api.delete(vm.vm_id as VmId)
      expect(fleet.ledger.live()).toEqual([])
    }).pipe(Effect.scoped))

  it.live("setState retried after a 5xx that came after the change: the refused retry is a success when the VM is in the requested state", () =>
    Effect.gen(function* () {
      const fleet = yield* FakeVers.make({ bootMs: 0 })
      const api = yield* makeApi(fleet)
      const vm = yield* api.createRoot()
      fleet.faults.inject({ operation: "update_vm_state", fault: { kind: "status", status: 502 }, afterEffect: true })
      yield* api.setState(vm, "Paused")
      expect(fleet.vm(vm)!.state).toBe("paused")
      expect(fleet.ledger.requests().filter((r) => r.operation === "update_vm_state").map((r) => r.status)).toEqual([502, 400])
      // A refusal on the first attempt is the caller's VmConflict.
      expect(yield* Effect.flip(api.setState(vm, "Paused"))).toMatchObject({ _tag: "VmConflict", status: 400 })
      yield* api.delete(vm)
    }).pipe(Effect.scoped))

  it.live("a 429 is retried no sooner than its retry-after-ms / retry-after asks; a create waits for it too, and makes one VM", () =>
    Effect.gen(function* () {
      const fleet = yield* FakeVers.make({ bootMs: 0 })
      const api = yield* makeApi(fleet)
      const vm = yield* api.createRoot()
      fleet.faults.inject({ operation: "vm_status", fault: { kind: "rateLimit", retryAfterMs: 600 } })
      const [ms] = yield* Effect.timed(api.status(vm))
      expect(Duration.toMillis(ms)).toBeGreaterThanOrEqual(600)
      fleet.faults.inject({ operation: "create_new_root_vm", fault: { kind: "rateLimit", retryAfterSeconds: 1 } })
      const { exit, created } = yield* creations(fleet, Effect.timed(api.createRoot()))
      expect(Exit.isSuccess(exit) && Duration.toMillis(exit.value[0])).toBeGreaterThanOrEqual(1000)
      expect(created).toHaveLength(1)
      expect(requestsOf(fleet, "create_new_root_vm").map((r) => r.status)).toEqual([201, 429, 201])
      for (const v of fleet.ledger.live()) yield* api.delete(v.vm_id as VmId)
    }).pipe(Effect.scoped))

  it.live("hangs time out: VersTimeout after 3 attempts of a read; one hang is outlived by the retry", () =>
    Effect.gen(function* () {
      const fleet = yield* FakeVers.make({ bootMs: 0 })
      const api = yield* makeApi(fleet, { config: { requestTimeoutMs: 800 } })
      const vm = yield* api.createRoot()
      fleet.faults.inject({ operation: "vm_status", fault: { kind: "hang" } })
      expect((yield* api.status(vm)).vmId).toBe(vm)
      fleet.faults.inject({ operation: "vm_status", fault: { kind: "hang" }, times: 3 })
      const { exit, requests } = yield* attempts(fleet, api.status(vm))
      expect(exit).toMatchObject({ _tag: "Failure" })
      const e = yield* Effect.flip(exit)
      expect(e).toMatchObject({ _tag: "VersTimeout", operation: "status", vmId: vm, timeoutMs: 800 })
      expect(e.message).toMatch(/^Vers status for VM [0-9a-f]{8}… did not answer within 800 ms$/)
      expect(requests.map((r) => r.fault)).toEqual(["hang", "hang", "hang"])
      // None of them was answered: each attempt was the client giving up.
      expect(requests.every((r) => r.status === null)).toBe(true)
      yield* api.delete(vm)
    }).pipe(Effect.scoped))

  it.live("timeouts fire in an uninterruptible caller too (a VM's acquire, a finalizer deleting it)", () =>
    Effect.gen(function* () {
      const fleet = yield* FakeVers.make({ bootMs: 0 })
      const api = yield* makeApi(fleet, { config: { requestTimeoutMs: 800 } })
      const vm = yield* api.createRoot()
      fleet.faults.inject({ operation: "delete_vm", fault: { kind: "hang" }, times: 3 })
      expect(yield* Effect.flip(Effect.uninterruptible(api.delete(vm)))).toMatchObject({ _tag: "VersTimeout", operation: "delete" })
      expect(requestsOf(fleet, "delete_vm").map((r) => r.fault)).toEqual(["hang", "hang", "hang"])
      // A finalizer deleting the VM gets past one hang by its retry.
      fleet.faults.inject({ operation: "delete_vm", fault: { kind: "hang" } })
      yield* Effect.scoped(scopedVm(api, Effect.succeed(vm)))
      expect(fleet.ledger.live()).toEqual([])
    }).pipe(Effect.scoped))

  it.live("a create that hangs, before or after the VM exists, times out and reconciles to exactly one VM", () =>
    Effect.gen(function* () {
      const fleet = yield* FakeVers.make({ bootMs: 0 })
      const api = yield* makeApi(fleet, { config: { requestTimeoutMs: 800 } })
      fleet.faults.inject({ operation: "create_new_root_vm", fault: { kind: "hang" } })
      const before = yield* creations(fleet, api.createRoot())
      expect(before.created).toHaveLength(1)
      expect(before.exit).toEqual(Exit.succeed(before.created[0]!.vm_id))
      fleet.faults.inject({ operation: "create_new_root_vm", fault: { kind: "hang" }, afterEffect: true })
      const after = yield* creations(fleet, api.createRoot())
      expect(after.created).toHaveLength(1)
      expect(after.exit).toEqual(Exit.succeed(after.created[0]!.vm_id))
      // Restore: the VM exists when the hang starts; the client finds it by listing.
      const commit = yield* api.commit(after.created[0]!.vm_id as VmId)
      fleet.faults.inject({ operation: "restore_from_commit", fault: { kind: "hang" }, afterEffect: true })
      const restored = yield* creations(fleet, api.restore({ commitId: commit.commitId }))
      expect(restored.created).toHaveLength(1)
      expect(restored.exit).toEqual(Exit.succeed(restored.created[0]!.vm_id))
      for (const vm of fleet.ledger.live()) yield* api.delete(vm.vm_id as VmId)
      expect(fleet.ledger.live()).toEqual([])
    }).pipe(Effect.scoped))

  it.live("creates and restores under 30% 5xx, 429s, malformed answers and hangs never make two VMs for one call", () =>
    Effect.gen(function* () {
      const fleet = yield* FakeVers.make({ bootMs: 0, seed: 3 })
      const api = yield* makeApi(fleet, { config: { requestTimeoutMs: 800 } })
      const base = yield* api.createRoot()
      const { commitId } = yield* api.commit(base)
      yield* api.delete(base)

      for (const operation of ["create_new_root_vm", "restore_from_commit"]) {
        fleet.faults.inject({ operation, fault: { kind: "status", status: 503 }, probability: 0.15 })
        fleet.faults.inject({ operation, fault: { kind: "status", status: 500 }, probability: 0.15, afterEffect: true })
        fleet.faults.inject({ operation, fault: { kind: "rateLimit", retryAfterMs: 30 }, probability: 0.1 })
        fleet.faults.inject({ operation, fault: { kind: "malformed" }, probability: 0.1, afterEffect: true })
        fleet.faults.inject({ operation, fault: { kind: "hang" }, probability: 0.05, afterEffect: true })
      }
      fleet.faults.inject({ operation: "list_vms", fault: { kind: "status", status: 503 }, probability: 0.3 })

      const results: Array<{ ok: boolean; created: number }> = []
      for (let i = 0; i < 12; i++) {
        const { exit, created } = yield* creations(fleet, i % 3 === 2 ? api.restore({ commitId }, { labels: { i: String(i) } }) : api.createRoot({ labels: { i: String(i) } }))
        results.push({ ok: Exit.isSuccess(exit), created: created.length })
        // Never two VMs for one call; a success made (or adopted) exactly the VM it returns.
        expect(created.length, `call ${i}`).toBeLessThanOrEqual(1)
        if (Exit.isSuccess(exit)) expect(created.map((v) => v.vm_id)).toEqual([exit.value])
      }
      // The faults fired: some calls needed more than one create request.
      const createRequests = fleet.ledger.requests().filter((r) => r.operation === "create_new_root_vm" || r.operation === "restore_from_commit")
      expect(createRequests.filter((r) => r.fault !== null).length).toBeGreaterThan(2)
      expect(results.filter((r) => r.ok).length).toBeGreaterThanOrEqual(10)
      fleet.faults.clear()
      for (const vm of fleet.ledger.live()) yield* api.delete(vm.vm_id as VmId)
      expect(fleet.ledger.live()).toEqual([])
    }).pipe(Effect.scoped))
})

/**
 * create → branch → commit → restore → delete, every VM a scoped resource. `explicitDelete`
 * deletes the restored VM by hand at the end (its finalizer then meets 404, which is fine).
 */
const lifecycle = (api: Api): Effect.Effect<void, VersError, Scope.Scope> =>
  Effect.gen(function* () {
    const root = yield* scopedVm(api, api.createRoot({ labels: { run: "prop" } }))
    const [child] = yield* scopedVms(api, api.branch(root))
    const { commitId } = yield* api.commit(child!)
    const restored = yield* scopedVm(api, api.restore({ commitId }, { labels: { run: "prop" } }))
    yield* api.delete(restored)
  })

describe("VersApi: interruption at any step leaves no VM", () => {
  it.live("property: interrupting create → branch → commit → restore → delete after any request (slow answers, after effect) leaves zero live VMs", () =>
    Effect.gen(function* () {
      const fleet = yield* FakeVers.make({ bootMs: 0 })
      // A full run, to learn how many requests the sequence makes (so the property covers every step).
      const full = yield* makeApi(fleet)
      const from = fleet.ledger.requests().length
      yield* Effect.scoped(lifecycle(full))
      const total = fleet.ledger.requests().length - from
      expect(total).toBeGreaterThanOrEqual(8)
      expect(fleet.ledger.created().length).toBe(3)
      expect(fleet.ledger.live()).toEqual([])

      let interruptedWithVms = 0
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(fc.integer({ min: 0, max: total }), fc.constantFrom(0, 15), async (at, slowMs) =>
            Effect.runPromise(
              Effect.gen(function* () {
                fleet.ledger.reset()
                fleet.faults.clear()
                // The server acts at once and answers `slowMs` later: an interrupt then lands between the effect and the answer.
                if (slowMs > 0) fleet.faults.inject({ operation: "*", fault: { kind: "slow", delayMs: slowMs }, probability: 1, afterEffect: true })
                const reached = yield* Deferred.make<void>()
                const api = yield* makeApi(fleet, { onRequest: (n) => n === at && Deferred.unsafeDone(reached, Exit.void) })
                const fiber = yield* Effect.fork(Effect.scoped(lifecycle(api)))
                if (at > 0) yield* Effect.raceFirst(Deferred.await(reached), Fiber.await(fiber))
                yield* Fiber.interrupt(fiber)
                if (fleet.ledger.created().length > 0 && at < total) interruptedWithVms++
                fleet.faults.clear()
                expect(fleet.ledger.live(), `interrupted at request ${at}, slow ${slowMs}`).toEqual([])
                expect(fleet.vms()).toEqual([])
              }).pipe(Effect.scoped)
            )
          ),
          { numRuns: 30, seed: 14 }
        )
      )
      // The property did interrupt runs that had made VMs (the check above was not vacuous).
      expect(interruptedWithVms).toBeGreaterThan(5)
    }).pipe(Effect.scoped))

  it.live("an interrupt while a create hangs after the VM exists: the create times out, adopts its VM by label, and the finalizer deletes it", () =>
    Effect.gen(function* () {
      const fleet = yield* FakeVers.make({ bootMs: 0 })
      const reached = yield* Deferred.make<void>()
      const api = yield* makeApi(fleet, { config: { requestTimeoutMs: 800 }, onRequest: (n) => n === 1 && Deferred.unsafeDone(reached, Exit.void) })
      fleet.faults.inject({ operation: "create_new_root_vm", fault: { kind: "hang" }, afterEffect: true })
      const fiber = yield* Effect.fork(Effect.scoped(lifecycle(api)))
      yield* Deferred.await(reached)
      yield* Fiber.interrupt(fiber)
      expect(fleet.ledger.created()).toHaveLength(1)
      expect(requestsOf(fleet, "create_new_root_vm").map((r) => r.fault)).toEqual(["hang"])
      expect(requestsOf(fleet, "list_vms").length).toBeGreaterThanOrEqual(1)
      expect(fleet.ledger.live()).toEqual([])
    }).pipe(Effect.scoped))

  it.live("an interrupt while the server is creating the VM (the answer not yet sent) still deletes it", () =>
    Effect.gen(function* () {
      const entered = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      let created = 0
      const fleet = yield* FakeVers.make({
        bootMs: 0,
        hooks: {
          // The first VM exists on the server; its create answers only once the test has asked to interrupt.
          onCreate: () => (created++ === 0 ? Effect.runPromise(Deferred.succeed(entered, undefined).pipe(Effect.zipRight(Deferred.await(release)))) : undefined)
        }
      })
      const api = yield* makeApi(fleet)
      const fiber = yield* Effect.fork(Effect.scoped(lifecycle(api)))
      yield* Deferred.await(entered)
      expect(fleet.ledger.live()).toHaveLength(1)
      const interrupting = yield* Effect.fork(Fiber.interrupt(fiber))
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(interrupting)
      expect(fleet.ledger.created()).toHaveLength(1)
      expect(fleet.ledger.live()).toEqual([])
    }).pipe(Effect.scoped))
})
