// message-latency: `message` to a `stdin-jsonl` actor until the actor has read it.
//
// The actor is `node bench/ack-reader.mjs <ack.sock>` (a recipe with
// `"mailbox": {"delivery": "stdin-jsonl"}`): it parses each JSON line of its stdin and writes
// `<body.k> <t>\n` to a Unix socket this benchmark listens on, <t> being its
// process.hrtime.bigint() when it read the line (CLOCK_MONOTONIC: one clock for all processes
// of the machine). One sample = from process.hrtime.bigint() just before the send to <t>, so
// the ack channel's own latency, and whether this process's event loop is busy when the ack
// arrives (it hosts the in-process runtime), are not counted; the time until the ack is seen
// here is reported in the details. The next send starts only after both the ack and the send
// call are back (ping-pong, no pipelining).
//
// - in-process: `Troupe.layer` (Actors.local) in this process, `actors.message(...)`.
// - RPC: `Troupe.client` against a daemon on its own temporary TROUPE_HOME (one client
//   connection; the message is one RPC round trip plus the daemon's routing).
// - baseline: the same reader program with a FIFO as its stdin; the benchmark writes a line of
//   the same shape and size (a stamped envelope) to the FIFO with one writeSync. Same ack
//   socket, same parsing.
//
// The three modes are interleaved (the order rotates every round) so machine noise hits all
// alike. Targets (QUALITY.md): in-process p50 ≤ 1 ms; RPC p50 ≤ 3 ms; ratios are to the
// baseline's p50 (and p95 to p95).
import { execFileSync, spawn } from "node:child_process"
import { closeSync, constants, mkdtempSync, openSync, writeFileSync, writeSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ManagedRuntime } from "effect"
import { atCleanup, benchDir, freshHome, loadTroupe, pidAlive, progress, quantile, removeHome, report, round, runMain, sleep, smoke, stopDaemon } from "./lib.mjs"

const name = "message-latency"
const N = smoke ? 20 : 1000
const WARMUP = smoke ? 3 : 50
const reader = join(benchDir, "ack-reader.mjs")

/** Resolves `ready <tag>` handshakes and `<k>` acks arriving on the ack socket. */
const ackServer = (sockPath) => {
  const acks = new Map() // k → resolve(time)
  const early = new Map() // k → time (an ack that came before its waiter was registered)
  const ready = new Map() // tag → resolve
  const readySeen = new Set()
  const sockets = new Set()
  const server = createServer((sock) => {
    sockets.add(sock)
    sock.once("close", () => sockets.delete(sock))
    sock.setEncoding("utf8")
    let buffered = ""
    sock.on("data", (chunk) => {
      const seen = process.hrtime.bigint()
      buffered += chunk
      let nl = buffered.indexOf("\n")
      while (nl >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        nl = buffered.indexOf("\n")
        if (line.startsWith("ready ")) {
          const tag = line.slice(6)
          readySeen.add(tag)
          ready.get(tag)?.()
          continue
        }
        const [key, t] = line.split(" ")
        const k = Number(key)
        const at = { read: BigInt(t), seen }
        const w = acks.get(k)
        if (w !== undefined) {
          acks.delete(k)
          w(at)
        } else early.set(k, at)
      }
    })
  })
  return {
    listen: () => new Promise((resolve, reject) => server.once("error", reject).listen(sockPath, resolve)),
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
    /** `{read, seen}` of `k`: when the reader read it, when its ack arrived here (hrtime ns). */
    ack: (k) =>
      new Promise((resolve) => {
        const at = early.get(k)
        if (at !== undefined) {
          early.delete(k)
          resolve(at)
        } else acks.set(k, resolve)
      }),
    ready: (tag, ms = 30_000) =>
      new Promise((resolve, reject) => {
        if (readySeen.has(tag)) return resolve()
        const timer = setTimeout(() => reject(new Error(`reader ${tag} did not connect within ${ms} ms`)), ms)
        ready.set(tag, () => {
          clearTimeout(timer)
          resolve()
        })
      })
  }
}

