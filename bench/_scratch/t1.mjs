import { Effect, ManagedRuntime } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
const lib = await import("/work/main/dist/src/index.js")
console.log(Object.keys(lib).filter(k => /Troupe|Actors/.test(k)))
const { Troupe, Actors } = lib
const home = mkdtempSync(join(tmpdir(), "troupe-bench-"))
const rt = ManagedRuntime.make(Troupe.layer({ home, killGraceMs: 1000 }))
const actors = await rt.runPromise(Actors)
for (let i = 0; i < 5; i++) {
  const t0 = performance.now()
  const run = await rt.runPromise(actors.spawn({ template: "true" }))
  const t1 = performance.now()
  const out = await rt.runPromise(actors.wait(run.address))
  const t2 = performance.now()
  console.log(run.state, out.run.state, (t1-t0).toFixed(2), (t2-t0).toFixed(2))
}
const v = await rt.runPromise(actors.inspect("run:" + (await rt.runPromise(actors.list({status:"all"})))[0].id, "tail"))
console.log(v.text.slice(0,2000))
await rt.dispose()
