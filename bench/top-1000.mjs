// top-1000: how long `troupe top --once` takes to print one frame over a daemon holding 1,000
// runs (issue 19: "a 1,000-run daemon renders a frame in under a second"), against a warm
// `troupe ps` over the same daemon (the floor: CLI start + one List round trip + printing).
// 900 of the runs have ended (`true`), 100 are live (`sleep 120`: top reads their process
// groups' CPU/RSS from /proc). Wall time from spawning `node` until it exits, medians of N
// rounds, the two commands interleaved. Target: top --once ≤ 1,000 ms.
//
// `--smoke`: 50 runs, 3 rounds.
import { spawn } from "node:child_process"
import { ManagedRuntime } from "effect"
import { atCleanup, awaitDaemonPid, cliEntry, freshHome, loadTroupe, median, progress, removeHome, report, round, runMain, scanActors, smoke, stopDaemon } from "./lib.mjs"

const name = "top-1000"
const N = Number(process.env.BENCH_N ?? (smoke ? 50 : 1000))
const LIVE = Math.ceil(N / 10)
const ROUNDS = smoke ? 3 : 15
const CONCURRENCY = 16
const targetMs = 1000

/** Runs `node ...args` with `env`; resolves {ms, stdout} (rejects on a non-zero exit). */
const timed = (args, env) =>
  new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (b) => (stdout += b.toString()))
    child.stderr.on("data", (b) => (stderr += b.toString()))
    child.once("error", reject)
    child.once("close", (code) => {
      const ms = performance.now() - t0
      if (code === 0) resolve({ ms, stdout })
      else reject(new Error(`node ${args.join(" ")} exited with ${code}: ${stderr.trim()}`))
    })
  })

const pool = async (n, limit, task) => {
  let next = 0
  const worker = async () => {
    for (;;) {
      const i = next++
      if (i >= n) return
      await task(i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker))
}

runMain(async () => {
  const { Troupe, Actors } = await loadTroupe()
  const home = freshHome(name)
  const env = { ...process.env, TROUPE_HOME: home, TROUPE_SESSION: "cli", COLUMNS: "160" }
  atCleanup(() => removeHome(home))
  atCleanup(async () => {
    await stopDaemon(home)
    for (const p of scanActors(["sleep", "120"], home)) {
      try {
        process.kill(p, "SIGKILL")
      } catch {
        // gone
      }
    }
  })
  const rt = ManagedRuntime.make(Troupe.client({ home, session: "cli" }))
  atCleanup(() => rt.dispose())
  const actors = await rt.runPromise(Actors)
  if ((await awaitDaemonPid(home)) === undefined) throw new Error(`no daemon pid in ${home}/daemon.pid`)

  progress(name, `spawning ${N - LIVE} ended and ${LIVE} live runs`)
  await pool(N, CONCURRENCY, async (i) => {
    const live = i < LIVE
    const r = await rt.runPromise(actors.spawn({ template: live ? "sleep 120" : "true", as: `t1k-${i}` }))
    if (!live) await rt.runPromise(actors.wait(r.address))
  })
  const listed = await rt.runPromise(actors.list({ status: "all" }))
  if (listed.length < N) throw new Error(`only ${listed.length} runs listed`)

  const top = [cliEntry, "top", "--once"]
  const ps = [cliEntry, "ps"]
  await timed(top, env)
  await timed(ps, env)
  const topMs = []
  const psMs = []
  let lines = 0
  for (let i = 0; i < ROUNDS; i++) {
    const t = await timed(top, env)
    lines = t.stdout.split("\n").filter((l) => l.includes("t1k-")).length
    topMs.push(t.ms)
    psMs.push((await timed(ps, env)).ms)
  }
  if (lines < N) throw new Error(`top --once showed ${lines} of ${N} runs`)
  const t = median(topMs)
  const b = median(psMs)
  progress(name, `top --once median ${t.toFixed(0)} ms, ps median ${b.toFixed(0)} ms`)
  report({
    name,
    unit: "ms",
    troupe: t,
    baseline: b,
    ratio: t / b,
    samples: ROUNDS,
    measure: `top --once over ${N} runs (${LIVE} live)`,
    target: `≤ ${targetMs} ms`,
    met: t <= targetMs,
    rows: [{ measure: `top --once, ${N} runs (${LIVE} live) vs ps`, unit: "ms", troupe: round(t, 1), baseline: round(b, 1), ratio: round(t / b, 2), target: `≤ ${targetMs} ms`, met: t <= targetMs }],
    details: { runs: N, live: LIVE, rounds: ROUNDS },
    raw: { top_ms: topMs.map((x) => round(x, 1)), ps_ms: psMs.map((x) => round(x, 1)) }
  })
})