/** Rejects after `ms` with `what` (so a lost message fails the benchmark instead of hanging it). */
const within = (promise, ms, what) => {
  let timer
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no ack within ${ms} ms`)), ms)
    })
  ])
}

const summary = (xs) => ({ p50: quantile(xs, 0.5), p95: quantile(xs, 0.95), p99: quantile(xs, 0.99), min: Math.min(...xs), max: Math.max(...xs) })

runMain(async () => {
  const { Troupe, Actors } = await loadTroupe()
  const scratch = mkdtempSync(join(tmpdir(), "troupe-bench-msglat-"))
  atCleanup(() => removeHome(scratch))
  const ackSock = join(scratch, "ack.sock")
  const server = ackServer(ackSock)
  await server.listen()
  atCleanup(() => server.close())

  // The actor recipe: the reader with stdin-jsonl delivery (spawned by absolute path).
  const recipe = join(scratch, "ack-reader.json")
  writeFileSync(
    recipe,
    JSON.stringify({
      description: "message-latency reader: acks each stdin JSON line on a Unix socket",
      mailbox: { delivery: "stdin-jsonl" },
      template: `${process.execPath} ${reader} ${ackSock}`
    })
  )

  // --- in-process ------------------------------------------------------------------------------
  const homeLocal = freshHome(`${name}-local`)
  atCleanup(() => removeHome(homeLocal))
  const local = ManagedRuntime.make(Troupe.layer({ home: homeLocal, killGraceMs: 1000 }))
  atCleanup(() => local.dispose()) // kills every run it still has
  const localActors = await local.runPromise(Actors)
  const localRun = await local.runPromise(localActors.spawn({ recipe, as: "lat-local" }))
  atCleanup(() => local.runPromise(localActors.kill(localRun.address)).catch(() => undefined))

  // --- RPC (daemon) ----------------------------------------------------------------------------
  const homeDaemon = freshHome(`${name}-daemon`)
  atCleanup(() => removeHome(homeDaemon))
  atCleanup(() => stopDaemon(homeDaemon))
  const remote = ManagedRuntime.make(Troupe.client({ home: homeDaemon }))
  atCleanup(() => remote.dispose())
  const remoteActors = await remote.runPromise(Actors) // starts the daemon
  const remoteRun = await remote.runPromise(remoteActors.spawn({ recipe, as: "lat-rpc" }))
  atCleanup(() => remote.runPromise(remoteActors.kill(remoteRun.address)).catch(() => undefined))

  // --- baseline: the same reader on a FIFO ----------------------------------------------------
  const fifo = join(scratch, "baseline.fifo")
  execFileSync("mkfifo", ["-m", "0600", fifo])
  // Open the read end first (non-blocking, so it does not wait for a writer), then the write
  // end; the reader inherits the read end as its stdin, so it sees EOF only when we close ours.
  const readEnd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK)
  const writeEnd = openSync(fifo, constants.O_WRONLY)
  const base = spawn(process.execPath, [reader, ackSock, "baseline"], { stdio: [readEnd, "ignore", "inherit"] })
  closeSync(readEnd)
  let writeClosed = false
  const closeWrite = () => {
    if (!writeClosed) {
      writeClosed = true
      closeSync(writeEnd)
    }
  }
  atCleanup(async () => {
    closeWrite() // EOF: the reader exits by itself
    for (let i = 0; i < 100 && pidAlive(base.pid); i++) await sleep(10)
    if (pidAlive(base.pid)) base.kill("SIGKILL")
  })

  await Promise.all([server.ready("lat-local"), server.ready("lat-rpc"), server.ready("baseline")])
  progress(name, "three readers connected")

  let k = 0
  const sendReturned = { local: [], rpc: [] }
  const seenMs = { local: [], rpc: [], baseline: [] }
  const ms = (from, to) => Number(to - from) / 1e6
  const lastEnvelope = { local: undefined, rpc: undefined }

  const viaTroupe = (mode, rt, actors, to) => async () => {
    const key = k++
    const acked = server.ack(key)
    const t0 = process.hrtime.bigint()
    const result = await rt.runPromise(actors.message({ to, type: "bench.ping", body: { k: key } }))
    const returned = process.hrtime.bigint()
    const at = await within(acked, 10_000, `${mode} message ${key}`)
    if (result.delivered !== true) throw new Error(`${mode} message ${key} not delivered: ${JSON.stringify(result)}`)
    sendReturned[mode].push(ms(t0, returned))
    seenMs[mode].push(ms(t0, at.seen))
    lastEnvelope[mode] = result
    return ms(t0, at.read)
  }
  const local1 = viaTroupe("local", local, localActors, localRun.address)
  const rpc1 = viaTroupe("rpc", remote, remoteActors, remoteRun.address)

  // The baseline line: a stamped envelope of the same shape and size as what troupe writes.
  let baseSeq = 0
  const base1 = async () => {
    const key = k++
    const now = Date.now()
    const id = `msg_${now.toString(36).padStart(9, "0")}${(baseSeq++ % 1_679_616).toString(36).padStart(4, "0")}${"0".repeat(8)}`
    const line = `${JSON.stringify({ to: "run:lat-base", type: "bench.ping", body: { k: key }, id, received_at: now, from: "coordinator" })}\n`
    const acked = server.ack(key)
    const t0 = process.hrtime.bigint()
    writeSync(writeEnd, line)
    const at = await within(acked, 10_000, `baseline line ${key}`)
    seenMs.baseline.push(ms(t0, at.seen))
    return ms(t0, at.read)
  }

  const modes = [
    ["local", local1],
    ["rpc", rpc1],
    ["baseline", base1]
  ]
  for (let i = 0; i < WARMUP; i++) for (const [, once] of modes) await once()
  for (const xs of [sendReturned.local, sendReturned.rpc, seenMs.local, seenMs.rpc, seenMs.baseline]) xs.length = 0

  const samples = { local: [], rpc: [], baseline: [] }
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < modes.length; j++) {
      const [mode, once] = modes[(i + j) % modes.length]
      samples[mode].push(await once())
    }
    if ((i + 1) % 250 === 0) progress(name, `${i + 1}/${N}`)
  }

  // Every message went through the inbox: check the stored records say delivered by stdin-jsonl.
  const localInbox = await local.runPromise(localActors.inboxList(localRun.address, { limit: 5 }))
  if (localInbox.length === 0 || localInbox.some((r) => r.consumer !== "stdin-jsonl")) {
    throw new Error(`in-process inbox records: ${JSON.stringify(localInbox.map((r) => [r.state, r.consumer]))}`)
  }

  const s = { local: summary(samples.local), rpc: summary(samples.rpc), baseline: summary(samples.baseline) }
  const ratio = (mode, q) => s[mode][q] / s.baseline[q]
  const rows = [
    { measure: "in-process message → actor read it, p50", unit: "ms", troupe: round(s.local.p50), baseline: round(s.baseline.p50), ratio: round(ratio("local", "p50"), 3), target: "≤ 1 ms", met: s.local.p50 <= 1, n: N },
    { measure: "in-process message → actor read it, p95", unit: "ms", troupe: round(s.local.p95), baseline: round(s.baseline.p95), ratio: round(ratio("local", "p95"), 3), target: "info", n: N },
    { measure: "RPC (daemon) message → actor read it, p50", unit: "ms", troupe: round(s.rpc.p50), baseline: round(s.baseline.p50), ratio: round(ratio("rpc", "p50"), 3), target: "≤ 3 ms", met: s.rpc.p50 <= 3, n: N },
    { measure: "RPC (daemon) message → actor read it, p95", unit: "ms", troupe: round(s.rpc.p95), baseline: round(s.baseline.p95), ratio: round(ratio("rpc", "p95"), 3), target: "info", n: N }
  ]
  report({
    name,
    unit: "ms",
    measure: rows[0].measure,
    troupe: s.local.p50,
    baseline: s.baseline.p50,
    ratio: ratio("local", "p50"),
    samples: N,
    target: "in-process p50 ≤ 1 ms; RPC p50 ≤ 3 ms",
    met: s.local.p50 <= 1 && s.rpc.p50 <= 3,
    rows,
    details: {
      measured: "process.hrtime.bigint() before actors.message(...) / before writeSync to the FIFO → the reader's hrtime when it read the line (sent back on a Unix socket); sequential, modes interleaved",
      local_p50_ms: round(s.local.p50),
      local_p95_ms: round(s.local.p95),
      local_p99_ms: round(s.local.p99),
      rpc_p50_ms: round(s.rpc.p50),
      rpc_p95_ms: round(s.rpc.p95),
      rpc_p99_ms: round(s.rpc.p99),
      baseline_p50_ms: round(s.baseline.p50),
      baseline_p95_ms: round(s.baseline.p95),
      baseline_p99_ms: round(s.baseline.p99),
      local_send_returned_p50_ms: round(quantile(sendReturned.local, 0.5)),
      rpc_send_returned_p50_ms: round(quantile(sendReturned.rpc, 0.5)),
      local_ack_seen_p50_ms: round(quantile(seenMs.local, 0.5)),
      rpc_ack_seen_p50_ms: round(quantile(seenMs.rpc, 0.5)),
      baseline_ack_seen_p50_ms: round(quantile(seenMs.baseline, 0.5)),
      warmup: WARMUP
    },
    raw: {
      local: samples.local.map((x) => round(x)),
      rpc: samples.rpc.map((x) => round(x)),
      baseline: samples.baseline.map((x) => round(x)),
      last_result: lastEnvelope
    }
  })
})
