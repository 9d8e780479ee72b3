/**
 * Run kinds: the Supervisor owns the lifecycle, a kind says what a run executes. A kind given
 * through `RunKinds` (here an in-test kind standing in for `agent`: a long-lived process fed
 * through its live input) runs under the unchanged Supervisor — its prepare errors are spawn
 * errors, each generation is its `execute` (restarts included), `writeStdin` reaches its
 * input, its delivery registration is what messaging sees.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Layer, Queue, Stream } from "effect"
import { ActorsError, type Caller } from "../../src/domain/Run.js"
import type { GenerationResult, RunKind, StartedRun } from "../../src/services/runs/RunKind.js"
import { RunKinds } from "../../src/services/runs/RunKinds.js"
import { templateDelivery } from "../../src/services/runs/TemplateRun.js"
import { SpawnRequest, Supervisor } from "../../src/services/Supervisor.js"
import { testRuntime } from "../support/runtime.js"

const A: Caller = { session: "A", all: false }
const decoder = new TextDecoder()

/**
 * A kind whose generation reads lines from its live input until `stop`; generation 1 fails
 * (code 3) when it reads `fail`, later ones end `done` with everything they read as stdout.
 * Its template must be the string `"lines"`.
 */
const linesKind = (seen: Array<StartedRun>, ready: Deferred.Deferred<void>) =>
  Layer.effect(
    RunKinds,
    Effect.sync((): ReadonlyMap<string, RunKind> => {
      const kind: RunKind = {
        name: "template",
        delivery: () => ({ adapter: "pi-rpc", declared: true }),
        prepare: (setup) =>
          Effect.gen(function* () {
            if (setup.template !== "lines") return yield* new ActorsError({ reason: "invalid", message: `lines kind needs template "lines"` })
            const queue = yield* Queue.unbounded<Uint8Array>()
            return {
              delivery: { adapter: "pi-rpc", declared: true },
              input: {
                offer: (bytes) => Effect.flatMap(queue.isShutdown, (down) => (down ? Effect.succeed(false) : Queue.offer(queue, bytes))),
                source: Stream.fromQueue(queue),
                close: Queue.shutdown(queue)
              },
              execute: (run) =>
                Effect.gen(function* () {
                  seen.push(run)
                  yield* Deferred.succeed(ready, undefined)
                  const read: Array<string> = []
                  for (;;) {
                    const line = decoder.decode(yield* Queue.take(queue)).trim()
                    if (line === "fail" && seen.length === 1) return { state: "failed", code: 3, error: "asked to fail", stdout: read.join("\n"), stderr: "" } satisfies GenerationResult
                    if (line === "stop") return { state: "done", code: 0, stdout: read.join("\n"), stderr: "" } satisfies GenerationResult
                    read.push(line)
                  }
                })
            }
          })
      }
      return new Map([["template", kind]])
    })
  )

const encode = (s: string) => new TextEncoder().encode(`${s}\n`)

describe("run kinds", () => {
  it.live("a kind from RunKinds runs under the Supervisor: prepare checks, generations with restart, live input, delivery", () => {
    const seen: Array<StartedRun> = []
    return Effect.gen(function* () {
      const ready = yield* Deferred.make<void>()
      yield* Effect.gen(function* () {
        const supervisor = yield* Supervisor
        const refused = yield* Effect.flip(supervisor.spawn(A, new SpawnRequest({ template: "echo hi", as: "bad" })))
        expect([refused.reason, refused.message]).toEqual(["invalid", `lines kind needs template "lines"`])
        expect(yield* supervisor.list(A, "all")).toEqual([])

        const run = yield* supervisor.spawn(A, new SpawnRequest({ template: "lines", as: "lines", kind: "template", restart: { restart: "on-failure", backoff_ms: 10 } }))
        expect((yield* supervisor.brief(A, "lines")).delivery).toEqual({ adapter: "pi-rpc", declared: true })
        yield* Deferred.await(ready)
        expect(seen[0]).toMatchObject({ id: "lines", owner: "A", generation: run.generation, stateDir: run.state_dir })
        expect(seen[0]!.env.TROUPE_RUN).toBe("lines")
        expect(yield* supervisor.writeStdin("lines", encode("fail"))).toBe(true)
        // Generation 2 starts after the failure (restart policy), reading the same input.
        for (let i = 0; seen.length < 2 && i < 400; i++) yield* Effect.sleep("25 millis")
        expect(seen.length).toBe(2)
        expect(seen[1]!.generation).not.toBe(run.generation)
        yield* supervisor.writeStdin("lines", encode("one"))
        yield* supervisor.writeStdin("lines", encode("two"))
        yield* supervisor.writeStdin("lines", encode("stop"))
        const out = yield* supervisor.wait(A, "lines", 10_000)
        expect([out.run.state, out.run.code, out.run.restarts, out.stdout]).toEqual(["done", 0, 1, "one\ntwo"])
        // The input is closed with the run.
        expect(yield* supervisor.writeStdin("lines", encode("late"))).toBe(false)
        const events = (yield* supervisor.runEvents(A, "lines", 100)).map((e) => e.type)
        expect(events.filter((t) => t === "run.start").length).toBe(2)
        expect(events).toContain("run.restart")
        expect(events).toContain("run.done")
      }).pipe(Effect.provide(testRuntime({ kinds: linesKind(seen, ready) })))
    })
  })

  it("template runs register the recipe's declared delivery; without one, fifo-or-pull", () => {
    expect(templateDelivery(undefined)).toEqual({ adapter: "fifo", declared: false })
    expect(templateDelivery({})).toEqual({ adapter: "fifo", declared: false })
    expect(templateDelivery({ delivery: "fifo" })).toEqual({ adapter: "fifo", declared: true })
    expect(templateDelivery({ delivery: "stdin-jsonl" })).toEqual({ adapter: "stdin-jsonl", declared: true })
    expect(templateDelivery({ delivery: "pi-rpc" })).toEqual({ adapter: "pi-rpc", declared: true })
  })
})
