// actors-1000: through the daemon (Troupe.client), spawn 1,000 `sleep 60` actors (16 calls in
// flight), check they all run, "message" each once, kill them all (16 in flight) and check
// that no process survives.
//
// - all running: from the first spawn call until `list({status: "running"})` shows every actor
//   AND /proc holds that many live `sleep 60` processes carrying TROUPE_RUN (and this bench's
//   TROUPE_HOME). Target ≤ 10 s.
// - daemon RSS growth per actor: VmRSS of the daemon (pid from <home>/daemon.pid) before
//   spawning vs. when all run, / N, in KB (the actor processes are separate, so excluded).
//   Target ≤ 100 KB.
// - message each once: messaging is not built yet, so this is one `inspect run:<id> status`
//   round trip per actor (reported as such).
// - zero survivors: from the first kill call until a /proc scan finds no `sleep 60` with
//   TROUPE_RUN of this home. Target ≤ 5 s. When killing takes longer than the actors' 60 s,
//   some exit by themselves first; they are counted (ended_before_kill) and flagged in the row.
//
// `--smoke`: 20 actors. `BENCH_N=<n>` overrides the count (for investigating scaling).
import { ManagedRuntime } from "effect"
import {
  atCleanup,
  awaitDaemonPid,
  freshHome,
  loadTroupe,
  median,
  progress,
  quantile,
  removeHome,
  report,
  round,
  rssKb,
  runMain,
  scanActors,
  sleep,
  smoke,
  stopDaemon
} from "./lib.mjs"

const name = "actors-1000"
const N = Number(process.env.BENCH_N ?? (smoke ? 20 : 1000))
const CONCURRENCY = 16
const ARGV = ["sleep", "60"]
const runningTimeoutMs = smoke ? 30_000 : 120_000
const survivorTimeoutMs = 60_000

/** Runs `task(i)` for i in [0, n) with at most `limit` in flight; returns per-call ms. */
const pool = async (n, limit, task) => {
  const latencies = new Array(n)
  let next = 0
  const worker = async () => {
    for (;;) {
      const i = next++
      if (i >= n) return
      const t0 = performance.now()
      await task(i)
      latencies[i] = performance.now() - t0
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker))
  return latencies
}

const id = (i) => `a1k-${i}`

