/**
 * Hosts: `on` → host, routing `local` to another named host, `unavailable` sentences, reaping
 * dispatched on an identity's host; and CommandGraph asking Hosts per leaf (`on: broker`,
 * `on: vm:<id>` failing as that leaf's failure when it runs, not at plan time).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { CommandGraph } from "../../src/services/CommandGraph.js"
import type { HostShape, ProcessIdentity } from "../../src/services/Host.js"
import { Hosts } from "../../src/services/Hosts.js"
import { LocalHost } from "../../src/services/LocalHost.js"
import { fakeHost, fakeLeaf } from "../support/fakeHost.js"
import { graphLayerOn, runTemplate, scratch } from "../support/graph.js"

const encode = (s: string) => new TextEncoder().encode(s)

/** A fake host `name` whose leaves print `<name>: <argv>`; it records what it reaped. */
const named = (name: string) => {
  const reaped: Array<ProcessIdentity> = []
  const host: HostShape = {
    ...fakeHost((spec) =>
      Effect.succeed(
        fakeLeaf({
          identity: { host: name, pid: 7, pgid: 7, startTime: 1 },
          stdout: encode(`${name}: ${spec.argv.join(" ")}\n`),
          exit: Effect.succeed({ code: 0 })
        })
      )
    ),
    name,
    resolve: (argv) => Effect.succeed([`/${name}/bin/${argv[0]}`, ...argv.slice(1)]),
    reap: (identity) => Effect.sync(() => reaped.push(identity))
  }
  return { host, reaped }
}

const failureOf = <A, E>(effect: Effect.Effect<A, E>) => Effect.flip(effect)

describe("Hosts", () => {
  it.effect("acquire: local, a registered host, and unavailable names with an actionable sentence", () =>
    Effect.gen(function* () {
      const local = named("local")
      const broker = named("broker")
      const hosts = Hosts.make(local.host, { hosts: { broker: broker.host } })
      expect((yield* Effect.scoped(hosts.acquire("local"))).name).toBe("local")
      expect((yield* Effect.scoped(hosts.acquire("broker"))).name).toBe("broker")
      const vm = yield* failureOf(Effect.scoped(hosts.acquire("vm:x")))
      expect(vm).toMatchObject({ _tag: "HostError", reason: "unavailable", message: "Host vm:x is not available: no VM host is configured." })
      const none = Hosts.make(local.host)
      expect((yield* failureOf(Effect.scoped(none.acquire("broker")))).message).toBe(
        "Host broker is not available: no broker host is configured."
      )
    })
  )

  it.effect("local: routes every local leaf to another named host; reaping still finds each host by name", () =>
    Effect.gen(function* () {
      const local = named("local")
      const broker = named("broker")
      const hosts = Hosts.make(local.host, { hosts: { broker: broker.host }, local: "broker" })
      expect((yield* Effect.scoped(hosts.acquire("local"))).name).toBe("broker")
      yield* hosts.reap({ host: "local", pid: 1, pgid: 1, startTime: 1 })
      yield* hosts.reap({ host: "broker", pid: 2, pgid: 2, startTime: 2 })
      expect(local.reaped.map((i) => i.pid)).toEqual([1])
      expect(broker.reaped.map((i) => i.pid)).toEqual([2])
      const unknown = yield* failureOf(hosts.reap({ host: "vm:gone", pid: 3, pgid: 3, startTime: 3 }))
      expect(unknown.reason).toBe("unavailable")
      expect(unknown.message).toBe("Host vm:gone is not available: no VM host is configured.")
    })
  )

  it.effect("an entry may be a scoped acquisition, held for the leaf's scope", () =>
    Effect.gen(function* () {
      const events: Array<string> = []
      const broker = named("broker")
      const acquire = Effect.acquireRelease(
        Effect.sync(() => (events.push("open"), broker.host)),
        () => Effect.sync(() => void events.push("close"))
      )
      const hosts = Hosts.make(named("local").host, { hosts: { broker: acquire } })
      yield* Effect.scoped(Effect.tap(hosts.acquire("broker"), () => Effect.sync(() => void events.push("use"))))
      expect(events).toEqual(["open", "use", "close"])
    })
  )

  it.effect("Hosts.layer serves the Host service as local (LocalHost by name)", () =>
    Effect.gen(function* () {
      const hosts = yield* Hosts
      expect((yield* Effect.scoped(hosts.acquire("local"))).name).toBe("local")
    }).pipe(Effect.provide(Hosts.layer().pipe(Layer.provide(LocalHost.layer({ graceMs: 300, env: process.env })))))
  )
})

