/**
 * CommandGraph and `Host.stage` (recipe folders on VMs, docs/vmhost.md): plans carry each
 * leaf's recipe folders; an execution stages each folder once per host that has `stage`, before
 * the first leaf there starts, and resolves such a leaf's command word only after staging.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { existsSync, mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { VmId } from "../../src/domain/Vers.js"
import type { PlannedLeaf, PlannedNode } from "../../src/domain/Plan.js"
import { importedNode } from "../../src/domain/RecipeImports.js"
import { CommandGraph } from "../../src/services/CommandGraph.js"
import { HostError, type HostShape } from "../../src/services/Host.js"
import { Hosts } from "../../src/services/Hosts.js"
import { Ssh } from "../../src/services/Ssh.js"
import { VmHost } from "../../src/services/VmHost.js"
import { fakeHost, fakeLeaf } from "../support/fakeHost.js"
import { graphLayerOn, scratch } from "../support/graph.js"
import { mappedSsh, newCounts } from "../support/mappedSsh.js"
import { closeVmFleet, sshLayerOf, vmFleet } from "../support/vmHosts.js"

afterAll(closeVmFleet, 30_000)

const leaves = (node: PlannedNode): Array<PlannedLeaf> =>
  node._tag === "Leaf" ? [node] : node._tag === "Sequence" ? node.steps.flatMap(leaves) : node._tag === "Parallel" ? node.children.flatMap(leaves) : []

/** Hosts whose `vm:` family makes staging hosts; `log` records stage, resolve and start in order. */
const world = (options: { readonly failStage?: string } = {}) => {
  const log: Array<string> = []
  const host = (name: string, staging: boolean): HostShape => ({
    ...fakeHost((spec) =>
      Effect.sync(() => {
        log.push(`start ${name} ${spec.argv.join(" ")}`)
        return fakeLeaf({ identity: { host: name, pid: 7, pgid: 7, startTime: 1 }, exit: Effect.succeed({ code: 0 }) })
      })
    ),
    name,
    resolve: (argv) => Effect.sync(() => (log.push(`resolve ${name} ${argv[0]}`), argv)),
    ...(staging
      ? {
        stage: (dir: string) =>
          dir === options.failStage
            ? Effect.fail(new HostError({ reason: "spawn", code: 1, message: `Could not stage recipe folder ${dir} on VM x: it holds more than 10 bytes.` }))
            : Effect.sync(() => void log.push(`stage ${name} ${dir}`))
      }
      : {})
  })
  const hosts = Hosts.make(host("local", false), { families: { vm: (name) => Effect.succeed(host(name, true)) } })
  return { log, layer: graphLayerOn(Layer.succeed(Hosts, hosts)) }
}