runMain(async () => {
  const { Troupe, Actors } = await loadTroupe()
  const home = freshHome(name)
  atCleanup(() => removeHome(home))
  atCleanup(async () => {
    await stopDaemon(home)
    // Anything still alive here was started by this benchmark (matched by its TROUPE_HOME).
    const left = scanActors(ARGV, home)
    if (left.length > 0) {
      process.stderr.write(`[${name}] ${left.length} sleep processes left after daemon stop; SIGKILL\n`)
      for (const p of left) {
        try {
          process.kill(p, "SIGKILL")
        } catch {
          // gone
        }
      }
    }
  })
  const rt = ManagedRuntime.make(Troupe.client({ home }))
  atCleanup(() => rt.dispose())
  const actors = await rt.runPromise(Actors) // starts the daemon
  const pid = await awaitDaemonPid(home)
  if (pid === undefined) throw new Error(`no daemon pid in ${home}/daemon.pid`)

  // Warm the daemon's code paths (spawn, wait, inspect, list, kill) before the RSS baseline.
  for (let i = 0; i < 3; i++) {
    const r = await rt.runPromise(actors.spawn({ template: "true" }))
    await rt.runPromise(actors.wait(r.address))
    await rt.runPromise(actors.inspect(r.address, "status"))
  }
  const w = await rt.runPromise(actors.spawn({ template: "sleep 60", as: "warm" }))
  await rt.runPromise(actors.kill(w.address))
  await rt.runPromise(actors.list({ status: "running" }))
  await sleep(200)
  const rssBefore = rssKb(pid)

  // --- spawn ---------------------------------------------------------------------------------
  progress(name, `spawning ${N}`)
  const t0 = performance.now()
  const spawnLatency = await pool(N, CONCURRENCY, async (i) => {
    const r = await rt.runPromise(actors.spawn({ template: "sleep 60", as: id(i) }))
    if (r.state !== "starting" && r.state !== "running") throw new Error(`${id(i)} spawned as ${r.state}`)
  })
  const spawnedMs = performance.now() - t0
  progress(name, `spawn calls returned after ${spawnedMs.toFixed(0)} ms`)

  let listed = 0
  let procs = 0
  let polls = 0
  const listLatency = []
  for (;;) {
    const l0 = performance.now()
    const running = await rt.runPromise(actors.list({ status: "running" }))
    listLatency.push(performance.now() - l0)
    listed = running.filter((r) => r.id.startsWith("a1k-")).length
    procs = scanActors(ARGV, home).length
    polls++
    if (listed >= N && procs >= N) break
    if (performance.now() - t0 > runningTimeoutMs) {
      throw new Error(`after ${runningTimeoutMs} ms only ${listed} runs are listed running and ${procs} sleep processes exist`)
    }
    await sleep(25)
  }
  const allRunningMs = performance.now() - t0
  const rssAll = rssKb(pid)
  const rssPerActor = (rssAll - rssBefore) / N
  progress(name, `all running after ${allRunningMs.toFixed(0)} ms; daemon RSS ${rssBefore} → ${rssAll} KB`)

  // --- "message" each once: inspect status round trip ----------------------------------------
  const m0 = performance.now()
  const inspectLatency = await pool(N, CONCURRENCY, async (i) => {
    const v = await rt.runPromise(actors.inspect(`run:${id(i)}`, "status"))
    if (v.data?.state !== "running") throw new Error(`${id(i)} is ${v.data?.state}`)
  })
  const messageAllMs = performance.now() - m0
  progress(name, `inspected each once in ${messageAllMs.toFixed(0)} ms`)

  // --- kill all ------------------------------------------------------------------------------
  progress(name, `killing ${N}`)
  let killed = 0
  let endedFirst = 0
  const k0 = performance.now()
  const killLatency = await pool(N, CONCURRENCY, async (i) => {
    const res = await rt.runPromise(actors.kill(`run:${id(i)}`))
    if (res.state === "killed") killed++
    else if (res.state === "done") endedFirst++ // sleep 60 ran out before its kill came
    else throw new Error(`kill ${id(i)} → ${res.state} (${res.reason ?? ""})`)
  })
  const killReturnedMs = performance.now() - k0
  const survivorsAtReturn = scanActors(ARGV, home).length
  let survivors = survivorsAtReturn
  while (survivors > 0) {
    if (performance.now() - k0 > survivorTimeoutMs) throw new Error(`${survivors} sleep processes survive ${survivorTimeoutMs} ms after kill`)
    await sleep(5)
    survivors = scanActors(ARGV, home).length
  }
  const zeroMs = performance.now() - k0
  const active = (await rt.runPromise(actors.list({ status: "active" }))).length
  if (active !== 0) throw new Error(`${active} runs still active after kill all`)
  progress(name, `kill calls returned after ${killReturnedMs.toFixed(0)} ms; zero survivors after ${zeroMs.toFixed(0)} ms`)

  const rows = [
    { measure: `spawn ${N} × sleep 60 → all running (list + /proc)`, unit: "ms", troupe: round(allRunningMs), baseline: null, ratio: null, target: "≤ 10000 ms", met: allRunningMs <= 10_000, n: N },
    { measure: "daemon RSS growth per actor", unit: "KB", troupe: round(rssPerActor, 2), baseline: null, ratio: null, target: "≤ 100 KB", met: rssPerActor <= 100, n: N },
    { measure: "message each once = inspect status round trip (median; messaging not built)", unit: "ms", troupe: round(median(inspectLatency)), baseline: null, ratio: null, target: "info", n: N },
    { measure: `kill all → zero survivors (/proc)${endedFirst > 0 ? `; ${endedFirst} actors had already exited by themselves (60 s)` : ""}`, unit: "ms", troupe: round(zeroMs), baseline: null, ratio: null, target: "≤ 5000 ms", met: zeroMs <= 5_000, n: N }
  ]
  report({
    name,
    unit: "ms",
    measure: rows[0].measure,
    troupe: allRunningMs,
    baseline: null,
    ratio: null,
    samples: N,
    target: "all running ≤ 10 s; RSS ≤ 100 KB/actor; zero survivors ≤ 5 s after kill",
    met: rows.every((r) => r.met !== false),
    rows,
    details: {
      concurrency: CONCURRENCY,
      spawn_calls_total_ms: round(spawnedMs),
      spawn_call_median_ms: round(median(spawnLatency)),
      spawn_call_p90_ms: round(quantile(spawnLatency, 0.9)),
      list_running_polls: polls,
      list_running_median_ms: round(median(listLatency)),
      all_running_ms: round(allRunningMs),
      daemon_rss_before_kb: rssBefore,
      daemon_rss_all_running_kb: rssAll,
      daemon_rss_growth_per_actor_kb: round(rssPerActor, 2),
      message_each_once: "inspect run:<id> status round trip (messaging not built yet)",
      inspect_all_total_ms: round(messageAllMs),
      inspect_median_ms: round(median(inspectLatency)),
      inspect_p90_ms: round(quantile(inspectLatency, 0.9)),
      kill_calls_total_ms: round(killReturnedMs),
      kill_call_median_ms: round(median(killLatency)),
      kill_call_p90_ms: round(quantile(killLatency, 0.9)),
      kill_applied: killed,
      ended_before_kill: endedFirst,
      survivors_when_kill_calls_returned: survivorsAtReturn,
      zero_survivors_ms: round(zeroMs)
    },
    raw: {
      spawn_ms: spawnLatency.map((x) => round(x)),
      inspect_ms: inspectLatency.map((x) => round(x)),
      kill_ms: killLatency.map((x) => round(x))
    }
  })
})
