/**
 * VmHost on a FakeFleet VM: the broker install, the broker and fallback paths, faults.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, type Scope, Stream } from "effect"
import type { HostShape } from "../../src/services/Host.js"
import { VmId } from "../../src/domain/Vers.js"
import { VmHost } from "../../src/services/VmHost.js"
import { closeVmFleet, sshLayerOf, vmFleet } from "../support/vmHosts.js"

afterAll(closeVmFleet, 30_000)

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

const onVm = <A, E>(mode: "broker" | "exec", f: (host: HostShape, vm: string) => Effect.Effect<A, E, Scope.Scope>) =>
  Effect.gen(function* () {
    const { fleet, vm } = yield* Effect.promise(vmFleet)
    return yield* Effect.scoped(Effect.flatMap(VmHost.make(VmId.make(vm), { mode, graceMs: 300 }), (host) => f(host, vm))).pipe(
      Effect.provide(sshLayerOf(fleet))
    )
  })

describe("VmHost", () => {
  for (const mode of ["broker", "exec"] as const) {
    it.live(`${mode}: runs a command in the VM home, identity named vm:<id>`, () =>
      onVm(mode, (host, vm) =>
        Effect.gen(function* () {
          const leaf = yield* host.start({ argv: ["sh", "-c", "pwd; echo err >&2; exit 3"], cwd: "~", stdin: { _tag: "None" } })
          const [out, err, exit] = yield* Effect.all([Stream.runCollect(leaf.stdout), Stream.runCollect(leaf.stderr), leaf.exit], { concurrency: 3 })
          expect(leaf.identity.host).toBe(`vm:${vm}`)
          expect(text(Buffer.concat([...out]))).toMatch(new RegExp(`${vm}\\n$`))
          expect(text(Buffer.concat([...err]))).toBe("err\n")
          expect(exit).toEqual({ code: 3 })
        })
      ), 60_000)
  }
})
