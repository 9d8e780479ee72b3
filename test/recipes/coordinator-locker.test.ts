/**
 * recipes/coordinator-locker.json through the built binary: leases under concurrent
 * acquisition from several processes, expiry takeover, holder-only release, a complete JSONL
 * decision journal under concurrent appends, stale lock recovery, and the spawned-run default
 * of the shared directory ({state_dir}).
 */
import { mkdirSync, readFileSync, utimesSync } from "node:fs"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { scratch } from "../support/graph.js"
import { isolatedEnv, leafStderr, troupe } from "./support.js"

const locker = (dir: string, args: ReadonlyArray<string>) => troupe(["run", "coordinator-locker", `dir=${dir}`, ...args])

const busy = /^lease busy: db held by (h\d) until (\d{4}-\d\d-\d\dT[\d:.]+Z)$/

describe("coordinator-locker", () => {
  it("8 processes acquiring the same resource at once: exactly one wins, the others get lease busy (exit 3)", async () => {
    const dir = scratch("troupe-locker-")
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => locker(dir, ["action=acquire", "resource=db", `holder=h${i}`])))
    const winners = results.filter((r) => r.code === 0)
    expect(winners).toHaveLength(1)
    const won = JSON.parse(winners[0]!.stdout) as { holder: string; expires_at: string; renewed: boolean; took_over: unknown }
    expect(won).toMatchObject({ ok: true, action: "acquire", resource: "db", ttl_ms: 60000, renewed: false, took_over: null })
    const losers = results.filter((r) => r.code !== 0)
    expect(losers.map((r) => r.code)).toEqual([3, 3, 3, 3, 3, 3, 3])
    for (const r of losers) {
      const m = busy.exec(leafStderr(r.stderr))
      expect(m?.slice(1)).toEqual([won.holder, won.expires_at])
    }
    const status = JSON.parse((await locker(dir, ["action=status"])).stdout) as { leases: Array<{ resource: string; holder: string; expired: boolean }> }
    expect(status.leases).toEqual([expect.objectContaining({ resource: "db", holder: won.holder, expired: false })])
  })

  it("an expired lease can be taken over; release is refused to a non-holder and works for the holder", async () => {
    const dir = scratch("troupe-locker-")
    const first = await locker(dir, ["action=acquire", "resource=db", "holder=alice", "ttl_ms=1"])
    expect(first.code).toBe(0)
    const expires = Date.parse((JSON.parse(first.stdout) as { expires_at: string }).expires_at)
    // The lease lasts 1 ms; make sure it is over before the next process looks.
    while (Date.now() <= expires) await new Promise((r) => setTimeout(r, 1))
    expect(JSON.parse((await locker(dir, ["action=status", "resource=db"])).stdout)).toMatchObject({ leases: [{ holder: "alice", expired: true }] })
    const takeover = await locker(dir, ["action=acquire", "resource=db", "holder=bob"])
    expect(takeover.code).toBe(0)
    expect(JSON.parse(takeover.stdout)).toMatchObject({ holder: "bob", took_over: { holder: "alice" } })
    const busyForAlice = await locker(dir, ["action=acquire", "resource=db", "holder=alice"])
    expect(busyForAlice.code).toBe(3)
    expect(leafStderr(busyForAlice.stderr)).toMatch(/^lease busy: db held by bob until /)
    const denied = await locker(dir, ["action=release", "resource=db", "holder=alice"])
    expect(denied.code).toBe(3)
    expect(leafStderr(denied.stderr)).toMatch(/^not the holder: db is held by bob until .*, not by alice$/)
    const renewed = await locker(dir, ["action=acquire", "resource=db", "holder=bob", "ttl_ms=120000"])
    expect(JSON.parse(renewed.stdout)).toMatchObject({ renewed: true, ttl_ms: 120000, took_over: null })
    expect((await locker(dir, ["action=release", "resource=db", "holder=bob"])).code).toBe(0)
    const again = await locker(dir, ["action=release", "resource=db", "holder=bob"])
    expect(again.code).toBe(4)
    expect(leafStderr(again.stderr)).toBe("no lease: db is not held")
    expect(JSON.parse(readFileSync(join(dir, "leases.json"), "utf8"))).toEqual({})
  })

  it("concurrent decide calls leave one complete, parseable journal line each", async () => {
    const dir = scratch("troupe-locker-")
    // Large decisions (64 KiB each) would interleave if appends were not serialized.
    const decision = (i: number) => `decision ${i}: ` + String.fromCharCode(97 + i).repeat(64 * 1024)
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => locker(dir, ["action=decide", `holder=h${i}`, `decision=${decision(i)}`, "resource=plan"]))
    )
    expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0, 0, 0, 0, 0])
    const raw = readFileSync(join(dir, "journal.jsonl"), "utf8")
    expect(raw.endsWith("\n")).toBe(true)
    const entries = raw
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { ts: string; holder: string; decision: string; resource: string })
    expect(entries).toHaveLength(8)
    for (const e of entries) {
      expect(Object.keys(e)).toEqual(["ts", "holder", "decision", "resource"])
      expect(e.decision).toBe(decision(Number(e.holder.slice(1))))
      expect(e.resource).toBe("plan")
      expect(Number.isNaN(Date.parse(e.ts))).toBe(false)
    }
    expect(entries.map((e) => e.holder).sort()).toEqual(["h0", "h1", "h2", "h3", "h4", "h5", "h6", "h7"])
    const journal = await locker(dir, ["action=journal", "limit=2"])
    expect(journal.code).toBe(0)
    expect(journal.stdout.trimEnd().split("\n").map((l) => (JSON.parse(l) as { holder: string }).holder)).toEqual(
      entries.slice(-2).map((e) => e.holder)
    )
  })

  it("a lock left by a dead process (stale mtime) does not block; missing arguments are usage errors", async () => {
    const dir = scratch("troupe-locker-")
    const lock = join(dir, ".locker.lock")
    mkdirSync(lock)
    const old = new Date(Date.now() - 60_000)
    utimesSync(lock, old, old)
    expect((await locker(dir, ["action=decide", "holder=h", "decision=go"])).code).toBe(0)
    const noHolder = await locker(dir, ["action=acquire", "resource=db"])
    expect(noHolder.code).toBe(2)
    expect(leafStderr(noHolder.stderr)).toBe("coordinator-locker: acquire needs holder=…")
    const noDir = await troupe(["run", "coordinator-locker", "action=status"])
    expect(noDir.code).toBe(2)
    expect(noDir.stderr).toContain("dir=<shared directory> is required outside a spawned run")
    const badAction = await troupe(["run", "coordinator-locker", "action=steal", `dir=${dir}`])
    expect(badAction.code).toBe(2)
    expect(badAction.stderr).toContain("Argument action must be one of: acquire, release, status, decide, journal.")
  })
})

describe("coordinator-locker as a spawned run", () => {
  const envs: Array<Record<string, string>> = []
  afterEach(async () => {
    for (const env of envs.splice(0)) await troupe(["daemon", "stop"], { env })
  })

  it("defaults the shared directory to the run's state_dir", async () => {
    const env = isolatedEnv()
    envs.push(env)
    expect((await troupe(["spawn", "coordinator-locker", "action=decide", "holder=me", "decision=ship it", "--as", "cell"], { env })).code).toBe(0)
    const waited = await troupe(["wait", "run:cell"], { env })
    expect(waited.code).toBe(0)
    expect(JSON.parse(waited.stdout)).toMatchObject({ ok: true, entry: { holder: "me", decision: "ship it" } })
    const inspect = JSON.parse((await troupe(["inspect", "run:cell", "--json"], { env })).stdout) as { data: { state_dir: string } }
    const stateDir = inspect.data.state_dir
    expect(stateDir.startsWith(env.TROUPE_HOME!)).toBe(true)
    const line = JSON.parse(readFileSync(join(stateDir, "journal.jsonl"), "utf8")) as { holder: string; decision: string }
    expect(line).toMatchObject({ holder: "me", decision: "ship it" })
  })
})
