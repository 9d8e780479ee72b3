// Shared helpers of the benchmarks (see /work/shared/design/QUALITY.md, "Performance").
//
// Every benchmark is a plain Node ESM script that imports the built library from dist/
// (`npm run bench` builds first), prints its table row(s) and writes
// `bench/results/<name>.json` = {name, unit, troupe, baseline, ratio, samples, machine, ...}.
// `ratio` is always troupe / baseline (lower is better for troupe).
import { execFile } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { cpus, tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

export const benchDir = dirname(fileURLToPath(import.meta.url))
export const rootDir = dirname(benchDir)
export const resultsDir = join(benchDir, "results")
export const cliEntry = join(rootDir, "dist", "bin", "troupe.js")

/** `--smoke`: tiny sizes, seconds not minutes; times are reported but meaningless. */
export const smoke = process.argv.includes("--smoke")

/** The library as built into dist/ (`Troupe`, `Actors`), from the index when it exports them. */
export const loadTroupe = async () => {
  const index = await import("../dist/src/index.js")
  if (index.Troupe !== undefined && index.Actors !== undefined) return { Troupe: index.Troupe, Actors: index.Actors }
  const { Troupe } = await import("../dist/src/Troupe.js")
  const { Actors } = await import("../dist/src/services/Actors.js")
  return { Troupe, Actors }
}

export const machine = () => ({ cpus: cpus().length, node: process.version, platform: `${process.platform}-${process.arch}` })

export const median = (xs) => quantile(xs, 0.5)

export const quantile = (xs, q) => {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const at = (s.length - 1) * q
  const lo = Math.floor(at)
  const hi = Math.ceil(at)
  return s[lo] + (s[hi] - s[lo]) * (at - lo)
}

export const round = (x, digits = 3) => (typeof x === "number" && Number.isFinite(x) ? Number(x.toFixed(digits)) : null)

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** A fresh TROUPE_HOME (one owner per home: the store takes an exclusive lock). */
export const freshHome = (name) => mkdtempSync(join(tmpdir(), `troupe-bench-${name}-`))

export const removeHome = (home) => {
  try {
    rmSync(home, { recursive: true, force: true })
  } catch {
    // best effort
  }
}

/** Progress on stderr (run.mjs shows it only with --verbose or when a benchmark fails). */
export const progress = (name, text) => process.stderr.write(`[${name}] ${text}\n`)

// ---------------------------------------------------------------------------------------------
// /proc

export const pidAlive = (pid) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1")
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3)
    return state !== "Z" && state !== "X"
  } catch {
    return false
  }
}

/** VmRSS of `pid` in KB (undefined when unreadable). */
export const rssKb = (pid) => {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "latin1"))
    return m === null ? undefined : Number(m[1])
  } catch {
    return undefined
  }
}

/**
 * Live processes whose argv is exactly `argv` and whose environment has TROUPE_RUN set and
 * TROUPE_HOME=`home` (so only this benchmark's actors count, not other users of the machine).
 */
export const scanActors = (argv, home) => {
  const cmdline = Buffer.from(argv.map((a) => `${a}\0`).join(""))
  const homeEntry = Buffer.from(`TROUPE_HOME=${home}\0`)
  const runEntry = Buffer.from("TROUPE_RUN=")
  const found = []
  for (const name of readdirSync("/proc")) {
    const code = name.charCodeAt(0)
    if (code < 48 || code > 57) continue
    let cmd
    try {
      cmd = readFileSync(`/proc/${name}/cmdline`)
    } catch {
      continue
    }
    if (!cmd.equals(cmdline)) continue
    let env
    try {
      env = readFileSync(`/proc/${name}/environ`)
    } catch {
      continue
    }
    const hasRun = env.indexOf(runEntry) === 0 || env.indexOf(Buffer.concat([Buffer.from([0]), runEntry])) >= 0
    const hasHome = env.indexOf(homeEntry) === 0 || env.indexOf(Buffer.concat([Buffer.from([0]), homeEntry])) >= 0
    if (hasRun && hasHome && pidAlive(Number(name))) found.push(Number(name))
  }
  return found
}

// ---------------------------------------------------------------------------------------------
// Daemon

