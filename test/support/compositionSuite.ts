/**
 * CommandGraph composition on one host: piping (3 MB through a sequence), failure scopes
 * (continue / branch / root, a failed last step), soft quorum, repeat with concurrency, a
 * timeout of a SIGTERM-ignoring tree with a grandchild, retry with recover. Run for every
 * host of test/support/hosts.ts by the shared host suite.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import { join } from "node:path"
import * as Output from "../../src/domain/Output.js"
import type { GraphEvent } from "../../src/domain/Plan.js"
import type { CommandGraph } from "../../src/services/CommandGraph.js"
import { graphLayerOn, runTemplate, scratch } from "./graph.js"
import type { TestHost } from "./hosts.js"
import { pidsWithEnv, token } from "./procs.js"

const maxActive = (events: ReadonlyArray<GraphEvent>) => {
  let active = 0
  let max = 0
  for (const e of events) {
    active += e.type === "command.start" ? 1 : -1
    max = Math.max(max, active)
  }
  return max
}

/** The composition tests, executed on `entry`'s host (300 ms kill grace). */
export const compositionSuite = (entry: TestHost) => {
  const layer = graphLayerOn(entry.hosts({ graceMs: 300 }))
  const live = <A, E>(name: string, f: () => Effect.Effect<A, E, CommandGraph>, timeout?: number) =>
    it.live(name, () => f().pipe(Effect.provide(layer)), timeout)

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
  })
}
