// room-throughput: 50 concurrent senders × 200 posts to one room, persisted.
//
// - in-process: `Troupe.layer` (Actors.local); the session spawns a run (`sleep 600`) and 50
//   fibers each post 200 times, sequentially, `actors.message({to: "room:<run>", from:
//   "coordinator", type: "note", body})` — the router allows it: the session owns the run.
// - RPC: the same through the daemon (`Troupe.client`), 50 fibers over CLIENTS client
//   connections (fibers spread round-robin).
// - baseline: better-sqlite3 directly into a scratch database with the store's pragmas (WAL,
//   synchronous=NORMAL, exclusive locking) and the `room_entries` table and index of the
//   `3_messages` migration (src/services/Store.ts): the same 10,000 rows (stamped envelopes of
//   the same shape) inserted in one transaction. Rows are built before the clock starts; the
//   clock covers prepare + transaction.
//
// Every round posts into a fresh run's room (a room past its cap of 10,000 entries compacts
// on every batch, which is not what this measures). A post completes when its batch is
// committed. After each round the room is read back (`roomTail`, its `status` view) and
// checked: last seq = 10,001 (the run's `actor.join` + 10,000 posts), exactly 10,000 `note`
// entries from `coordinator` with unique ids and each sender's posts in order; the join (seq 1)
// is the one entry compacted away by the cap (status: removed 1).
//
// posts/s = 10,000 / (time from the first post to the last post's completion). Targets
// (QUALITY.md): ≥ 20,000 posts/s in-process, ≥ 5,000 posts/s over RPC. Rounds are interleaved
// (in-process, RPC, baseline, rotating); the median round is reported.
import { mkdtempSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Chunk, Effect, ManagedRuntime, Stream } from "effect"
import { atCleanup, freshHome, loadTroupe, median, progress, removeHome, report, round, runMain, smoke, stopDaemon } from "./lib.mjs"

const name = "room-throughput"
const SENDERS = smoke ? 5 : 50
const POSTS = smoke ? 20 : 200
const TOTAL = SENDERS * POSTS
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (smoke ? 1 : 3))
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 1)

const Database = createRequire(import.meta.url)("better-sqlite3")

const bodyOf = (sender, i) => ({ sender, i, text: `note ${i} from sender ${sender}` })

/** Posts SENDERS × POSTS notes to `room` through `actors` (one per client); ms elapsed. */
const postAll = async (rts, actorsList, room) => {
  const sender = (s) =>
    Effect.forEach(
      Array.from({ length: POSTS }, (_, i) => i),
      (i) => actorsList[s % actorsList.length].message({ to: room, from: "coordinator", type: "note", body: bodyOf(s, i) }),
      { discard: true }
    )
  // One Effect per client runtime, each running its senders concurrently; all clients at once.
  const t0 = performance.now()
  await Promise.all(
    rts.map((rt, c) =>
      rt.runPromise(
        Effect.forEach(
          Array.from({ length: SENDERS }, (_, s) => s).filter((s) => s % rts.length === c),
          sender,
          { concurrency: "unbounded", discard: true }
        )
      )
    )
  )
  return performance.now() - t0
}

/** Reads the room back and checks it holds exactly what was posted. */
const verify = async (rt, actors, room, mode) => {
  const entries = Chunk.toArray(await rt.runPromise(Stream.runCollect(actors.roomTail(room, { afterSeq: 0 }))))
  const notes = entries.filter((e) => e.envelope.type === "note")
  const problems = []
  if (notes.length !== TOTAL) problems.push(`${notes.length} note entries, expected ${TOTAL}`)
  const lastSeq = entries.length === 0 ? 0 : entries[entries.length - 1].seq
  if (lastSeq !== TOTAL + 1) problems.push(`last seq ${lastSeq}, expected ${TOTAL + 1} (join + posts)`)
  if (new Set(notes.map((e) => e.id)).size !== notes.length) problems.push("duplicate ids")
  const next = new Array(SENDERS).fill(0)
  for (const e of notes) {
    const { sender, i } = e.envelope.body
    if (e.envelope.from !== "coordinator") problems.push(`entry ${e.seq} from ${e.envelope.from}`)
    if (next[sender] !== i) {
      problems.push(`sender ${sender}: post ${i} at seq ${e.seq}, expected ${next[sender]}`)
      break
    }
    next[sender]++
  }
  const joins = entries.filter((e) => e.envelope.type === "actor.join").length
  const status = (await rt.runPromise(actors.inspect(room, "status"))).data ?? {}
  // The cap keeps 10,000 entries: the join (seq 1) goes when post 10,000 arrives.
  const compacted = status.compaction?.removed ?? 0
  if (joins + compacted !== 1) problems.push(`join entries ${joins}, compacted ${compacted}: expected the join to be retained or compacted once`)
  if (problems.length > 0) throw new Error(`${mode} ${room}: ${problems.slice(0, 5).join("; ")}`)
  return { retained: entries.length, notes: notes.length, last_seq: lastSeq, join_retained: joins === 1, compacted, message_count: status.message_count }
}

