/**
 * Crash consistency in rounds (QUALITY.md, issue 18): the daemon is SIGKILLed mid-burst of
 * spawns and messages, round after round on one store. Every acknowledged spawn and message
 * must be in the store afterwards, no message twice, the store intact, and every run's
 * processes gone once the next daemon has reaped them.
 *
 * `npm test` runs 2 rounds; `TROUPE_CRASH_ROUNDS=20 npm run test:load` runs the 20 QUALITY.md
 * asks for (about 5 s a round on 2 cores).
 */
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import Database from "better-sqlite3"
import { afterAll, describe, expect, it } from "vitest"
import { pollUntil, troupeBin, troupeBinPath } from "../support/exec.js"
import { scratch } from "../support/graph.js"
import { alive, daemonPid, pidsWithEnv } from "../support/procs.js"

const rounds = Number(process.env.TROUPE_CRASH_ROUNDS ?? "2")
const home = join(scratch("troupe-crash-rounds-"), "home")
const env = { ...process.env, TROUPE_HOME: home, TROUPE_SESSION: "", TROUPE_TOKEN: "", TROUPE_KILL_GRACE_MS: "300", NO_COLOR: "1" }

afterAll(async () => {
  await troupeBin(["daemon", "stop"], { env })
})

/** Runs `troupe <args>` in a child; resolves with its stdout when it exited 0, else undefined. */
const acknowledged = (args: ReadonlyArray<string>) =>
  new Promise<string | undefined>((resolve) => {
    const child = spawn(process.execPath, [troupeBinPath, ...args], { env, stdio: ["ignore", "pipe", "ignore"] })
    let out = ""
    child.stdout.on("data", (b: Buffer) => (out += b.toString()))
    child.on("exit", (code) => resolve(code === 0 ? out : undefined))
  })

const isLeaf = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/environ`, "latin1").split("\0").some((e) => e.startsWith("TROUPE_RUN="))
  } catch {
    return false
  }
}

/** Stops every daemon of the home (in-flight clients may have auto-started new ones); the runs' leaves are not daemons. */
const stopDaemons = async () => {
  const daemons = () => pidsWithEnv("TROUPE_HOME", home).filter((pid) => !isLeaf(pid))
  for (let attempt = 0; attempt < 10 && daemons().length > 0; attempt++) {
    await troupeBin(["daemon", "stop"], { env })
    await pollUntil(() => daemons().length === 0, 5_000)
  }
  return daemons()
}

describe("crash consistency in rounds (built daemon)", () => {
  it(`${rounds} rounds of SIGKILL during bursts of spawns and messages lose no acknowledged write`, async () => {
    const spawns: Array<string> = []
    const messages: Array<string> = []
    for (let round = 0; round < rounds; round++) {
      expect((await troupeBin(["daemon", "start"], { env })).code).toBe(0)
      // The target of this round's messages.
      const target = `t${round}`
      expect((await troupeBin(["spawn", "--template", "sleep 60", "--as", target], { env })).code).toBe(0)
      let crashed = false
      const spawnWorker = async (w: number) => {
        for (let i = 0; !crashed && i < 100; i++) {
          const id = `r${round}-${w}-${i}`
          if ((await acknowledged(["spawn", "--template", "sleep 60", "--as", id]))?.includes(`run:${id}`)) spawns.push(id)
        }
      }
      const messageWorker = async (w: number) => {
        for (let i = 0; !crashed && i < 100; i++) {
          const out = await acknowledged(["message", `to=run:${target}`, "type=note.crash", `body=${round}-${w}-${i}`, "--json"])
          const id = out === undefined ? undefined : (JSON.parse(out) as { id?: string; persisted?: boolean })
          if (id?.id !== undefined && id.persisted === true) messages.push(id.id)
        }
      }
      const spawnsBefore = spawns.length
      const messagesBefore = messages.length
      const workers = Promise.all([spawnWorker(0), spawnWorker(1), messageWorker(0), messageWorker(1)])
      // Crash once this round has acknowledged some of each (never after a fixed delay).
      expect(await pollUntil(() => spawns.length >= spawnsBefore + 3 && messages.length >= messagesBefore + 3, 60_000)).toBe(true)
      const pid = daemonPid(home)
      process.kill(pid, "SIGKILL")
      crashed = true
      await workers
      expect(await pollUntil(() => !alive(pid))).toBe(true)
      expect(await stopDaemons()).toEqual([])
    }

    // A fresh daemon reaps every run the crashes left behind (each spawn was a `sleep 60`).
    expect(spawns.length).toBeGreaterThan(0)
    expect((await troupeBin(["ps", "--all"], { env })).code).toBe(0)
    const leftover = () => spawns.flatMap((id) => pidsWithEnv("TROUPE_RUN", id))
    expect(await pollUntil(() => leftover().length === 0, 30_000)).toBe(true)
    expect(await stopDaemons()).toEqual([])
    const db = new Database(join(home, "troupe.db"), { readonly: true })
    try {
      expect((db.prepare("PRAGMA integrity_check").get() as { integrity_check: string }).integrity_check).toBe("ok")
      const runIds = new Set((db.prepare("SELECT id FROM runs").all() as Array<{ id: string }>).map((r) => r.id))
      expect(spawns.filter((id) => !runIds.has(id))).toEqual([])
      const stored = (db.prepare("SELECT json_extract(envelope, '$.id') AS id FROM inbox WHERE address LIKE 'run:t%'").all() as Array<{ id: string }>).map((r) => r.id)
      expect(new Set(stored).size).toBe(stored.length)
      const storedSet = new Set(stored)
      expect(messages.filter((id) => !storedSet.has(id))).toEqual([])
    } finally {
      db.close()
    }
    expect(leftover()).toEqual([])
  }, 120_000 + rounds * 60_000)
})
