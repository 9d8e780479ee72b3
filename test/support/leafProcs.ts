/**
 * `/proc` checks for the host suite (test/support/leafSuite.ts): process state, group and
 * start time, environment, and a leaf's live tree (group members or marker carriers).
 */
import * as fs from "node:fs"
import { expect } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import type { ProcessIdentity } from "../../src/services/Host.js"

export const readStat = (pid: number): { state: string; pgid: number; startTime: number } | undefined => {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, "latin1")
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ")
    return { state: fields[0]!, pgid: Number(fields[2]), startTime: Number(fields[19]) }
  } catch {
    return undefined
  }
}

/** Exists and has not exited (zombies are dead: init here does not always reap them). */
export const isAlive = (pid: number) => {
  const stat = readStat(pid)
  return stat !== undefined && stat.state !== "Z" && stat.state !== "X"
}

export const livePids = () => fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name)).map(Number).filter(isAlive)

export const readEnviron = (pid: number): ReadonlyArray<string> => {
  try {
    return fs.readFileSync(`/proc/${pid}/environ`, "latin1").split("\0")
  } catch {
    return []
  }
}

export const markerOf = (pid: number): string => {
  const entry = readEnviron(pid).find((e) => e.startsWith("TROUPE_LEAF_ID="))
  if (entry === undefined) throw new Error(`no marker on ${pid}`)
  return entry
}

/** Live processes of a leaf: members of its group or carriers of its marker. */
export const treeOf = (identity: ProcessIdentity, marker: string) =>
  livePids().filter((pid) => pid !== process.pid && (readStat(pid)?.pgid === identity.pgid || readEnviron(pid).includes(marker)))

/** Polls until the leaf's tree has at least `count` live processes. */
export const awaitTree = (identity: ProcessIdentity, marker: string, count: number) =>
  Effect.sync(() => treeOf(identity, marker)).pipe(
    Effect.repeat({
      schedule: Schedule.passthrough<number, ReadonlyArray<number>, never>(
        Schedule.spaced("20 millis").pipe(Schedule.upTo("20 seconds"))
      ),
      until: (pids) => pids.length >= count
    }),
    Effect.tap((pids) => Effect.sync(() => expect(pids.length).toBeGreaterThanOrEqual(count)))
  )
