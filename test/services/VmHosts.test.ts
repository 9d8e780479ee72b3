/**
 * VmHosts' provisioning families on a FakeFleet: a VM restored for `commit:<id>` carries this
 * home's owner labels (so startup reconciliation finds it after a crash) and is deleted when
 * the acquiring scope closes.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { HostOwner } from "../../src/services/Hosts.js"
import { VmHosts } from "../../src/services/VmHosts.js"
import { api } from "../support/fakeFleet.js"
import { closeVmFleet, sshLayerOf, vmFleet } from "../support/vmHosts.js"

afterAll(closeVmFleet, 30_000)

describe("VmHosts commit:<id>", () => {
  it.live("labels the restored VM with home, session and run, and deletes it with the scope", () =>
    Effect.gen(function* () {
      const { fleet, vm } = yield* Effect.promise(vmFleet)
      const commit = yield* Effect.promise(() => api(fleet, "POST", `/vm/${vm}/commit`, {}))
      expect(commit.status).toBe(201)
      const before = new Set(fleet.vers.ledger.live().map((v) => v.vm_id))
      const layer = VmHosts.layer({ graceMs: 500, homeLabel: "home-label-1" }).pipe(Layer.provide(sshLayerOf(fleet)))
      const restored = yield* Effect.gen(function* () {
        const { families } = yield* VmHosts
        const host = yield* families.commit!(`commit:${commit.json.commit_id}`)
        const fresh = fleet.vers.ledger.live().filter((v) => !before.has(v.vm_id))
        expect(fresh).toHaveLength(1)
        expect(host.name).toBe(`vm:${fresh[0]!.vm_id}`)
        const listed = yield* Effect.promise(() => api(fleet, "GET", "/vms"))
        return listed.json.find((v: { vm_id: string }) => v.vm_id === fresh[0]!.vm_id) as { vm_id: string; labels: Record<string, string> }
      }).pipe(
        Effect.provideService(HostOwner, { session: "s-1", run: "r-1" }),
        Effect.scoped,
        Effect.provide(layer)
      )
      expect(restored.labels).toMatchObject({ "troupe-home": "home-label-1", "troupe-session": "s-1", "troupe-run": "r-1" })
      // The scope closed: the VM is gone (proved to have existed above).
      expect(fleet.vers.ledger.live().map((v) => v.vm_id)).not.toContain(restored.vm_id)
    }), 60_000)
})
