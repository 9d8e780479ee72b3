// `npm run bench [-- [--smoke] [--verbose] [name...]]`: runs the benchmarks (each in its own
// Node process, one after the other, so one's daemon, heap or leftovers cannot skew the next),
// prints one table, and leaves `bench/results/<name>.json` behind.
//
// --smoke    tiny sizes (seconds); times are reported, never asserted (CI runs this).
// --verbose  show each benchmark's progress lines (stderr) as it runs.
// name...    run only these benchmarks.
//
// Exit code 1 only when a benchmark crashes or times out — missed targets are reported, not
// asserted (QUALITY.md: the machines are shared and noisy).
import { spawn } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { benchDir, machine, resultsDir, tableHeader } from "./lib.mjs"

const benchmarks = ["cli-latency", "spawn-overhead", "spawn-to-done", "actors-1000", "message-latency", "room-throughput", "ssh-exec", "top-1000"]

const args = process.argv.slice(2)
const smoke = args.includes("--smoke")
const verbose = args.includes("--verbose")
const names = args.filter((a) => !a.startsWith("--"))
for (const n of names) {
  if (!benchmarks.includes(n)) {
    process.stderr.write(`unknown benchmark ${n}; known: ${benchmarks.join(", ")}\n`)
    process.exit(2)
  }
}
const selected = names.length > 0 ? benchmarks.filter((b) => names.includes(b)) : benchmarks
/** Per-benchmark time limit: generous, so only a hang trips it. */
const limitMs = smoke ? 120_000 : 300_000

const runOne = (name) =>
  new Promise((resolve) => {
    const started = Date.now()
    const child = spawn(process.execPath, [join(benchDir, `${name}.mjs`), ...(smoke ? ["--smoke"] : [])], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, TROUPE_BENCH_CHILD: "1" }
    })
    let stderr = ""
    child.stdout.on("data", (b) => process.stdout.write(b))
    child.stderr.on("data", (b) => {
      stderr += b.toString()
      if (verbose) process.stderr.write(b)
    })
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      process.stderr.write(`${name}: no result after ${limitMs / 1000} s; stopping it (SIGTERM, it cleans up)\n`)
      child.kill("SIGTERM")
      setTimeout(() => child.kill("SIGKILL"), 60_000).unref()
    }, limitMs)
    child.once("close", (code, signal) => {
      clearTimeout(timer)
      resolve({ name, ok: code === 0 && !timedOut, code, signal, stderr, seconds: (Date.now() - started) / 1000 })
    })
  })

const details = (name) => {
  const file = join(resultsDir, `${name}.json`)
  if (!existsSync(file)) return undefined
  try {
    return JSON.parse(readFileSync(file, "utf8")).details
  } catch {
    return undefined
  }
}

const t0 = Date.now()
const m = machine()
process.stdout.write(`troupe benchmarks${smoke ? " (smoke: tiny sizes, times not meaningful)" : ""} — ${m.cpus} cpus, node ${m.node}, ${m.platform}\n\n`)
process.stdout.write(`${tableHeader()}\n`)
const outcomes = []
for (const name of selected) outcomes.push(await runOne(name))

process.stdout.write("\n")
for (const o of outcomes) {
  if (!o.ok) {
    process.stdout.write(`${o.name}: FAILED (${o.signal ?? `exit ${o.code}`}) after ${o.seconds.toFixed(1)} s\n`)
    process.stdout.write(`${o.stderr.trim().split("\n").slice(-20).map((l) => `  ${l}`).join("\n")}\n`)
    continue
  }
  const d = details(o.name)
  const pairs = d === undefined ? "" : Object.entries(d).map(([k, v]) => `${k}=${typeof v === "string" ? JSON.stringify(v) : v}`).join(", ")
  process.stdout.write(`${o.name} (${o.seconds.toFixed(1)} s): ${pairs}\n`)
}
process.stdout.write(`\nresults: ${resultsDir}/<name>.json; total ${((Date.now() - t0) / 1000).toFixed(1)} s\n`)
process.exit(outcomes.every((o) => o.ok) ? 0 : 1)
