// spawn-overhead: time from `Actors.spawn` (in-process runtime, Troupe.layer) of `true` until
// the run is terminal (`Actors.wait` returns), against a raw `child_process.spawn("true")`
// until its `exit` event. Both measured in the same process, interleaved (troupe, raw,
// troupe, raw, ...) so machine noise hits both alike. Target: median ratio ≤ 1.3.
//
// Also reported (details): spawn → `spawn` returned, and spawn → `command.start` recorded
// (from the run's lifecycle events, millisecond clock).
import { spawn } from "node:child_process"
import { ManagedRuntime } from "effect"
import { atCleanup, freshHome, loadTroupe, median, progress, quantile, removeHome, report, round, runMain, smoke } from "./lib.mjs"

const name = "spawn-overhead"
const N = smoke ? 10 : 200
const WARMUP = smoke ? 2 : 10

const rawSpawn = () =>
  new Promise((resolve, reject) => {
    const child = spawn("true")
    child.once("error", reject)
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`true exited with ${code}`))))
  })

runMain(async () => {
  const { Troupe, Actors } = await loadTroupe()
  const home = freshHome(name)
  const rt = ManagedRuntime.make(Troupe.layer({ home, killGraceMs: 1000 }))
  // Releasing the runtime kills any run still active, then the home goes.
  atCleanup(() => removeHome(home))
  atCleanup(() => rt.dispose())
  const actors = await rt.runPromise(Actors)
  const troupeOnce = async () => {
    const wall = Date.now()
    const t0 = performance.now()
    const run = await rt.runPromise(actors.spawn({ template: "true" }))
    const t1 = performance.now()
    const out = await rt.runPromise(actors.wait(run.address))
    const t2 = performance.now()
    if (out.run.state !== "done") throw new Error(`run ${run.id} ended ${out.run.state}: ${out.run.error ?? ""}`)
    return { id: run.id, address: run.address, wall, returned: t1 - t0, total: t2 - t0 }
  }
  const rawOnce = async () => {
    const t0 = performance.now()
    await rawSpawn()
    return performance.now() - t0
  }

  for (let i = 0; i < WARMUP; i++) {
    await troupeOnce()
    await rawOnce()
  }
  const troupe = []
  const baseline = []
  for (let i = 0; i < N; i++) {
    // Alternate which goes first so neither always runs right after the other's GC/IO.
    if (i % 2 === 0) {
      troupe.push(await troupeOnce())
      baseline.push(await rawOnce())
    } else {
      baseline.push(await rawOnce())
      troupe.push(await troupeOnce())
    }
    if ((i + 1) % 50 === 0) progress(name, `${i + 1}/${N}`)
  }

  // spawn → command.start, from the recorded lifecycle events (ms resolution).
  const toCommandStart = []
  for (const t of troupe) {
    const view = await rt.runPromise(actors.inspect(t.address, "tail"))
    const events = Array.isArray(view.data?.events) ? view.data.events : []
    const start = events.find((e) => e.type === "command.start")
    if (start !== undefined) toCommandStart.push(start.at - t.wall)
  }

  const total = troupe.map((t) => t.total)
  const troupeMedian = median(total)
  const baselineMedian = median(baseline)
  const ratio = troupeMedian / baselineMedian
  const measure = "spawn → terminal (wait), in-process"
  report({
    name,
    unit: "ms",
    measure,
    troupe: troupeMedian,
    baseline: baselineMedian,
    ratio,
    samples: N,
    target: "ratio ≤ 1.3",
    met: ratio <= 1.3,
    rows: [
      { measure, unit: "ms", troupe: round(troupeMedian), baseline: round(baselineMedian), ratio: round(ratio, 4), target: "ratio ≤ 1.3", met: ratio <= 1.3, n: N },
      { measure: "spawn → command.start (event, ms clock)", unit: "ms", troupe: round(median(toCommandStart)), baseline: null, ratio: null, target: "info", n: toCommandStart.length }
    ],
    details: {
      measured: "Actors.spawn({template: 'true'}) → Actors.wait returns (state done); baseline: child_process.spawn('true') → 'exit'",
      troupe_p90_ms: round(quantile(total, 0.9)),
      baseline_p90_ms: round(quantile(baseline, 0.9)),
      spawn_returned_median_ms: round(median(troupe.map((t) => t.returned))),
      spawn_to_command_start_median_ms: round(median(toCommandStart)),
      warmup: WARMUP
    },
    raw: { troupe: total.map((x) => round(x)), baseline: baseline.map((x) => round(x)) }
  })
})
