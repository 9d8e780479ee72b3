import { it, expect } from "@effect/vitest"
import { Effect, Layer, Stream, Chunk } from "effect"
import * as Runtime from "../../src/layers/Runtime.js"
import { Actors } from "../../src/services/Actors.js"
import { scratch, } from "../support/graph.js"
import { pidsWithEnv, token } from "../support/procs.js"

it.live("smoke", () =>
  Effect.gen(function* () {
    const actors = yield* Actors
    const t = token()
    const run = yield* actors.spawn({ template: `sh -c 'echo hi; sleep 30' {t}`, values: { t }, as: "nap" })
    expect(run.id).toBe("nap")
    yield* Effect.sleep("300 millis")
    const list = yield* actors.list()
    console.log(list.map((r) => [r.id, r.state, r.processes.length]))
    const k = yield* actors.kill("run:nap")
    console.log(k)
    const done = yield* actors.spawn({ template: "echo hello", as: "e" })
    const out = yield* actors.wait(done.address)
    console.log(out.run.state, JSON.stringify(out.stdout))
    const fail = yield* actors.spawn({ template: "sh -c 'exit 3'" })
    const o2 = yield* actors.wait(fail.address)
    console.log(o2.run.state, o2.run.code, o2.run.error)
    const ev = yield* actors.events().pipe(Stream.runCollect)
    console.log(Chunk.toArray(ev).map((e) => [e.id, e.type, e.text]))
    console.log((yield* actors.inspect("run:e", "tail")).text)
    console.log((yield* actors.inspect("coordinator")).text)
  }).pipe(Effect.provide(Actors.local().pipe(Layer.provideMerge(Runtime.layer({ home: "/tmp/smoke-home", killGraceMs: 300 })))))
)
