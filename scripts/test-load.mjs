// `npm run test:load`: the vitest suite of `npm test` on a busy machine (QUALITY.md, "Green under
// load"). package.json runs the build and the typecheck first; this script then starts one
// busy-loop Node process per core (TROUPE_LOAD_PROCS overrides the count, default
// os.availableParallelism(), at least 2), runs `vitest run` with every extra argument, stops
// the busy loops afterwards — also when vitest fails, or on Ctrl-C / SIGTERM — and exits
// with vitest's code (128 + the signal's number when interrupted).
//
// Under load the crash-consistency test (test/daemon/CrashRounds.test.ts) runs the 20 SIGKILL
// rounds QUALITY.md asks for (TROUPE_CRASH_ROUNDS, default 20 here and 2 in `npm test`).
//
// A busy loop also ends by itself when this script is gone (killed with SIGKILL, say): it
// checks every ~100 ms whether its parent is still the process that started it.
import { spawn } from "node:child_process"
import { availableParallelism } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const requested = process.env.TROUPE_LOAD_PROCS
const count = requested === undefined ? Math.max(2, availableParallelism()) : Number(requested)
if (!Number.isInteger(count) || count < 0) {
  console.error(`test:load: TROUPE_LOAD_PROCS must be a whole number, got ${requested}`)
  process.exit(1)
}

// Spins a core; leaves as soon as its parent (this script) is no longer its parent.
const burn = `const parent = process.ppid; for (;;) { for (let i = 0; i < 5e7; i++); if (process.ppid !== parent) process.exit(0) }`
const burners = Array.from({ length: count }, () => spawn(process.execPath, ["-e", burn], { stdio: "ignore" }))
const running = (child) => child.exitCode === null && child.signalCode === null
const stopBurners = () => {
  for (const b of burners) if (running(b)) b.kill("SIGKILL")
}
// Resolves once every busy loop is gone (SIGKILL cannot be ignored; the bound is a guard).
const burnersGone = () =>
  Promise.race([
    Promise.all(burners.map((b) => (running(b) ? new Promise((r) => b.once("exit", r)) : undefined))),
    new Promise((r) => setTimeout(r, 5_000).unref())
  ])
process.on("exit", stopBurners)

const started = Date.now()
console.error(`test:load: ${count} busy-loop processes (pids ${burners.map((b) => b.pid).join(", ")}) keep the cores saturated while vitest runs`)
const vitest = spawn(process.execPath, [join(root, "node_modules", "vitest", "vitest.mjs"), "run", ...process.argv.slice(2)], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, TROUPE_CRASH_ROUNDS: process.env.TROUPE_CRASH_ROUNDS ?? "20" }
})
// Ctrl-C / SIGTERM: the busy loops stop at once, vitest is asked to stop (and killed if it has
// not within 10 s), and the exit code says the run was interrupted (128 + signal number).
const signalCodes = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 }
let interrupted
for (const signal of Object.keys(signalCodes)) {
  process.on(signal, () => {
    stopBurners()
    if (interrupted !== undefined) return
    interrupted = signal
    if (running(vitest)) {
      vitest.kill(signal)
      setTimeout(() => running(vitest) && vitest.kill("SIGKILL"), 10_000).unref()
    }
  })
}
vitest.on("exit", async (code, signal) => {
  stopBurners()
  await burnersGone()
  const seconds = ((Date.now() - started) / 1000).toFixed(0)
  const outcome = interrupted !== undefined ? `interrupted (${interrupted})` : code === 0 ? "passed" : `failed (${signal ?? `exit code ${code}`})`
  console.error(`test:load: vitest ${outcome} under load in ${seconds} s; busy loops stopped`)
  process.exit(interrupted !== undefined ? signalCodes[interrupted] : (code ?? 1))
})
