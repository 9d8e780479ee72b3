import { Effect, ManagedRuntime } from "effect"
import { mkdtempSync } from "node:fs"
import { spawn } from "node:child_process"
import { tmpdir } from "node:os"
import { join } from "node:path"
const { Troupe, Actors } = await import("../../dist/src/index.js")
const home = mkdtempSync(join(tmpdir(), "troupe-bench-"))
const rt = ManagedRuntime.make(Troupe.layer({ home, killGraceMs: 1000 }))
const actors = await rt.runPromise(Actors)
for (let i = 0; i < 30; i++) {
  const t0 = Date.now()
  const run = await rt.runPromise(actors.spawn({ template: "true" }))
  const t1 = Date.now()
  const out = await rt.runPromise(actors.wait(run.address))
  const t2 = Date.now()
  if (i % 5 == 0) {
    const v = await rt.runPromise(actors.inspect(run.address, "tail"))
    const evs = v.data.events ?? v.data
    console.log(`spawn ret +${t1-t0} wait ret +${t2-t0}`, JSON.stringify(evs).slice(0, 100))
    for (const e of (v.data.events ?? [])) console.log("  ", e.type, e.at - t0)
  }
}
const raw = []
for (let i = 0; i < 30; i++) {
  const t0 = performance.now()
  await new Promise((res) => spawn("true").on("exit", res))
  raw.push(performance.now() - t0)
}
console.log("raw", raw.map(x => x.toFixed(2)).join(" "))
await rt.dispose()
