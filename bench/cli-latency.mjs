// cli-latency: wall time of one CLI invocation, from spawning `node` until it exits, against
// `node -e 0` (the floor: starting Node itself). Measured: `troupe --version` (nothing but
// startup) and a warm `troupe ps` (the daemon is already up on an isolated TROUPE_HOME, so the
// sample is startup + connect + one RPC round trip + printing). The three commands run
// interleaved, in rotating order, so machine noise hits them alike. Medians of N rounds.
// Targets (QUALITY.md): `--version` ≤ 1.5× and warm `ps` ≤ 2.5× `node -e 0`.
import { spawn } from "node:child_process"
import { atCleanup, awaitDaemonPid, cliEntry, freshHome, median, progress, quantile, removeHome, report, round, runMain, smoke, stopDaemon } from "./lib.mjs"

const name = "cli-latency"
const N = smoke ? 5 : Number(process.env.BENCH_ROUNDS ?? 30)
const WARMUP = smoke ? 1 : 3

/** Runs `node ...args` with `env` to completion; resolves its wall time in ms (rejects on a non-zero exit). */
const timed = (args, env) =>
  new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"], env })
    let stderr = ""
    child.stderr.on("data", (b) => (stderr += b.toString()))
    child.once("error", reject)
    child.once("close", (code) => {
      const ms = performance.now() - t0
      if (code === 0) resolve(ms)
      else reject(new Error(`node ${args.join(" ")} exited with ${code}: ${stderr.trim()}`))
    })
  })

runMain(async () => {
  const home = freshHome(name)
  const env = { ...process.env, TROUPE_HOME: home }
  atCleanup(() => removeHome(home))
  atCleanup(() => stopDaemon(home))
  // The first `ps` starts the daemon (detached); every measured `ps` finds it up.
  await timed([cliEntry, "ps"], env)
  if ((await awaitDaemonPid(home)) === undefined) throw new Error(`no daemon came up for ${home}`)

  const commands = {
    node: ["-e", "0"],
    version: [cliEntry, "--version"],
    ps: [cliEntry, "ps"]
  }
  const keys = Object.keys(commands)
  const samples = { node: [], version: [], ps: [] }
  for (let i = 0; i < WARMUP + N; i++) {
    for (let k = 0; k < keys.length; k++) {
      const key = keys[(i + k) % keys.length]
      const ms = await timed(commands[key], env)
      if (i >= WARMUP) samples[key].push(ms)
    }
    if ((i + 1) % 10 === 0) progress(name, `${i + 1}/${WARMUP + N}`)
  }

  const node = median(samples.node)
  const version = median(samples.version)
  const ps = median(samples.ps)
  const rows = [
    { measure: "`troupe --version`", unit: "ms", troupe: round(version), baseline: round(node), ratio: round(version / node, 4), target: "ratio ≤ 1.5", met: version / node <= 1.5, n: N },
    { measure: "`troupe ps`, daemon warm", unit: "ms", troupe: round(ps), baseline: round(node), ratio: round(ps / node, 4), target: "ratio ≤ 2.5", met: ps / node <= 2.5, n: N }
  ]
  report({
    name,
    unit: "ms",
    measure: rows[1].measure,
    troupe: ps,
    baseline: node,
    ratio: ps / node,
    samples: N,
    target: "--version ≤ 1.5×, warm ps ≤ 2.5× node -e 0",
    met: rows.every((r) => r.met),
    rows,
    details: {
      measured: "spawn of node → close, interleaved rounds of node -e 0, troupe --version, troupe ps (daemon up, isolated TROUPE_HOME)",
      node_median_ms: round(node),
      version_median_ms: round(version),
      ps_median_ms: round(ps),
      version_ratio: round(version / node, 3),
      ps_ratio: round(ps / node, 3),
      node_p90_ms: round(quantile(samples.node, 0.9)),
      version_p90_ms: round(quantile(samples.version, 0.9)),
      ps_p90_ms: round(quantile(samples.ps, 0.9)),
      warmup: WARMUP
    },
    raw: Object.fromEntries(keys.map((k) => [k, samples[k].map((x) => round(x))]))
  })
})
