// spawn-to-done: `spawn` of `echo hi` through the daemon (Troupe.client, RPC over the Unix
// socket) until its terminal event (`run.done` on the session's followed event stream),
// sequentially. Baseline: the pi-actors way — one detached Node runner per run
// (`node bench/runner.mjs <statefile>`), waiting until its status file says done (fs.watch on
// the directory plus polling every 1 ms). Interleaved in one run. Target: troupe ≥ 10× faster,
// i.e. ratio (troupe / baseline) ≤ 0.1.
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, watch } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Fiber, ManagedRuntime, Stream } from "effect"
import { atCleanup, benchDir, freshHome, loadTroupe, median, progress, quantile, removeHome, report, round, runMain, smoke, stopDaemon } from "./lib.mjs"

const name = "spawn-to-done"
const N = smoke ? 5 : 100
const WARMUP = smoke ? 1 : 5
const runner = join(benchDir, "runner.mjs")

const readStatus = (file) => {
  try {
    return JSON.parse(readFileSync(file, "utf8"))
  } catch {
    return undefined
  }
}

/** Starts a detached runner for `file` and resolves once the file says the run is terminal. */
const baselineOnce = (dir, file) =>
  new Promise((resolve, reject) => {
    let finished = false
    let timer
    const watcher = watch(dir, () => check())
    const finish = (err, status) => {
      if (finished) return
      finished = true
      clearTimeout(timer)
      watcher.close()
      if (err !== undefined) reject(err)
      else resolve(status)
    }
    const check = () => {
      if (finished) return
      const status = readStatus(file)
      if (status !== undefined && status.state !== "running") {
        finish(status.state === "done" ? undefined : new Error(`runner ended ${status.state}: ${status.error ?? status.code}`), status)
      }
    }
    const poll = () => {
      check()
      if (!finished) timer = setTimeout(poll, 1)
    }
    const child = spawn(process.execPath, [runner, file], { detached: true, stdio: "ignore" })
    child.once("error", (e) => finish(e))
    child.unref()
    poll()
  })

runMain(async () => {
  const { Troupe, Actors } = await loadTroupe()
  const home = freshHome(name)
  const stateDir = mkdtempSync(join(tmpdir(), "troupe-bench-runner-"))
  atCleanup(() => removeHome(stateDir))
  atCleanup(() => removeHome(home))
  atCleanup(() => stopDaemon(home))
  const rt = ManagedRuntime.make(Troupe.client({ home }))
  atCleanup(() => rt.dispose())
  const actors = await rt.runPromise(Actors) // starts the daemon
  const waiters = new Map()
  const seen = new Map()
  const follower = rt.runFork(
    Stream.runForEach(actors.events({ since: 0, follow: true }), (e) =>
      Effect.sync(() => {
        if (!e.type.startsWith("run.")) return
        const w = waiters.get(e.run_id)
        if (w !== undefined) {
          waiters.delete(e.run_id)
          w(e)
        } else seen.set(e.run_id, e)
      })
    )
  )
  atCleanup(() => Effect.runPromise(Fiber.interrupt(follower)))
  const terminalEvent = (id) =>
    new Promise((resolve) => {
      const already = seen.get(id)
      if (already !== undefined) {
        seen.delete(id)
        resolve(already)
      } else waiters.set(id, resolve)
    })

  let k = 0
  const troupeOnce = async () => {
    const id = `s2d-${k++}`
    const t0 = performance.now()
    const done = terminalEvent(id)
    await rt.runPromise(actors.spawn({ template: "echo hi", as: id }))
    const e = await done
    const ms = performance.now() - t0
    if (e.type !== "run.done") throw new Error(`run ${id} ended with ${e.type}: ${e.text}`)
    return ms
  }
  let j = 0
  const baseOnce = async () => {
    const file = join(stateDir, `run-${j++}.json`)
    const t0 = performance.now()
    const status = await baselineOnce(stateDir, file)
    const ms = performance.now() - t0
    if (status.stdout !== "hi\n") throw new Error(`runner stdout ${JSON.stringify(status.stdout)}`)
    return ms
  }

  for (let i = 0; i < WARMUP; i++) {
    await troupeOnce()
    await baseOnce()
  }
  const check = await rt.runPromise(actors.wait("run:s2d-0"))
  if (check.stdout !== "hi\n") throw new Error(`troupe run stdout ${JSON.stringify(check.stdout)}`)

  const troupe = []
  const baseline = []
  for (let i = 0; i < N; i++) {
    if (i % 2 === 0) {
      troupe.push(await troupeOnce())
      baseline.push(await baseOnce())
    } else {
      baseline.push(await baseOnce())
      troupe.push(await troupeOnce())
    }
    if ((i + 1) % 25 === 0) progress(name, `${i + 1}/${N}`)
  }

  const t = median(troupe)
  const b = median(baseline)
  const ratio = t / b
  const measure = "spawn `echo hi` → run.done event, via daemon"
  report({
    name,
    unit: "ms",
    measure,
    troupe: t,
    baseline: b,
    ratio,
    samples: N,
    target: "ratio ≤ 0.1 (≥ 10× faster)",
    met: ratio <= 0.1,
    rows: [
      { measure, unit: "ms", troupe: round(t), baseline: round(b), ratio: round(ratio, 4), target: `ratio ≤ 0.1 (≥ 10× faster; is ${(b / t).toFixed(1)}×)`, met: ratio <= 0.1, n: N }
    ],
    details: {
      measured: "Troupe.client spawn({template: 'echo hi'}) → 'run.done' on events({follow: true}); baseline: detached `node bench/runner.mjs <statefile>` → status file state=done",
      speedup: round(b / t, 2),
      troupe_p90_ms: round(quantile(troupe, 0.9)),
      baseline_p90_ms: round(quantile(baseline, 0.9)),
      warmup: WARMUP
    },
    raw: { troupe: troupe.map((x) => round(x)), baseline: baseline.map((x) => round(x)) }
  })
})