export const daemonPid = (home) => {
  try {
    const pid = Number(readFileSync(join(home, "daemon.pid"), "utf8").trim())
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

/**
 * The daemon's pid once `<home>/daemon.pid` exists. The daemon writes it just after its socket
 * starts accepting, so a client that just connected may be a moment early: wait up to 5 s.
 */
export const awaitDaemonPid = async (home) => {
  const deadline = Date.now() + 5_000
  for (;;) {
    const pid = daemonPid(home)
    if (pid !== undefined || Date.now() > deadline) return pid
    await sleep(5)
  }
}

/**
 * `troupe daemon stop` for `home`, then waits for the daemon process to exit; if it is still
 * there after 30 s, SIGTERM then SIGKILL by its pid (a daemon this benchmark started).
 */
export const stopDaemon = async (home) => {
  const pid = daemonPid(home)
  if (existsSync(join(home, "troupe.sock"))) {
    // Asynchronously: a daemon auto-started by this process's client is our child, and until
    // our event loop reaps it, its exit leaves a zombie that `daemon stop` (kill(pid, 0))
    // takes for a live daemon — a synchronous exec would make it wait its full 30 s.
    await new Promise((resolve) => {
      execFile(process.execPath, [cliEntry, "daemon", "stop"], { env: { ...process.env, TROUPE_HOME: home }, timeout: 60_000 }, (e, _stdout, stderr) => {
        if (e !== null) process.stderr.write(`troupe daemon stop failed for ${home}: ${e.message}${stderr ? ` ${stderr.trim()}` : ""}\n`)
        resolve()
      })
    })
  }
  if (pid === undefined) return
  const gone = async (ms) => {
    const deadline = Date.now() + ms
    while (pidAlive(pid) && Date.now() < deadline) await sleep(20)
    return !pidAlive(pid)
  }
  if (await gone(30_000)) return
  // SIGTERM makes the daemon kill its runs and exit; SIGKILL only if that does not work.
  for (const signal of ["SIGTERM", "SIGKILL"]) {
    process.stderr.write(`daemon ${pid} (${home}) still running; sending ${signal}\n`)
    try {
      process.kill(pid, signal)
    } catch {
      return
    }
    if (await gone(15_000)) return
  }
}

// ---------------------------------------------------------------------------------------------
// Results

const fmt = (x, unit) => {
  if (x === null || x === undefined || (typeof x === "number" && !Number.isFinite(x))) return "—"
  if (typeof x !== "number") return String(x)
  if (unit === "ratio") return x.toFixed(2)
  return Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2)
}

export const tableHeader = () =>
  [
    "| benchmark | measure | unit | troupe | baseline | ratio | target | met | n |",
    "|---|---|---|---:|---:|---:|---|---|---:|"
  ].join("\n")

export const tableRows = (result) =>
  result.rows
    .map((r) =>
      `| ${result.name}${result.smoke ? " (smoke)" : ""} | ${r.measure} | ${r.unit} | ${fmt(r.troupe, r.unit)} | ${fmt(r.baseline, r.unit)} | ${fmt(r.ratio, "ratio")} | ${r.target} | ${result.smoke ? "n/a" : r.met === undefined ? "—" : r.met ? "yes" : "NO"} | ${r.n ?? result.samples} |`
    )
    .join("\n")

/**
 * Writes `bench/results/<name>.json` and prints the row(s) (with a header when run alone).
 * `result`: {name, unit, troupe, baseline, ratio, samples, rows, details, raw}.
 */
export const report = (result) => {
  const full = {
    name: result.name,
    unit: result.unit,
    troupe: round(result.troupe),
    baseline: round(result.baseline),
    ratio: round(result.ratio, 4),
    samples: result.samples,
    machine: machine(),
    smoke: smoke,
    measure: result.measure,
    target: result.target,
    target_met: smoke ? null : result.met ?? null,
    rows: result.rows,
    details: result.details ?? {},
    raw: result.raw ?? {},
    at: new Date().toISOString()
  }
  mkdirSync(resultsDir, { recursive: true })
  writeFileSync(join(resultsDir, `${result.name}.json`), `${JSON.stringify(full, null, 2)}\n`)
  if (process.env.TROUPE_BENCH_CHILD !== "1") process.stdout.write(`${tableHeader()}\n`)
  process.stdout.write(`${tableRows(full)}\n`)
  return full
}

// ---------------------------------------------------------------------------------------------
// Cleanup: daemons and processes a benchmark started are stopped on success, on failure and on
// SIGINT/SIGTERM (run.mjs sends SIGTERM when a benchmark exceeds its time limit).

const cleanups = []

/** Registers `fn` (async) to run once when the benchmark ends, however it ends (last first). */
export const atCleanup = (fn) => {
  cleanups.push(fn)
}

let cleaning

/** Runs the registered cleanups once, last registered first; later calls share that run. */
export const runCleanups = () => {
  cleaning ??= (async () => {
    while (cleanups.length > 0) {
      const fn = cleanups.pop()
      try {
        await fn()
      } catch (e) {
        process.stderr.write(`cleanup failed: ${e?.message ?? e}\n`)
      }
    }
  })()
  return cleaning
}

/** Runs `main`, then the cleanups; a crash or a signal exits non-zero after cleaning up. */
export const runMain = (main) => {
  let stopping = false
  const onSignal = (signal) => {
    if (stopping) return
    stopping = true
    process.stderr.write(`${signal}: cleaning up\n`)
    runCleanups().finally(() => process.exit(130))
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
  return main().then(
    () => runCleanups().then(() => process.exit(0)),
    (e) => {
      // After a signal, the in-flight calls fail as the runtime goes away: not news.
      if (!stopping) process.stderr.write(`${e?.stack ?? e}\n`)
      return runCleanups().then(() => process.exit(stopping ? 130 : 1))
    }
  )
}