describe("CommandGraph recipe folders", () => {
  it.effect("leaves carry the absolute recipe folders of their scopes, an imported recipe's after its importer's", () =>
    Effect.gen(function* () {
      const { layer } = world()
      const graph = yield* CommandGraph.pipe(Effect.provide(layer))
      const plan = yield* graph.plan(
        [
          "sh {recipe_dir}/a.sh",
          importedNode({ id: "imp", dir: "/imp", template: "sh {recipe_dir}/b.sh", defaults: {}, values: {} }),
          { template: "c", values: { recipe_dir: "rel" } }
        ],
        { cwd: "/", values: { recipe_dir: "/rec" } }
      )
      expect(leaves(plan).map((l) => l.recipeDirs)).toEqual([["/rec"], ["/rec", "/imp"], ["/rec"]])
      const none = yield* graph.plan("echo hi", { cwd: "/" })
      expect(leaves(none)[0]!.recipeDirs).toBeUndefined()
    })
  )

  it.effect("each folder is staged once per VM host before its first leaf there, then the command word is resolved; local leaves stage nothing", () =>
    Effect.gen(function* () {
      const { layer, log } = world()
      const graph = yield* CommandGraph.pipe(Effect.provide(layer))
      const plan = yield* graph.plan(
        [
          { parallel: true, template: ["sh {recipe_dir}/a.sh", "sh {recipe_dir}/b.sh"] },
          { on: "vm:v2", template: "sh {recipe_dir}/c.sh" },
          { on: "local", template: "sh {recipe_dir}/d.sh" }
        ],
        { cwd: "/", on: "vm:v1", values: { recipe_dir: "/rec" } }
      )
      // Planning resolved only the local leaf: a staging host resolves after staging.
      expect(log).toEqual(["resolve local sh"])
      expect(leaves(plan).map((l) => l.unresolved !== undefined)).toEqual([true, true, true, false])
      log.length = 0
      const result = yield* graph.execute(plan, { outputDir: scratch("troupe-stage-graph-") })
      expect(result.status).toBe("done")
      expect(log.filter((l) => l.startsWith("stage"))).toEqual(["stage vm:v1 /rec", "stage vm:v2 /rec"])
      const first = (prefix: string) => log.findIndex((l) => l.startsWith(prefix))
      expect(first("stage vm:v1")).toBeLessThan(first("resolve vm:v1"))
      expect(first("stage vm:v1")).toBeLessThan(first("start vm:v1"))
      expect(first("stage vm:v2")).toBeLessThan(first("start vm:v2"))
      expect(log.filter((l) => l.startsWith("start"))).toHaveLength(4)
    })
  )

  it.effect("a folder that cannot be staged fails the leaf with the staging sentence; the leaves before it ran", () =>
    Effect.gen(function* () {
      const { layer, log } = world({ failStage: "/big" })
      const graph = yield* CommandGraph.pipe(Effect.provide(layer))
      const plan = yield* graph.plan(
        [{ on: "local", template: "true" }, { on: "vm:v1", template: "sh {recipe_dir}/a.sh" }],
        { cwd: "/", values: { recipe_dir: "/big" } }
      )
      const result = yield* graph.execute(plan, { outputDir: scratch("troupe-stage-graph-") })
      expect(result).toMatchObject({ status: "failed", code: 1, message: "Could not stage recipe folder /big on VM x: it holds more than 10 bytes." })
      expect(result.failures.map((f) => f.path)).toContain("root.1")
      expect(log.filter((l) => l.startsWith("start"))).toEqual(["start local true"])
    })
  )

  it.live("on a VmHost whose VM has its own filesystem: the recipe's script is staged, then runs there; a second run copies nothing", () =>
    Effect.gen(function* () {
      const { fleet, vm } = yield* Effect.promise(vmFleet)
      const src = join(scratch("troupe-stage-recipe-"), "my recipe")
      mkdirSync(src)
      // Runs as argv[0]: only a staged copy with its mode (0755) can.
      writeFileSync(join(src, "check.sh"), "#!/bin/sh\necho \"staged-ok $0\"\n", { mode: 0o755 })
      const disk = scratch("troupe-stage-vmdisk-")
      const counts = newCounts()
      const run = Effect.gen(function* () {
        const ssh = mappedSsh(yield* Ssh, src, disk, counts)
        const hosts = Hosts.make(fakeHost(() => Effect.die("no local leaves here")), {
          families: { vm: (name) => VmHost.make(VmId.make(name.slice("vm:".length)), { mode: "exec", graceMs: 300 }).pipe(Effect.provideService(Ssh, ssh)) }
        })
        const graph = yield* CommandGraph.pipe(Effect.provide(graphLayerOn(Layer.succeed(Hosts, hosts))))
        const plan = yield* graph.plan("{recipe_dir}/check.sh", { cwd: "/", on: `vm:${vm}`, values: { recipe_dir: src } })
        const result = yield* graph.execute(plan, { outputDir: scratch("troupe-stage-out-") })
        return { result, stdout: new TextDecoder().decode(yield* graph.readAll(result.stdout)) }
      }).pipe(Effect.provide(sshLayerOf(fleet)))
      expect(existsSync(disk + src)).toBe(false)
      const first = yield* run
      expect(first.result.status, first.result.message).toBe("done")
      // It ran from the VM's own disk (where only staging put it).
      expect(first.stdout).toBe(`staged-ok ${disk}${src}/check.sh\n`)
      expect(counts.writes).toEqual([join(src, "check.sh")])
      expect(existsSync(join(disk + src, "check.sh"))).toBe(true)
      counts.writes.length = 0
      const second = yield* run
      expect(second.stdout).toBe(first.stdout)
      expect(counts.writes).toEqual([])
    }), 60_000)
})
