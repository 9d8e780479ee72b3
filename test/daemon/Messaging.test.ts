/**
 * Messaging through a real daemon (the built binary, npm test builds first) with a restart in
 * the middle: 50 concurrent RPC clients × 200 keyed posts into one room, each post also a
 * record in one inbox (`metadata.recipients`); the daemon is stopped with SIGTERM after about
 * half and started again; every client retries each `unavailable` send with the same
 * idempotency key. Then: exactly 10,000 room entries and 10,000 inbox records, unique ids,
 * each sender's order kept. (The in-process versions are in test/services/{Rooms,Mailbox}.)
 *
 * Target: `room:<run>` from the run's owner. The daemon's stop kills the run, and a killed
 * run's `run:` / `branch:` inboxes refuse direct messages (`run_not_running`); its room stays
 * postable by its owner, and the multicast copies land in `branch:<run>/sink`'s inbox.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Layer, Scope, Stream } from "effect"
import { execFile } from "node:child_process"
import { join } from "node:path"
import { makeRemote } from "../../src/daemon/Client.js"
import { ActorsError } from "../../src/domain/Run.js"
import * as Config from "../../src/layers/Config.js"
import type { ActorsShape } from "../../src/services/Actors.js"
import { scratch } from "../support/graph.js"
import { alive, daemonPid } from "../support/procs.js"

const bin = join(process.cwd(), "dist/bin/troupe.js")
const senders = 50
const perSender = 200
const total = senders * perSender

const env = (home: string) => ({ ...process.env, TROUPE_HOME: home, NO_COLOR: "1", TROUPE_SESSION: "", TROUPE_TOKEN: "", TROUPE_KILL_GRACE_MS: "300" })

/** Runs the CLI without blocking the event loop (the senders keep running meanwhile). */
const troupe = (home: string, args: ReadonlyArray<string>) =>
  Effect.async<{ code: number; stdout: string; stderr: string }>((resume) => {
    const child = execFile(process.execPath, [bin, ...args], { env: env(home), timeout: 60_000 }, (error, stdout, stderr) =>
      resume(Effect.succeed({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr }))
    )
    return Effect.sync(() => child.kill())
  })



/** Polls `check` every 20 ms (a wait for a condition, not a timed assertion). */
const until = (check: () => boolean) => Effect.repeat(Effect.sleep("20 millis"), { until: check })

