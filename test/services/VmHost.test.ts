/**
 * VmHost on a FakeFleet VM: the broker install, the broker and fallback paths, faults.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Layer, type Scope, Stream } from "effect"
import type { HostShape } from "../../src/services/Host.js"
import { VmId } from "../../src/domain/Vers.js"
import { VmHost } from "../../src/services/VmHost.js"
import { Ssh, SshHostKeys } from "../../src/services/Ssh.js"
import { closeVmFleet, sshLayerOf, versLayerOf, vmFleet } from "../support/vmHosts.js"

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
          expect(text(Buffer.concat([...out]))).toMatch(new RegExp(`${vm}/root\\n$`))
          expect(text(Buffer.concat([...err]))).toBe("err\n")
          expect(exit).toEqual({ code: 3 })
        })
      ), 60_000)
  }
})

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Polls `check` every 25 ms for at most 10 s. */
const eventually = (check: () => boolean, what: string) =>
  Effect.gen(function* () {
    for (let i = 0; i < 400; i++) {
      if (check()) return
      yield* Effect.sleep("25 millis")
    }
    return yield* Effect.dieMessage(`timed out waiting for ${what}`)
  })

describe("VmHost faults", () => {
  it.live("a dropped connection fails the running leaf (unavailable); its remote group is reaped on reconnect", () =>
    Effect.gen(function* () {
      const { fleet, vm } = yield* Effect.promise(vmFleet)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const host = yield* VmHost.make(VmId.make(vm), { mode: "broker", graceMs: 300 })
          const { pid, failure } = yield* Effect.scoped(
            Effect.gen(function* () {
              const leaf = yield* host.start({ argv: ["sh", "-c", "echo ready; exec sleep 60"], cwd: "~", stdin: { _tag: "None" } })
              const lines = yield* Stream.runHead(leaf.stdout)
              expect(lines._tag).toBe("Some")
              // The process existed on the VM (a local process in FakeVm).
              expect(alive(leaf.identity.pid)).toBe(true)
              // Cut every connection of the VM, then let it accept connections again.
              fleet.setVmState(vm, "paused")
              fleet.setVmState(vm, "running")
              const failure = yield* Effect.flip(leaf.exit)
              return { pid: leaf.identity.pid, failure }
            })
          )
          expect(failure).toMatchObject({ _tag: "HostError", reason: "unavailable" })
          yield* eventually(() => !alive(pid), `pid ${pid} to be reaped`)
        })
      ).pipe(Effect.provide(sshLayerOf(fleet)))
    }), 60_000)

  it.live("a VM paused under a running command: the leaf fails unavailable, nothing is left once it runs again", () =>
    Effect.gen(function* () {
      const { fleet, vm } = yield* Effect.promise(vmFleet)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const host = yield* VmHost.make(VmId.make(vm), { mode: "broker", graceMs: 300, helloTimeoutMs: 5000 })
          const { pid, failure } = yield* Effect.scoped(
            Effect.gen(function* () {
              const leaf = yield* host.start({ argv: ["sh", "-c", "echo ready; exec sleep 60"], cwd: "~", stdin: { _tag: "None" } })
              yield* Stream.runHead(leaf.stdout)
              expect(alive(leaf.identity.pid)).toBe(true)
              fleet.setVmState(vm, "paused")
              const failure = yield* Effect.flip(leaf.exit)
              fleet.setVmState(vm, "running")
              return { pid: leaf.identity.pid, failure }
            })
          )
          expect(failure).toMatchObject({ _tag: "HostError", reason: "unavailable" })
          // Reaped on reconnect, or swept by the broker when its input ended.
          yield* eventually(() => !alive(pid), `pid ${pid} to be gone`)
        })
      ).pipe(Effect.provide(sshLayerOf(fleet)))
    }), 60_000)

  it.live("50 concurrent commands on one VM over the broker", () =>
    onVm("broker", (host) =>
      Effect.gen(function* () {
        const outs = yield* Effect.forEach(
          Array.from({ length: 50 }, (_, i) => i),
          (i) =>
            Effect.scoped(
              Effect.gen(function* () {
                const leaf = yield* host.start({ argv: ["sh", "-c", `echo ${i}`], cwd: "~", stdin: { _tag: "None" } })
                const [out, , exit] = yield* Effect.all([Stream.runCollect(leaf.stdout), Stream.runDrain(leaf.stderr), leaf.exit], { concurrency: 3 })
                return { out: text(Buffer.concat([...out])), exit }
              })
            ),
          { concurrency: "unbounded" }
        )
        expect(outs).toEqual(Array.from({ length: 50 }, (_, i) => ({ out: `${i}\n`, exit: { code: 0 } })))
      })
    ), 60_000)

  it.live("exec fallback: interruption kills the remote group", () =>
    onVm("exec", (host) =>
      Effect.gen(function* () {
        const pid = yield* Effect.scoped(
          Effect.gen(function* () {
            const leaf = yield* host.start({ argv: ["sh", "-c", "trap '' TERM; echo ready; sleep 60"], cwd: "~", stdin: { _tag: "None" } })
            yield* Stream.runHead(leaf.stdout)
            expect(alive(leaf.identity.pid)).toBe(true)
            return leaf.identity.pid
          })
        )
        yield* eventually(() => !alive(pid), `pid ${pid} to be killed`)
      })
    ), 60_000)

  it.live("a changed host key is HostError unavailable naming it, before anything runs", () =>
    Effect.gen(function* () {
      const { fleet, vm } = yield* Effect.promise(vmFleet)
      const keys = Layer.effect(
        SshHostKeys,
        Effect.tap(Effect.provide(SshHostKeys, SshHostKeys.layerMemory), (k) =>
          k.pin({ vmId: vm, algorithm: "ssh-ed25519", fingerprint: "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", firstSeenMs: 0 })
        ).pipe(Effect.orDie)
      )
      const ssh = Layer.provideMerge(Ssh.layerWith({ readyTimeoutMs: 10_000 }), Layer.merge(versLayerOf(fleet), keys))
      const error = yield* Effect.scoped(VmHost.make(VmId.make(vm), { graceMs: 300 })).pipe(Effect.flip, Effect.provide(ssh))
      expect(error).toMatchObject({ _tag: "HostError", reason: "unavailable" })
      expect(error.message).toMatch(/host key/i)
    }), 60_000)
})
