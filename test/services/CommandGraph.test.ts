/**
 * CommandGraph composition and real-process behaviour: piping, failure scopes, soft quorum,
 * timeouts, retries, repeats and validation before any process starts.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Fiber, Layer, TestClock } from "effect"
import { createHash } from "node:crypto"
import { existsSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Output from "../../src/domain/Output.js"
import type { GraphEvent } from "../../src/domain/Plan.js"
import { CommandGraph, flattenPlan } from "../../src/services/CommandGraph.js"
import { Host, type HostShape } from "../../src/services/Host.js"
import { LocalHost } from "../../src/services/LocalHost.js"
import { fakeHost, fakeLeaf } from "../support/fakeHost.js"
import { graphLayer, graphLayerOn, runTemplate, scratch } from "../support/graph.js"
import { hostsOf } from "../support/hosts.js"
import { pidsWithEnv, token } from "../support/procs.js"

const live = <A, E>(name: string, f: () => Effect.Effect<A, E, CommandGraph>, timeout?: number) =>
  it.live(name, () => f().pipe(Effect.provide(graphLayer)), timeout)

const maxActive = (events: ReadonlyArray<GraphEvent>) => {
  let active = 0
  let max = 0
  for (const e of events) {
    active += e.type === "command.start" ? 1 : -1
    max = Math.max(max, active)
  }
  return max
}

describe("node options", () => {
  live("retry: n makes n attempts in total (pi-actors 0.17)", () =>
    Effect.gen(function* () {
      const three = yield* runTemplate({ retry: 3, template: "false" })
      expect(three.result.status).toBe("failed")
      expect(three.events.filter((e) => e.type === "command.start")).toHaveLength(3)
      const one = yield* runTemplate({ retry: 1, template: "false" })
      expect(one.events.filter((e) => e.type === "command.start")).toHaveLength(1)
      const unset = yield* runTemplate({ template: "false" })
      expect(unset.events.filter((e) => e.type === "command.start")).toHaveLength(1)
    })
  )

  live("when false skips the node and passes stdin through", () =>
    Effect.gen(function* () {
      const { stdout } = yield* runTemplate(["echo keep", { when: "{flag}", template: "echo replaced" }], { values: { flag: "no" } })
      expect(stdout).toBe("keep\n")
      const on = yield* runTemplate(["echo keep", { when: "{flag}", template: "echo replaced" }], { values: { flag: "yes" } })
      expect(on.stdout).toBe("replaced\n")
    })
  )

  live("repeat: 0 passes stdin through; sequential repeat pipes copies with index/prev/next", () =>
    Effect.gen(function* () {
      const zero = yield* runTemplate(["echo in", { repeat: 0, template: "echo never" }])
      expect(zero.stdout).toBe("in\n")
      const seq = yield* runTemplate({ repeat: "{items.length}", template: "sh -c 'cat; echo $0:$1:$2:$3' {index} {prev} {next} {items[index]}" }, {
        values: { items: ["a", "b", "c"] }
      })
      expect(seq.stdout).toBe("0:2:1:a\n1:0:2:b\n2:1:0:c\n")
    })
  )

  live("numeric fields from placeholders", () =>
    Effect.gen(function* () {
      const { result } = yield* runTemplate({ timeout: "{t}", template: "sleep 5" }, { values: { t: "200" } })
      expect(result.code).toBe(124)
    })
  )

  live("output writes the node's complete stdout to a file atomically", () =>
    Effect.gen(function* () {
      const dir = scratch()
      const { stdout } = yield* runTemplate({ output: "{dir}/out.txt", template: "echo saved" }, { values: { dir } })
      expect(stdout).toBe("saved\n")
      expect(existsSync(join(dir, "out.txt"))).toBe(true)
    })
  )

  live("output: \"stdout\" names the result channel (pi-actors), not a file", () =>
    Effect.gen(function* () {
      const dir = scratch()
      const { stdout } = yield* runTemplate({ output: "stdout", template: "echo kept" }, { cwd: dir })
      expect(stdout).toBe("kept\n")
      yield* runTemplate({ output: "{dir}/proof.txt", template: "echo proof" }, { values: { dir }, cwd: dir })
      expect(existsSync(join(dir, "proof.txt"))).toBe(true)
      expect(existsSync(join(dir, "stdout"))).toBe(false)
    })
  )

  live("child defaults written as {x} resolve against the parent scope", () =>
    Effect.gen(function* () {
      const { stdout } = yield* runTemplate(
        { defaults: { model: "base" }, template: [{ defaults: { m: "{model}", other: "x" }, template: "echo {m} {other}" }] },
        { values: {} }
      )
      expect(stdout).toBe("base x\n")
    })
  )

  live("scripts: .mjs runs with the current node, .sh with bash, when not executable", () =>
    Effect.gen(function* () {
      const dir = scratch()
      writeFileSync(join(dir, "s.mjs"), "console.log('mjs', process.argv[2])\n")
      writeFileSync(join(dir, "s.sh"), "echo sh $1\n")
      const { stdout } = yield* runTemplate(["./s.mjs a", "./s.sh b"], { cwd: dir })
      expect(stdout).toBe("sh b\n")
      const m = yield* runTemplate("./s.mjs a", { cwd: dir })
      expect(m.stdout).toBe("mjs a\n")
      expect(m.plan._tag === "Leaf" && m.plan.argv[0]).toBe(process.execPath)
    })
  )

  live("a missing command fails with code 127", () =>
    Effect.gen(function* () {
      const { result } = yield* runTemplate("definitely-not-a-command-xyz")
      expect(result.code).toBe(127)
      expect(result.message).toContain("command not found")
    })
  )
})

describe("validation before any process starts", () => {
  const planError = (template: unknown, values: Record<string, unknown> = {}) =>
    Effect.gen(function* () {
      const graph = yield* CommandGraph
      const r = yield* graph.plan(template, { cwd: process.cwd(), values }).pipe(Effect.either)
      return Either.isLeft(r) ? r.left.message : "no error"
    }).pipe(Effect.provide(graphLayer))

  it.effect("a template nested deeper than 256 levels is one sentence, not a RangeError; 256 levels plan", () =>
    Effect.gen(function* () {
      const nested = (levels: number): unknown => JSON.parse(`${'{"template":'.repeat(levels)}"echo deep"${"}".repeat(levels)}`)
      expect(yield* planError(nested(5000))).toBe("Command template is nested deeper than 256 levels")
      expect(yield* planError(nested(257))).toBe("Command template is nested deeper than 256 levels")
      expect(yield* planError(nested(256))).toBe("no error")
    })
  )
  it.effect("fan-out cap of 64", () =>
    Effect.gen(function* () {
      expect(yield* planError({ parallel: true, template: Array.from({ length: 65 }, () => "true") })).toBe("parallel fanout 65 exceeds limit 64")
      expect(yield* planError({ parallel: true, repeat: 65, template: "true" })).toBe("parallel fanout 65 exceeds limit 64")
    })
  )
  it.effect("min_successful above the branch count", () =>
    Effect.gen(function* () {
      expect(yield* planError({ parallel: true, min_successful: 3, template: ["true", "true"] })).toBe("min_successful 3 exceeds branch count 2")
    })
  )
  it.effect("numeric fields must be numbers after substitution", () =>
    Effect.gen(function* () {
      expect(yield* planError({ timeout: "{t}", template: "true" }, { t: "soon" })).toBe("Command template timeout must be a non-negative number.")
      expect(yield* planError({ parallel: true, concurrency: 0, template: ["true"] })).toBe("Command template concurrency must be a positive integer.")
    })
  )
  it.effect("unknown failure scope, empty nodes, unknown fields, unknown imports", () =>
    Effect.gen(function* () {
      expect(yield* planError({ failure: "sometimes", template: "true" })).toBe("Unknown failure scope: sometimes. Valid scopes: continue, branch, root.")
      expect(yield* planError({ parallel: true, template: [] })).toBe("Tool template produced no command steps.")
      expect(yield* planError("{a?:}", { a: "" })).toBe("Tool template produced no command steps.")
      expect(yield* planError({ template: "true", retries: 2 })).toBe('Command template: unknown field "retries"')
      expect(yield* planError({ name: "helper" })).toBe("Unknown recipe import: helper")
    })
  )
  it.effect("a NUL byte in a value is a typed error", () =>
    Effect.gen(function* () {
      expect(yield* planError("printf %s {a}", { a: "x\0y" })).toBe("Command arguments cannot contain NUL characters.")
    })
  )
  live("an error in a later step starts nothing", () =>
    Effect.gen(function* () {
      const dir = scratch()
      const graph = yield* CommandGraph
      const r = yield* graph.plan([`touch ${dir}/started`, "echo {missing}"], { cwd: dir }).pipe(Effect.either)
      expect(Either.isLeft(r)).toBe(true)
      expect(existsSync(join(dir, "started"))).toBe(false)
    })
  )
  live("dry run lists leaves with argv and stdin sources", () =>
    Effect.gen(function* () {
      const graph = yield* CommandGraph
      const plan = yield* graph.plan(["echo {a}", { parallel: true, template: ["cat", { label: "n", template: "wc -l", timeout: 50 }] }], {
        cwd: "/tmp",
        values: { a: "x y" }
      })
      expect(flattenPlan(plan)).toEqual([
        { path: "root.0", argv: ["echo", "x y"], cwd: "/tmp", on: "local", stdin_from: "none", failure: "continue" },
        { path: "root.1.0", label: "branch 1", argv: ["cat"], cwd: "/tmp", on: "local", stdin_from: "root.0", failure: "continue", parallel: "root.1" },
        { path: "root.1.1", label: "n", argv: ["wc", "-l"], cwd: "/tmp", on: "local", stdin_from: "root.0", timeout_ms: 50, failure: "continue", parallel: "root.1" }
      ].map((l) => Object.fromEntries(Object.entries({ label: undefined, timeout_ms: undefined, delay_ms: undefined, retry: undefined, parallel: undefined, recover_of: undefined, risks: undefined, ...l }))))
    })
  )
})

// A host whose leaves "run" for the number of ms in argv[1] on the Clock: TestClock drives it.
const clockHost = Layer.succeed(
  Host,
  fakeHost((spec) =>
    Effect.succeed(
      fakeLeaf({
        identity: { host: "local", pid: 1, pgid: 1, startTime: 0 },
        stdout: new TextEncoder().encode(`slept ${spec.argv[1]}\n`),
        exit: Effect.as(Effect.sleep(Number(spec.argv[1] ?? 0)), { code: 0 })
      })
    )
  )
)
const clockLayer = graphLayerOn(hostsOf(clockHost))

describe("timing on TestClock", () => {
  it.effect("timeout fires at its deadline; delay waits before the node", () =>
    Effect.gen(function* () {
      const graph = yield* CommandGraph
      const plan = yield* graph.plan([{ delay: 1000, template: "nap 10" }, { timeout: 500, template: "nap 5000" }], { cwd: "/" })
      const fiber = yield* Effect.fork(graph.execute(plan, { outputDir: "/tmp" }))
      yield* TestClock.adjust(1009)
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust(1)
      yield* TestClock.adjust(500)
      const result = yield* Fiber.join(fiber)
      expect(result.status).toBe("timeout")
      expect(result.code).toBe(124)
      expect(result.durationMs).toBe(1510)
    }).pipe(Effect.provide(clockLayer))
  )
})

// LocalHost, except that a leaf given a spill file as stdin finds it gone (removed just before
// it starts): the spill of the step before it is unreadable.
const brokenSpillLayer = graphLayerOn(
  hostsOf(
    Layer.effect(
      Host,
      Effect.gen(function* () {
        const real = yield* LocalHost.make({ graceMs: 300, env: process.env })
        return {
          ...real,
          start: (spec) =>
            spec.stdin._tag === "File"
              ? Effect.zipRight(Effect.sync(() => rmSync((spec.stdin as { readonly path: string }).path, { force: true })), real.start(spec))
              : real.start(spec)
        } satisfies HostShape
      })
    )
  )
)

describe("pipeline integrity", () => {
  it.live("an unreadable spill fails the run with code 74 and starts nothing after it", () =>
    Effect.gen(function* () {
      const { result, events } = yield* runTemplate(["seq 1 450000", "wc -c", "echo after"])
      expect(result.status).toBe("failed")
      expect(result.code).toBe(74)
      expect(result.message).toMatch(/^incomplete pipeline stdin/)
      // Only the step whose spill went missing started.
      expect(events.filter((e) => e.type === "command.start").map((e) => e.path)).toEqual(["root.0"])
    }).pipe(Effect.provide(brokenSpillLayer))
  )
})

describe("args JSON Schema and risk labels", () => {
  it.effect("schema: explicit args win, required = no default anywhere, optional forms stay optional", () =>
    Effect.gen(function* () {
      const graph = yield* CommandGraph
      const schema = graph.argsSchema(
        ["tool {scope:path} {n:int=3} {mode:enum(a,b)} {who??anon} {v?-v:} {model}", "echo {run_id} {dir}"],
        ["model:string"],
        { dir: "{scope}/x" }
      )
      expect(Either.isRight(schema)).toBe(true)
      if (Either.isRight(schema)) {
        expect(schema.right.properties).toEqual({
          model: { type: "string" },
          scope: { type: "string", description: "path" },
          n: { type: "integer", default: "3" },
          mode: { type: "string", enum: ["a", "b"] },
          who: { type: "string" },
          v: { type: "string" },
          dir: { type: "string", default: "{scope}/x" }
        })
        expect(schema.right.required).toEqual(["model", "scope", "mode"])
      }
      const bad = graph.argsSchema("x {m:int} {m:bool}")
      expect(Either.isLeft(bad) && bad.left.message).toBe("Conflicting argument type for m")
    }).pipe(Effect.provide(graphLayer))
  )

  it.effect("schema of a template with 50,000 distinct placeholders: every one, in order of appearance", () =>
    Effect.gen(function* () {
      // Issue 18 item 8: ~90k placeholders blocked the daemon for 10 s (a quadratic order check).
      const graph = yield* CommandGraph
      const names = Array.from({ length: 50_000 }, (_, i) => `p${i}`)
      const schema = graph.argsSchema(["echo " + names.slice(0, 25_000).map((n) => `{${n}}`).join(" "), "echo " + names.slice(25_000).map((n) => `{${n}=x}`).join(" ")])
      expect(Either.isRight(schema)).toBe(true)
      if (Either.isRight(schema)) {
        expect(Object.keys(schema.right.properties)).toEqual(names)
        expect(schema.right.required).toEqual(names.slice(0, 25_000))
      }
    }).pipe(Effect.provide(graphLayer))
  )

  it.effect("risk labels name the shape and how to narrow it", () =>
    Effect.gen(function* () {
      const graph = yield* CommandGraph
      const plan = yield* graph.plan(
        ["bash -c 'echo hi'", "node -e 1", "rm -rf build", "curl https://example.com", "git push origin main", "cat ~/.ssh/id_rsa", "tail -f log", "chmod -R 777 /", "echo safe"],
        { cwd: "/tmp" }
      )
      const labels = flattenPlan(plan).map((l) => l.risks ?? [])
      expect(labels).toEqual([
        ["risk.shell"],
        ["risk.eval"],
        ["risk.destructive_fs"],
        ["risk.network"],
        ["risk.external_side_effect"],
        ["risk.secret_touching"],
        ["risk.long_running"],
        ["risk.broad_fs_write"],
        []
      ])
      const timed = yield* graph.plan({ timeout: 1000, template: "tail -f log" }, { cwd: "/tmp" })
      expect(flattenPlan(timed)[0]!.risks).toBeUndefined()
    }).pipe(Effect.provide(graphLayer))
  )
})