describe("messaging through the daemon", () => {
  it.live(
    "50 concurrent senders × 200 keyed posts into one room and one inbox across a daemon restart: exactly 10,000 each, unique ids, per-sender order",
    () => {
      const home = join(scratch("troupe-msg-daemon-"), "home")
      const connect = (scope: Scope.Scope) =>
        makeRemote({ home, autoStart: false }).pipe(
          Scope.extend(scope),
          Effect.provide(Layer.mergeAll(Config.layer({ home }), NodeContext.layer))
        )
      return Effect.gen(function* () {
        expect((yield* troupe(home, ["daemon", "start"])).code).toBe(0)
        const firstPid = daemonPid(home)
        expect((yield* troupe(home, ["spawn", "--template", "sleep 300", "--as", "sink"])).code).toBe(0)

        let phase: "first" | "stopping" | "second" = "first"
        const acked = { first: 0, stopping: 0, second: 0 }
        let unavailable = 0
        let connections = 0

        /** One client: its own connection, reconnecting after `unavailable`; every send keyed. */
        const sender = (s: number) =>
          Effect.gen(function* () {
            let conn: { readonly actors: ActorsShape; readonly scope: Scope.CloseableScope } | undefined
            const drop = Effect.suspend(() => (conn === undefined ? Effect.void : Scope.close(conn.scope, Exit.void))).pipe(
              Effect.zipRight(Effect.sync(() => (conn = undefined)))
            )
            const ids: Array<string> = []
            for (let i = 0; i < perSender; i++) {
              const envelope = { to: "room:sink", type: "load.note", from: "coordinator", body: { s, i }, metadata: { recipients: ["branch:sink/sink"] } }
              for (;;) {
                const attempt = Effect.gen(function* () {
                  if (conn === undefined) {
                    const scope = yield* Scope.make()
                    const remote = yield* connect(scope).pipe(Effect.onError(() => Scope.close(scope, Exit.void)))
                    conn = { actors: remote.actors, scope }
                    connections++
                  }
                  return yield* conn.actors.message(envelope, { idempotencyKey: `sender-${s}:${i}` })
                })
                const result = yield* attempt.pipe(
                  // A request the stopping daemon never answers counts as unavailable too (the
                  // retry is safe with the same key).
                  Effect.timeoutFail({ duration: "15 seconds", onTimeout: () => new ActorsError({ reason: "unavailable", message: "no answer" }) }),
                  Effect.catchIf(
                    (e) => e.reason === "unavailable",
                    () => Effect.as(Effect.zipRight(drop, Effect.sync(() => unavailable++)).pipe(Effect.zipRight(Effect.sleep("50 millis"))), undefined)
                  )
                )
                if (result === undefined) continue
                acked[phase]++
                ids.push(result.id)
                break
              }
            }
            yield* drop
            return ids
          })

        // Wall-clock marks for the log only (nothing is asserted on them).
        const marks: Array<[string, number]> = [["start", performance.now()]]
        const mark = (name: string) => Effect.sync(() => void marks.push([name, performance.now()]))
        const stopAndRestart = Effect.gen(function* () {
          yield* until(() => acked.first >= total / 2)
          phase = "stopping"
          const ackedBeforeStop = acked.first
          yield* mark("sigterm")
          process.kill(firstPid, "SIGTERM")
          yield* until(() => !alive(firstPid))
          yield* mark("stopped")
          const started = yield* troupe(home, ["daemon", "start"])
          expect(started.code).toBe(0)
          yield* mark("restarted")
          phase = "second"
          return { ackedBeforeStop, secondPid: daemonPid(home) }
        })

        const [results, restart] = yield* Effect.all(
          [Effect.forEach(Array.from({ length: senders }, (_, s) => s), sender, { concurrency: "unbounded" }), stopAndRestart],
          { concurrency: "unbounded" }
        )
        yield* mark("done")

        // The restart happened mid-stream: a new daemon, sends answered by both, retries made.
        expect(restart.secondPid).not.toBe(firstPid)
        expect(alive(firstPid)).toBe(false)
        expect(restart.ackedBeforeStop).toBeGreaterThanOrEqual(total / 2)
        expect(restart.ackedBeforeStop).toBeLessThan(total)
        expect(acked.second).toBeGreaterThan(0)
        expect(acked.first + acked.stopping + acked.second).toBe(total)
        expect(unavailable).toBeGreaterThan(0)
        expect(connections).toBeGreaterThan(senders)

        const scope = yield* Scope.make()
        const remote = yield* connect(scope)
        const status = yield* remote.status
        expect(status.pid).toBe(restart.secondPid)
        const run = yield* remote.actors.inspect("run:sink", "status")
        expect(run.text).toContain("status=killed")

        // The room: the run's join + 10,000 posts (seq 1 … 10,001); the cap of 10,000 compacted the join.
        const entries = Chunk.toArray(yield* remote.actors.roomTail("room:sink").pipe(Stream.runCollect))
        const posts = entries.filter((e) => e.envelope.type === "load.note")
        expect(posts).toHaveLength(total)
        expect(entries).toHaveLength(total)
        expect(entries[entries.length - 1]!.seq).toBe(total + 1)
        const room = yield* remote.actors.inspect("room:sink", "status")
        expect((room.data as { compaction?: { removed: number } }).compaction?.removed).toBe(1)
        expect(new Set(posts.map((e) => e.id)).size).toBe(total)
        const keyOf = (body: unknown) => {
          const b = body as { s: number; i: number }
          return `${b.s}:${b.i}`
        }
        expect(new Set(posts.map((e) => keyOf(e.envelope.body))).size).toBe(total)
        // Each sender's posts in seq order are 0 … 199; the ids its clients got back are the entries' ids.
        const bySender = new Map<number, Array<number>>()
        for (const e of posts) {
          const b = e.envelope.body as { s: number; i: number }
          bySender.set(b.s, [...(bySender.get(b.s) ?? []), b.i])
        }
        for (let s = 0; s < senders; s++) expect(bySender.get(s)).toEqual(Array.from({ length: perSender }, (_, i) => i))
        expect(new Set(results.flat())).toEqual(new Set(posts.map((e) => e.id)))
        // Entries were received by both daemons.
        expect(posts.some((e) => e.received_at < status.started_at)).toBe(true)
        expect(posts.some((e) => e.received_at >= status.started_at)).toBe(true)

        // The inbox: one copy per post, unique ids, each sender's copies in id order (the inbox's order).
        const records = yield* remote.actors.inboxList("branch:sink/sink", { limit: total + 10 })
        expect(records).toHaveLength(total)
        expect(new Set(records.map((r) => r.id)).size).toBe(total)
        expect(new Set(records.map((r) => keyOf(r.envelope.body))).size).toBe(total)
        const inboxBySender = new Map<number, Array<number>>()
        for (const r of [...records].sort((a, b) => (a.id < b.id ? -1 : 1))) {
          const b = r.envelope.body as { s: number; i: number }
          inboxBySender.set(b.s, [...(inboxBySender.get(b.s) ?? []), b.i])
        }
        for (let s = 0; s < senders; s++) expect(inboxBySender.get(s)).toEqual(Array.from({ length: perSender }, (_, i) => i))

        // How many retries met a post the first daemon had already stored (the key made them no-ops).
        const storedBeforeStop = posts.filter((e) => e.received_at < status.started_at).length
        console.log(
          `daemon restart: ${restart.ackedBeforeStop} acknowledged before SIGTERM, ${acked.stopping} while stopping, ${acked.second} after; ` +
            `${storedBeforeStop} stored by the first daemon (${storedBeforeStop - restart.ackedBeforeStop - acked.stopping} of them unacknowledged, deduplicated on retry); ` +
            `${unavailable} unavailable retries, ${connections} connections; ` +
            marks.slice(1).map(([name, at], i) => `${name} +${Math.round(at - marks[i]![1])} ms`).join(", ")
        )
        yield* Scope.close(scope, Exit.void)
      }).pipe(Effect.ensuring(troupe(home, ["daemon", "stop"])))
    },
    180_000
  )
})
