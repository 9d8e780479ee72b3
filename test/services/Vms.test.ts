/**
 * `Vms` over the real in-process runtime (SQLite store under a temporary home, events) and the
 * real `VersApi` against a fake fleet on loopback: labels and ledger rows of what it creates,
 * scoped VMs deleted with their scope unless kept, a failed boot leaves nothing behind, `hold`
 * until an effect and until the service stops, access by session, and startup reconciliation.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Deferred, Effect, ExecutionStrategy, Exit, Layer, Schedule, Scope, Stream } from "effect"
import type { VmId } from "../../src/domain/Vers.js"
import * as Runtime from "../../src/layers/Runtime.js"
import { Events } from "../../src/services/Events.js"
import { TroupeConfig } from "../../src/services/TroupeConfig.js"
import { VersApi } from "../../src/services/VersApi.js"
import { VersConfig } from "../../src/services/VersConfig.js"
import { homeLabel, Vms } from "../../src/services/Vms.js"
import * as FakeVers from "../../src/testing/FakeVers.js"
import { testRuntime } from "../support/runtime.js"

/** A fake fleet, the runtime and `Vms` over them, in the test's scope; `apiKey: false` = none configured. */
const setup = (options: { readonly apiKey?: boolean } = {}) =>
  Effect.gen(function* () {
    const fleet = yield* FakeVers.make({ bootMs: 0 })
    const runtime = yield* Layer.build(testRuntime())
    const versConfig = VersConfig.layerFrom({ baseUrl: fleet.baseUrl, apiKey: options.apiKey === false ? undefined : fleet.apiKey })
    const vmsScope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    const ctx = yield* Layer.buildWithScope(Runtime.vms({ versConfig }).pipe(Layer.provide(Layer.succeedContext(runtime))), vmsScope)
    // Built in the test's scope: the HTTP client lives as long as the test.
    const api = Context.get(yield* Layer.build(VersApi.layer.pipe(Layer.provide(versConfig), Layer.provide(NodeHttpClient.layerUndici))), VersApi)
    return {
      fleet,
      vms: Context.get(ctx, Vms),
      api,
      runtime,
      home: Context.get(runtime, TroupeConfig).home,
      closeVms: Scope.close(vmsScope, Exit.void)
    }
  })

const cli = { session: "cli", all: false }

