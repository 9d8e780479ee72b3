// Baseline of spawn-to-done: a pi-actors-style detached runner, one Node process per run.
// `node bench/runner.mjs <statefile> [argv...]` runs argv (default `echo hi`) without a shell,
// collects its stdout, waits for it to exit and writes `{state, code, stdout, ...}` to
// <statefile> atomically (write a temporary file, then rename), like pi-actors' status.json.
import { spawn } from "node:child_process"
import { renameSync, writeFileSync } from "node:fs"

const [statefile, ...rest] = process.argv.slice(2)
if (statefile === undefined) {
  process.stderr.write("usage: node bench/runner.mjs <statefile> [argv...]\n")
  process.exit(2)
}
const argv = rest.length > 0 ? rest : ["echo", "hi"]
const startedAt = Date.now()

const writeStatus = (status) => {
  const tmp = `${statefile}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify({ pid: process.pid, argv, started_at: startedAt, ...status }))
  renameSync(tmp, statefile)
}

writeStatus({ state: "running" })
const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] })
const out = []
child.stdout.on("data", (b) => out.push(b))
child.stderr.resume()
child.once("error", (e) => writeStatus({ state: "failed", code: 127, error: e.message, ended_at: Date.now() }))
child.once("close", (code, signal) => {
  const ok = code === 0
  writeStatus({ state: ok ? "done" : "failed", code: code ?? 128, signal, stdout: Buffer.concat(out).toString("utf8"), ended_at: Date.now() })
})