describe("CommandGraph on Hosts", () => {
  const local = named("local")
  const broker = named("broker")
  const layer = graphLayerOn(Layer.succeed(Hosts, Hosts.make(local.host, { hosts: { broker: broker.host } })))

  it.effect("each leaf runs on the host its on names; argv is resolved by that host; command.start carries the host", () =>
    Effect.gen(function* () {
      const { plan, result, stdout, events } = yield* runTemplate(
        { parallel: true, template: [{ on: "broker", template: "tool a" }, "tool b"] },
        { cwd: "/" }
      )
      expect(plan._tag === "Parallel" && plan.children.map((c) => (c._tag === "Leaf" ? c.argv[0] : ""))).toEqual([
        "/broker/bin/tool",
        "/local/bin/tool"
      ])
      expect(result.status).toBe("done")
      expect(stdout).toContain("broker: /broker/bin/tool a\n")
      expect(stdout).toContain("local: /local/bin/tool b\n")
      const starts = events.flatMap((e) => (e.type === "command.start" ? [[e.path, e.host]] : []))
      expect(starts.sort()).toEqual([["root.0", "broker"], ["root.1", "local"]])
    }).pipe(Effect.provide(layer))
  )

  it.effect("a vm: leaf without a VM host plans (argv as written) and fails when it runs, as that leaf's failure", () =>
    Effect.gen(function* () {
      const graph = yield* CommandGraph
      const plan = yield* graph.plan(["echo before", { on: "vm:x", template: "tool c" }], { cwd: "/" })
      const dry = graph.dryRun(plan)
      expect(dry.map((l) => [l.on, l.argv])).toEqual([["local", ["/local/bin/echo", "before"]], ["vm:x", ["tool", "c"]]])
      const { result, events } = yield* runTemplate(["echo before", { on: "vm:x", template: "tool c" }], { cwd: "/" })
      expect(result.status).toBe("failed")
      expect(result.code).toBe(1)
      expect(result.message).toBe("Host vm:x is not available: no VM host is configured.")
      expect(result.failures[0]).toMatchObject({ path: "root.1", critical: true, stderr_tail: "Host vm:x is not available: no VM host is configured." })
      expect(events.filter((e) => e.type === "command.start").map((e) => e.path)).toEqual(["root.0"])
    }).pipe(Effect.provide(layer))
  )

  it.effect("on accepts local, broker, vm:<id>, {commit} and {golden}; anything else is a plan-time error", () =>
    Effect.gen(function* () {
      const graph = yield* CommandGraph
      const bad = yield* Effect.flip(graph.plan({ on: "ssh:box", template: "x" }, { cwd: "/" }))
      expect(bad.message).toBe(`Invalid host for on: ssh:box. Use "local", "broker", "vm:<id>", {"commit": "<id>"} or {"golden": true}.`)
      const badDefault = yield* Effect.flip(graph.plan("x", { cwd: "/", on: "vm:" }))
      expect(badDefault.message).toBe(`Invalid host for on: vm:. Use "local", "broker", "vm:<id>", commit:<id> or golden.`)
      const plan = yield* graph.plan(
        [{ on: { commit: "c1" }, template: "a" }, { on: { golden: true }, template: "b" }, { on: "commit:{c}", template: "c", values: { c: "c2" } }, "d"],
        { cwd: "/", on: "vm:v1" }
      )
      expect(graph.dryRun(plan).map((l) => l.on)).toEqual(["commit:c1", "golden", "commit:c2", "vm:v1"])
    }).pipe(Effect.provide(layer))
  )

  it.effect("families make hosts on demand; one host per `on` per execution, held until it ends; VM-provisioning hosts are not acquired to plan", () =>
    Effect.gen(function* () {
      const events: Array<string> = []
      const family = (name: string) =>
        Effect.acquireRelease(
          Effect.sync(() => (events.push(`open ${name}`), named(name).host)),
          () => Effect.sync(() => void events.push(`close ${name}`))
        )
      const hosts = Hosts.make(named("local").host, { families: { vm: family, commit: family } })
      const graph = yield* CommandGraph.pipe(Effect.provide(graphLayerOn(Layer.succeed(Hosts, hosts))))
      const plan = yield* graph.plan(
        [{ on: { commit: "c1" }, template: "a" }, { on: { commit: "c1" }, template: "b" }, { on: "vm:v1", template: "c" }],
        { cwd: "/" }
      )
      // Planning resolved the vm: leaf on its host (opened and closed) and left commit: alone.
      expect(events).toEqual(["open vm:v1", "close vm:v1"])
      expect(graph.dryRun(plan).map((l) => l.argv[0])).toEqual(["a", "b", "/vm:v1/bin/c"])
      events.length = 0
      const result = yield* graph.execute(plan, { outputDir: scratch("troupe-hosts-") })
      expect(result.status).toBe("done")
      // Both commit:c1 leaves shared one host; nothing closed before the execution ended.
      expect(events.slice(0, 2)).toEqual(["open commit:c1", "open vm:v1"])
      expect(events.filter((e) => e.startsWith("close")).sort()).toEqual(["close commit:c1", "close vm:v1"])
      const unknown = yield* failureOf(Effect.scoped(hosts.acquire("golden")))
      expect(unknown.message).toBe("Host golden is not available: no VM host is configured.")
    })
  )
})