/** The baseline: the same rows into a scratch db with the store's table shape, one transaction. */
const baselineOnce = (dir, round) => {
  const db = new Database(join(dir, `baseline-${round}.db`))
  try {
    db.pragma("locking_mode = EXCLUSIVE")
    db.pragma("journal_mode = WAL")
    db.pragma("synchronous = NORMAL")
    db.exec(`CREATE TABLE room_entries (
      room TEXT NOT NULL,
      seq INTEGER NOT NULL,
      id TEXT NOT NULL,
      envelope TEXT NOT NULL,
      received_at INTEGER NOT NULL,
      PRIMARY KEY (room, seq)
    )`)
    db.exec("CREATE UNIQUE INDEX room_entries_id ON room_entries (room, id)")
    const room = `room:base-${round}`
    const now = Date.now()
    const rows = []
    let seq = 1 // seq 1 is the join, as in the troupe rooms
    for (let i = 0; i < POSTS; i++) {
      for (let s = 0; s < SENDERS; s++) {
        seq++
        const id = `msg_${now.toString(36).padStart(9, "0")}${seq.toString(36).padStart(4, "0")}${"0".repeat(8)}`
        const envelope = { to: room, type: "note", from: "coordinator", body: bodyOf(s, i), id, received_at: now }
        rows.push({ room, seq, id, envelope: JSON.stringify(envelope), received_at: now })
      }
    }
    const t0 = performance.now()
    const insert = db.prepare("INSERT INTO room_entries (room, seq, id, envelope, received_at) VALUES (@room, @seq, @id, @envelope, @received_at)")
    db.transaction((rs) => {
      for (const r of rs) insert.run(r)
    })(rows)
    const ms = performance.now() - t0
    const count = db.prepare("SELECT COUNT(*) AS n FROM room_entries WHERE room = ?").get(room).n
    if (count !== TOTAL) throw new Error(`baseline: ${count} rows, expected ${TOTAL}`)
    return ms
  } finally {
    db.close()
  }
}

