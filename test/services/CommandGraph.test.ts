/**
 * CommandGraph composition and real-process behaviour: piping, failure scopes, soft quorum,
 * timeouts, retries, repeats and validation before any process starts.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Fiber, Layer, TestClock } from "effect"
import { createHash } from "node:crypto"
import { existsSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Output from "../../src/domain/Output.js"
import type { GraphEvent } from "../../src/domain/Plan.js"
import { CommandGraph, flattenPlan } from "../../src/services/CommandGraph.js"
import { Host } from "../../src/services/Host.js"
import { LocalHost } from "../../src/services/LocalHost.js"
import { graphLayer, runTemplate, scratch } from "../support/graph.js"
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

describe("sequences", () => {
  live("pipe the complete stdout of a 3 MB step into the next step", () =>
    Effect.gen(function* () {
      const { result, stdout } = yield* runTemplate(["seq 1 450000", "sha256sum"])
      const expected = Array.from({ length: 450000 }, (_, i) => `${i + 1}\n`).join("")
      expect(expected.length).toBeGreaterThan(3_000_000)
      expect(result.code).toBe(0)
      expect(stdout.split(" ")[0]).toBe(createHash("sha256").update(expected).digest("hex"))
    })
  )

  live("a step's stdout larger than 1 MiB is spilled and read back completely", () =>
    Effect.gen(function* () {
      const { result, stdout } = yield* runTemplate("seq 1 450000")
      expect(result.stdout.spill).toBeDefined()
      expect(result.stdout.bytes.length).toBeLessThanOrEqual(Output.spilledTailBytes)
      expect(stdout.length).toBe(result.stdout.size)
      expect(stdout.endsWith("450000\n")).toBe(true)
    })
  )

  live("continue: a failed middle step is recorded and the next step gets empty stdin", () =>
    Effect.gen(function* () {
      const { result, stdout } = yield* runTemplate(["echo one", "sh -c 'cat; exit 3'", "wc -c"])
      expect(result.status).toBe("done")
      expect(stdout.trim()).toBe("0")
      expect(result.failures).toHaveLength(1)
      expect(result.failures[0]).toMatchObject({ path: "root.1", code: 3, critical: false })
    })
  )

  live("a failed last step fails the sequence (divergence)", () =>
    Effect.gen(function* () {
      const { result } = yield* runTemplate(["echo one", "sh -c 'exit 4'"])
      expect(result.status).toBe("failed")
      expect(result.code).toBe(4)
      expect(result.failures[0]).toMatchObject({ path: "root.1", critical: true })
    })
  )

  live("branch: the enclosing sequence stops and fails; a parallel sibling keeps running", () =>
    Effect.gen(function* () {
      const { result, stdout, events } = yield* runTemplate({
        parallel: true,
        template: [
          { label: "a", template: [{ template: "sh -c 'exit 6'", failure: "branch" }, "echo never"] },
          { label: "b", template: ["sleep 0.3", "echo b-done"] }
        ]
      })
      expect(result.status).toBe("done")
      expect(stdout).toContain("--- branch: a status: failed ---\nexit: 6")
      expect(stdout).toContain("--- branch: b status: done ---\nb-done")
      expect(events.some((e) => e.type === "command.start" && e.argv.includes("never"))).toBe(false)
      expect(result.softQuorum).toEqual({ expected: 2, done: 1, failed: 1, usable: 1, coverage: 0.5, degraded: true })
    })
  )

  live("a one-step root sequence escalates its failure", () =>
    Effect.gen(function* () {
      const { result } = yield* runTemplate("sh -c 'echo oops >&2; exit 9'")
      expect(result.status).toBe("failed")
      expect(result.code).toBe(9)
      expect(Output.decodeUtf8(result.stderr.bytes)).toBe("oops\n")
    })
  )
})

describe("parallel", () => {
  live("root failure in one branch interrupts running siblings (divergence)", () =>
    Effect.gen(function* () {
      const tag = token()
      const { result, events } = yield* runTemplate(
        {
          parallel: true,
          template: [
            { label: "slow", template: "sleep 30" },
            { label: "bad", template: "sh -c 'sleep 0.3; exit 5'", failure: "root" }
          ]
        },
        { env: { TROUPE_TEST_TAG: tag } }
      )
      expect(result.status).toBe("failed")
      expect(result.code).toBe(5)
      expect(result.durationMs).toBeLessThan(20_000)
      expect(events.some((e) => e.type === "command.done" && e.path === "root.0")).toBe(false)
      expect(pidsWithEnv("TROUPE_TEST_TAG", tag)).toEqual([])
    })
  )

  live("labelled output in array order with failed branches' exit and stderr", () =>
    Effect.gen(function* () {
      const { stdout, result } = yield* runTemplate({
        parallel: true,
        template: [{ label: "first", template: "sh -c 'sleep 0.2; echo 1'" }, "sh -c 'echo e >&2; exit 2'", "echo 3"]
      })
      // pi-actors 0.17.1's bytes: blocks joined by one "\n", a done branch's stdout as is.
      expect(stdout).toBe(
        "--- branch: first status: done ---\n1\n\n" +
          "--- branch: branch 2 status: failed ---\nexit: 2\nstderr: e\n\n" +
          "--- branch: branch 3 status: done ---\n3\n"
      )
      expect(result.status).toBe("done")
    })
  )

  live("soft quorum fails when no branch is usable", () =>
    Effect.gen(function* () {
      const { result } = yield* runTemplate({ parallel: true, template: ["false", "sh -c 'exit 3'"] })
      expect(result.status).toBe("failed")
      expect(result.code).toBe(1)
      expect(result.softQuorum).toMatchObject({ usable: 0, failed: 2, degraded: true })
    })
  )

  live("min_successful raises the bar", () =>
    Effect.gen(function* () {
      const { result } = yield* runTemplate({ parallel: true, min_successful: 3, template: ["true", "true", "false"] })
      expect(result.status).toBe("failed")
      expect(result.softQuorum).toMatchObject({ expected: 3, usable: 2 })
      const ok = yield* runTemplate({ parallel: true, min_successful: 2, template: ["true", "true", "false"] })
      expect(ok.result.status).toBe("done")
    })
  )

  live("parallel branches get the same stdin", () =>
    Effect.gen(function* () {
      const { stdout } = yield* runTemplate(["echo shared", { parallel: true, template: ["cat", "wc -c"] }])
      expect(stdout).toBe("--- branch: branch 1 status: done ---\nshared\n\n--- branch: branch 2 status: done ---\n7\n")
    })
  )

  live("repeat with concurrency never exceeds the limit", () =>
    Effect.gen(function* () {
      // A start barrier instead of a sleep: each copy waits (bounded) until three copies have
      // started, so the limit is reached on a slow machine too, and the test still shows it is
      // never exceeded.
      const dir = scratch()
      const { result, events, stdout } = yield* runTemplate({
        repeat: 8,
        parallel: true,
        concurrency: 3,
        label: "w{_index}",
        template: "sh -c 'touch \"$1/$0\"; n=0; while [ $(ls \"$1\" | wc -l) -lt 3 ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done; echo $0' {index} {dir}"
      }, { values: { dir } })
      expect(result.status).toBe("done")
      expect(maxActive(events)).toBe(3)
      expect(events.filter((e) => e.type === "command.start")).toHaveLength(8)
      expect(stdout).toContain("--- branch: w07 status: done ---\n7\n")
    })
  )
})

describe("node options", () => {
  live("timeout kills a tree whose child ignores SIGTERM and has a grandchild (code 124)", () =>
    Effect.gen(function* () {
      const tag = token()
      const { result } = yield* runTemplate(
        { timeout: 400, template: "bash -c 'trap \"\" TERM; sleep 300 & sleep 300 & wait'" },
        { env: { TROUPE_TEST_TAG: tag } }
      )
      expect(result.status).toBe("timeout")
      expect(result.code).toBe(124)
      expect(result.killed).toBe(true)
      expect(pidsWithEnv("TROUPE_TEST_TAG", tag)).toEqual([])
    })
  )

  live("retry with recover: recover runs between attempts", () =>
    Effect.gen(function* () {
      const dir = scratch()
      const flag = join(dir, "ready")
      const { result, stdout, events } = yield* runTemplate({
        retry: 2,
        recover: `touch ${flag}`,
        template: `sh -c 'test -f "$0" && echo ok' ${flag}`
      })
      expect(result.status).toBe("done")
      expect(stdout).toBe("ok\n")
      expect(events.filter((e) => e.type === "command.start").map((e) => (e.type === "command.start" ? e.path : ""))).toEqual([
        "root",
        "root.recover",
        "root"
      ])
      expect(result.failures).toHaveLength(1)
      expect(result.failures[0]).toMatchObject({ critical: false })
    })
  )

  live("retry stops when recover fails", () =>
    Effect.gen(function* () {
      const { result, events } = yield* runTemplate({ retry: 3, recover: "sh -c 'exit 7'", template: "false" })
      expect(result.status).toBe("failed")
      expect(result.code).toBe(7)
      expect(events.filter((e) => e.type === "command.start")).toHaveLength(2)
    })
  )

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
const clockHost = Layer.succeed(Host, {
  reap: () => Effect.succeed(0),
  run: (spec) =>
    Effect.gen(function* () {
      yield* Effect.sleep(Number(spec.argv[1] ?? 0))
      return {
        code: 0,
        stdout: Output.outputFromBytes(new TextEncoder().encode(`slept ${spec.argv[1]}\n`)),
        stderr: Output.emptyOutput,
        durationMs: Number(spec.argv[1] ?? 0),
        identity: { host: "local", pid: 1, pgid: 1, startTime: 0 }
      }
    })
})
const clockLayer = CommandGraph.Default.pipe(Layer.provideMerge(clockHost), Layer.provideMerge(NodeContext.layer))

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

// LocalHost, except that the leaf `fake-spill` "succeeds" with a spill file that does not exist.
const brokenSpillLayer = CommandGraph.Default.pipe(
  Layer.provideMerge(
    Layer.effect(
      Host,
      Effect.gen(function* () {
        const real = yield* LocalHost.make({ graceMs: 300 })
        return {
          reap: real.reap,
          run: (spec) =>
            spec.argv[0] === "fake-spill"
              ? Effect.succeed({
                  code: 0,
                  stdout: { size: 5_000_000, bytes: new Uint8Array(0), spill: "/nonexistent/troupe/spill.log" },
                  stderr: Output.emptyOutput,
                  durationMs: 1,
                  identity: { host: "local", pid: 1, pgid: 1, startTime: 0 }
                })
              : real.run(spec)
        }
      })
    )
  ),
  Layer.provideMerge(NodeContext.layer)
)

describe("pipeline integrity", () => {
  it.live("an unreadable spill fails the run with code 74 and starts nothing after it", () =>
    Effect.gen(function* () {
      const { result, events } = yield* runTemplate(["fake-spill", "wc -c", "echo after"])
      expect(result.status).toBe("failed")
      expect(result.code).toBe(74)
      expect(result.message).toMatch(/^incomplete pipeline stdin/)
      expect(events.filter((e) => e.type === "command.start")).toHaveLength(0)
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
