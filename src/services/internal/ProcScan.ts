/**
 * Reading `/proc` (Linux) for LocalHost: a process's stat (state, process group, start time),
 * its environment's `TROUPE_LEAF_ID` marker, and one shared scan of every process that all
 * fibers asking at the same moment reuse. Without `/proc`, identity start times are 0, the
 * marker sweep finds nothing and the group check trusts kill(2) alone.
 */
import * as fs from "node:fs"
import { Effect } from "effect"

/** Environment variable set on every local leaf to a unique id, inherited by all its descendants. */
export const leafMarkerVariable = "TROUPE_LEAF_ID"

export interface ProcStat {
  readonly state: string
  readonly pgid: number
  readonly startTime: number
}

export const readStat = (pid: number): ProcStat | undefined => {
  let text: string
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, "latin1")
  } catch {
    return undefined
  }
  // Field 2 (comm) is parenthesised and may contain spaces or parentheses: split after the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ")
  // fields[0] is field 3 (state), fields[2] field 5 (pgrp), fields[19] field 22 (starttime).
  return { state: fields[0] ?? "", pgid: Number(fields[2]), startTime: Number(fields[19]) }
}

/** Zombie or dead: the process has exited (a zombie lingers until its parent or init reaps it). */
const hasExited = (stat: ProcStat) => stat.state === "Z" || stat.state === "X" || stat.state === "x"

const listPids = (): ReadonlyArray<number> | undefined => {
  let names: ReadonlyArray<string>
  try {
    names = fs.readdirSync("/proc")
  } catch {
    return undefined
  }
  const pids: Array<number> = []
  for (const name of names) {
    const code = name.charCodeAt(0)
    if (code >= 48 && code <= 57) pids.push(Number(name))
  }
  return pids
}

/** Reused read buffer for `/proc/<pid>/environ`; larger environments fall back to readFileSync. */
const environBuffer = Buffer.allocUnsafe(256 * 1024)

/** `/proc/<pid>/environ`, or undefined when unreadable (another user's process, gone). */
const readEnviron = (pid: number): Buffer | undefined => {
  const file = `/proc/${pid}/environ`
  let fd: number
  try {
    fd = fs.openSync(file, "r")
  } catch {
    return undefined
  }
  try {
    let length = 0
    for (;;) {
      const read = fs.readSync(fd, environBuffer, length, environBuffer.length - length, null)
      if (read === 0) return environBuffer.subarray(0, length)
      length += read
      if (length === environBuffer.length) return fs.readFileSync(file)
    }
  } catch {
    return undefined
  } finally {
    fs.closeSync(fd)
  }
}

const markerPrefix = Buffer.from(`${leafMarkerVariable}=`)

/** The value of the `TROUPE_LEAF_ID` entry of an environment block, if any. */
const markerOf = (environ: Buffer): string | undefined => {
  let at = environ.indexOf(markerPrefix)
  while (at >= 0) {
    if (at === 0 || environ[at - 1] === 0) {
      const start = at + markerPrefix.length
      const end = environ.indexOf(0, start)
      return environ.toString("latin1", start, end < 0 ? environ.length : end)
    }
    at = environ.indexOf(markerPrefix, at + 1)
  }
  return undefined
}

/** One pass over /proc: every live process's stat, and the pids carrying each leaf marker. */
export interface ProcSnapshot {
  readonly stats: ReadonlyMap<number, ProcStat>
  readonly byMarker: ReadonlyMap<string, ReadonlyArray<number>>
}

/**
 * Reads /proc once. Unreadable entries (other users' processes, processes that just exited)
 * and zombies (empty environ) carry no marker. Synchronous: about 10-15 µs per process.
 */
const scanProc = (): ProcSnapshot => {
  const stats = new Map<number, ProcStat>()
  const byMarker = new Map<string, Array<number>>()
  for (const pid of listPids() ?? []) {
    if (pid === process.pid) continue
    const stat = readStat(pid)
    if (stat === undefined || hasExited(stat)) continue
    stats.set(pid, stat)
    const environ = readEnviron(pid)
    const marker = environ === undefined ? undefined : markerOf(environ)
    if (marker !== undefined) {
      const list = byMarker.get(marker)
      if (list === undefined) byMarker.set(marker, [pid])
      else list.push(pid)
    }
  }
  return { stats, byMarker }
}

/**
 * Scans are shared: a fiber asking for a snapshot yields once, and every fiber that asked
 * before the next scan gets that scan. So killing 1,000 leaves at once costs one /proc pass per
 * poll round, not one per leaf (the cost was quadratic in the number of processes before).
 * Every snapshot returned was taken after the request was made.
 */
let lastScan: { readonly seq: number; readonly snapshot: ProcSnapshot } = { seq: 0, snapshot: { stats: new Map(), byMarker: new Map() } }

export const freshSnapshot = Effect.suspend(() => {
  const wanted = lastScan.seq + 1
  return Effect.zipRight(
    Effect.yieldNow(),
    Effect.sync(() => {
      if (lastScan.seq < wanted) lastScan = { seq: lastScan.seq + 1, snapshot: scanProc() }
      return lastScan.snapshot
    })
  )
})

/** True when the process group `pgid` has a live member (kill(2) also counts zombies). */
export const groupAlive = (pgid: number, snapshot: ProcSnapshot): boolean => {
  try {
    process.kill(-pgid, 0)
  } catch (error) {
    if (errorCode(error) === "ESRCH") return false
  }
  for (const stat of snapshot.stats.values()) if (stat.pgid === pgid) return true
  return false
}

export const sendSignal = (target: number, signal: NodeJS.Signals): void => {
  try {
    process.kill(target, signal)
  } catch {
    // ESRCH: already gone. EPERM: a member changed credentials; nothing more we may do.
  }
}

export const errorCode = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null && "code" in error && typeof error.code === "string"
    ? error.code
    : undefined

export const errorMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error))