runMain(async () => {
  const { Troupe, Actors } = await loadTroupe()
  const scratch = mkdtempSync(join(tmpdir(), "troupe-bench-roomtp-"))
  atCleanup(() => removeHome(scratch))

  // --- in-process ------------------------------------------------------------------------------
  const homeLocal = freshHome(`${name}-local`)
  atCleanup(() => removeHome(homeLocal))
  const local = ManagedRuntime.make(Troupe.layer({ home: homeLocal, killGraceMs: 1000 }))
  atCleanup(() => local.dispose()) // kills every run it still has
  const localActors = await local.runPromise(Actors)

  // --- RPC (daemon) ----------------------------------------------------------------------------
  const homeDaemon = freshHome(`${name}-daemon`)
  atCleanup(() => removeHome(homeDaemon))
  atCleanup(() => stopDaemon(homeDaemon))
  const remotes = []
  const remoteActors = []
  for (let c = 0; c < CLIENTS; c++) {
    const rt = ManagedRuntime.make(Troupe.client({ home: homeDaemon }))
    atCleanup(() => rt.dispose())
    remotes.push(rt)
    remoteActors.push(await rt.runPromise(Actors)) // the first one starts the daemon
  }

  /** A fresh run (and so a fresh room) per round; killed right after. */
  const withRun = async (rt, actors, id, f) => {
    const run = await rt.runPromise(actors.spawn({ template: "sleep 600", as: id }))
    try {
      return await f(`room:${run.id}`)
    } finally {
      await rt.runPromise(actors.kill(run.address)).catch(() => undefined)
    }
  }

  const modes = {
    local: (r) =>
      withRun(local, localActors, `room-local-${r}`, async (room) => {
        const ms = await postAll([local], [localActors], room)
        return { ms, check: await verify(local, localActors, room, "in-process") }
      }),
    rpc: (r) =>
      withRun(remotes[0], remoteActors[0], `room-rpc-${r}`, async (room) => {
        const ms = await postAll(remotes, remoteActors, room)
        return { ms, check: await verify(remotes[0], remoteActors[0], room, "RPC") }
      }),
    baseline: async (r) => ({ ms: baselineOnce(scratch, r) })
  }

  // Warm-up: a small round through each path (not counted).
  await withRun(local, localActors, "room-warm-local", (room) => local.runPromise(Effect.forEach(Array.from({ length: 200 }, (_, i) => i), (i) => localActors.message({ to: room, from: "coordinator", type: "note", body: bodyOf(0, i) }), { concurrency: 10, discard: true })))
  await withRun(remotes[0], remoteActors[0], "room-warm-rpc", (room) => remotes[0].runPromise(Effect.forEach(Array.from({ length: 200 }, (_, i) => i), (i) => remoteActors[0].message({ to: room, from: "coordinator", type: "note", body: bodyOf(0, i) }), { concurrency: 10, discard: true })))
  baselineOnce(scratch, "warm")

  const order = ["local", "rpc", "baseline"]
  const results = { local: [], rpc: [], baseline: [] }
  let lastCheck = {}
  for (let r = 0; r < ROUNDS; r++) {
    for (let j = 0; j < order.length; j++) {
      const mode = order[(r + j) % order.length]
      const out = await modes[mode](r)
      results[mode].push(out.ms)
      if (out.check !== undefined) lastCheck[mode] = out.check
      progress(name, `round ${r + 1}/${ROUNDS} ${mode}: ${out.ms.toFixed(0)} ms (${(TOTAL / (out.ms / 1000)).toFixed(0)} posts/s)`)
    }
  }

  const rate = (ms) => TOTAL / (ms / 1000)
  const ms = { local: median(results.local), rpc: median(results.rpc), baseline: median(results.baseline) }
  const perS = { local: rate(ms.local), rpc: rate(ms.rpc), baseline: rate(ms.baseline) }
  // ratio = troupe / baseline in time (lower is better), as everywhere in bench/.
  const rows = [
    { measure: `${SENDERS} senders × ${POSTS} posts → one room, in-process`, unit: "posts/s", troupe: round(perS.local, 0), baseline: round(perS.baseline, 0), ratio: round(ms.local / ms.baseline, 2), target: "≥ 20000 posts/s", met: perS.local >= 20_000, n: ROUNDS },
    { measure: `${SENDERS} senders × ${POSTS} posts → one room, RPC (${CLIENTS} client${CLIENTS === 1 ? "" : "s"})`, unit: "posts/s", troupe: round(perS.rpc, 0), baseline: round(perS.baseline, 0), ratio: round(ms.rpc / ms.baseline, 2), target: "≥ 5000 posts/s", met: perS.rpc >= 5_000, n: ROUNDS }
  ]
  report({
    name,
    unit: "posts/s",
    measure: rows[0].measure,
    troupe: perS.local,
    baseline: perS.baseline,
    ratio: ms.local / ms.baseline,
    samples: ROUNDS,
    target: "≥ 20,000 posts/s in-process; ≥ 5,000 posts/s over RPC",
    met: perS.local >= 20_000 && perS.rpc >= 5_000,
    rows,
    details: {
      measured: `${TOTAL} posts (${SENDERS} fibers × ${POSTS} sequential actors.message to room:<run> from coordinator) until the last completes, fresh room per round, median of rounds; baseline: better-sqlite3 prepare + one transaction of the same rows into room_entries (same table, index, pragmas)`,
      senders: SENDERS,
      posts_per_sender: POSTS,
      rpc_clients: CLIENTS,
      local_ms: round(ms.local),
      rpc_ms: round(ms.rpc),
      baseline_ms: round(ms.baseline),
      local_posts_per_s: round(perS.local, 0),
      rpc_posts_per_s: round(perS.rpc, 0),
      baseline_rows_per_s: round(perS.baseline, 0),
      verified: `each round: ${TOTAL} notes, unique ids, per-sender order, last seq ${TOTAL + 1}`,
      last_check_local: JSON.stringify(lastCheck.local),
      last_check_rpc: JSON.stringify(lastCheck.rpc)
    },
    raw: { local_ms: results.local.map((x) => round(x)), rpc_ms: results.rpc.map((x) => round(x)), baseline_ms: results.baseline.map((x) => round(x)) }
  })
})