describe("Vms", () => {
  it.scopedLive("acquire: labelled and recorded; deleted when the scope closes (ledger: scope)", () =>
    Effect.gen(function* () {
      const { fleet, vms, home } = yield* setup()
      const scope = yield* Scope.make()
      const vm = yield* vms.acquire({ session: "s1", run: "r1" }, { _tag: "root" }).pipe(Scope.extend(scope))
      expect(fleet.vm(vm.vm_id)?.labels).toMatchObject({ "troupe-session": "s1", "troupe-run": "r1", "troupe-home": homeLabel(home) })
      expect(fleet.vm(vm.vm_id)?.state).toBe("running")
      expect(vm).toMatchObject({ session: "s1", run: "r1", source: "root", kept: false, deleted_at: null })
      yield* Scope.close(scope, Exit.void)
      expect(fleet.vm(vm.vm_id)).toBeUndefined()
      const [row] = yield* vms.ledger()
      expect(row).toMatchObject({ vm_id: vm.vm_id, delete_reason: "scope" })
    }))

  it.scopedLive("acquire with keep: survives its scope, labelled troupe-keep", () =>
    Effect.gen(function* () {
      const { fleet, vms } = yield* setup()
      const vm = yield* Effect.scoped(vms.acquire({ session: "s1", run: "r1", keep: true }, { _tag: "root" }))
      expect(fleet.vm(vm.vm_id)?.labels["troupe-keep"]).toBe("true")
      expect((yield* vms.ledger())[0]).toMatchObject({ kept: true, deleted_at: null })
    }))

  it.scopedLive("a boot that fails deletes the VM before failing", () =>
    Effect.gen(function* () {
      const { fleet, vms } = yield* setup()
      fleet.faults.inject({ operation: "vm_status", fault: { kind: "status", status: 404 } })
      const exit = yield* Effect.exit(vms.create(cli, { _tag: "root" }))
      expect(Exit.isFailure(exit)).toBe(true)
      // It existed (the negative check below means something).
      expect(fleet.ledger.created()).toHaveLength(1)
      expect(fleet.ledger.live()).toEqual([])
      expect((yield* vms.ledger())[0]?.deleted_at).not.toBeNull()
    }))

  it.scopedLive("hold: deleted when `until` completes, and when the service stops", () =>
    Effect.gen(function* () {
      const { fleet, vms, closeVms } = yield* setup()
      const done = yield* Deferred.make<void>()
      const a = yield* vms.hold({ session: "s1", run: "r1" }, { _tag: "root" }, Deferred.await(done))
      const b = yield* vms.hold({ session: "s1", run: "r2" }, { _tag: "root" }, Effect.never)
      expect(fleet.vms().map((v) => v.vm_id).sort()).toEqual([a.vm_id, b.vm_id].sort())
      yield* Deferred.succeed(done, undefined)
      // Wait for the positive signal (the VM is gone), bounded.
      yield* Effect.suspend(() => (fleet.vm(a.vm_id) === undefined ? Effect.void : Effect.fail("still there"))).pipe(
        Effect.retry(Schedule.spaced("20 millis")),
        Effect.timeout("10 seconds")
      )
      expect(fleet.vm(b.vm_id)).toBeDefined()
      yield* closeVms
      expect(fleet.vms()).toEqual([])
    }), { timeout: 20_000 })

  it.scopedLive("another session's VM is refused; --all may; a branch and restore record their parent", () =>
    Effect.gen(function* () {
      const { vms } = yield* setup()
      const vm = yield* vms.create(cli, { _tag: "root" })
      const refused = yield* Effect.flip(vms.delete({ session: "other", all: false }, vm.vm_id))
      expect(refused.message).toBe(`VM ${vm.vm_id.slice(0, 8)}… belongs to session cli: act as it (--session cli) or use --all`)
      const branch = yield* vms.create({ session: "other", all: true }, { _tag: "branch", vmId: vm.vm_id })
      expect(branch).toMatchObject({ session: "other", source: "branch", parent: vm.vm_id })
      const commit = yield* vms.commit(cli, vm.vm_id)
      const restored = yield* vms.create(cli, { _tag: "restore", commitId: commit.commit_id })
      expect(restored).toMatchObject({ source: "restore", parent: commit.commit_id })
      expect((yield* vms.list(cli, { owned: true })).map((e) => e.vm_id).sort()).toEqual([vm.vm_id, restored.vm_id].sort())
      expect((yield* vms.list({ session: "x", all: true }, { owned: true })).length).toBe(3)
      expect(yield* vms.list({ session: "x", all: false }, { owned: true })).toEqual([])
    }))

  it.scopedLive("reconcile: deletes this home's run-owned VMs whose run is gone, keeps kept, foreign and session VMs; reports and publishes", () =>
    Effect.gen(function* () {
      const { fleet, vms, api, home, runtime } = yield* setup()
      const label = homeLabel(home)
      const orphan = yield* api.createRoot({ labels: { "troupe-session": "s1", "troupe-run": "gone", "troupe-home": label } })
      const kept = yield* api.createRoot({ labels: { "troupe-session": "s1", "troupe-run": "gone", "troupe-home": label, "troupe-keep": "true" } })
      const foreign = yield* api.createRoot({ labels: { "troupe-session": "s1", "troupe-run": "gone", "troupe-home": "another-home" } })
      const mine = yield* vms.create(cli, { _tag: "root" })
      // A ledger VM that Vers lost.
      const lost = yield* vms.create(cli, { _tag: "root" })
      yield* api.delete(lost.vm_id as VmId)
      const report = yield* vms.reconcile()
      expect(report.skipped).toBeNull()
      expect(report.deleted).toEqual([{ vm_id: orphan, session: "s1", run: "gone", reason: "run gone is gone" }])
      expect(report.gone).toEqual([lost.vm_id])
      expect(fleet.vms().map((v) => v.vm_id).sort()).toEqual([kept, foreign, mine.vm_id].sort())
      const events = yield* Context.get(runtime, Events).stream("s1", 0, false).pipe(Stream.runCollect)
      expect(Chunk.toReadonlyArray(events).map((e) => [e.type, e.run_id, e.text])).toEqual([
        ["vm.reconciled", "gone", `Deleted VM ${orphan}: run gone is gone (startup reconciliation)`]
      ])
    }))

  it.scopedLive("without an API key: reconciliation is skipped with a note, operations fail with VersAuthError", () =>
    Effect.gen(function* () {
      const { vms } = yield* setup({ apiKey: false })
      expect((yield* vms.reconcile()).skipped).toBe("no Vers API key is set")
      const e = yield* Effect.flip(vms.list(cli))
      expect(e._tag).toBe("VersAuthError")
    }))

  it.scopedLive("a ledger row that no longer decodes is a PersistenceError naming the operation", () =>
    Effect.gen(function* () {
      const { vms, runtime } = yield* setup()
      const sql = Context.get(runtime, SqlClient.SqlClient)
      yield* sql`INSERT INTO vm_ledger (vm_id, session, source, created_at) VALUES ('v1', 's1', 'teleport', 1)`
      const e = yield* Effect.flip(vms.ledger())
      expect(e._tag).toBe("PersistenceError")
      expect(e.operation).toBe("VmLedger.all")
      expect(e.message).toMatch(/^The troupe store failed during VmLedger\.all \(/)
    }))
})
