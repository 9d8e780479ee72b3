/**
 * Reading Linux `/proc` for the exec broker: a process's stat (state, process group, start
 * time), the `TROUPE_LEAF_ID` marker in its environment, one scan of every live process, and
 * which processes of a leaf survive (its group, verified or not, and its marked escapees).
 * Plain, synchronous Node with no package imports, so the one-file broker can bundle it;
 * LocalHost uses the same functions (its internal/ProcScan.ts re-exports them and shares scans
 * between fibers). Without `/proc`, start times are 0, no marker is ever found and groups are
 * checked with kill(2) alone.
 */
import * as fs from "node:fs"
import { markerVariable } from "./FrameCodec.js"

export interface ProcStat {
  readonly state: string
  readonly pgid: number
  /** Clock ticks since boot (`/proc/<pid>/stat` field 22). */
  readonly startTime: number
  /** Kernel `PF_*` flags (field 9). */
  readonly flags: number
}

/** `PF_KTHREAD`: a kernel thread, whose environment is always empty. */
const kernelThread = 0x00200000

/** `/proc/<pid>/stat` fields the broker needs, or undefined when the process is gone. */
export const readStat = (pid: number): ProcStat | undefined => {
  let text: string
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, "latin1")
  } catch {
    return undefined
  }
  // comm (field 2) may hold spaces or parentheses: split after the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ")
  return { state: fields[0] ?? "", pgid: Number(fields[2]), startTime: Number(fields[19]), flags: Number(fields[6]) }
}

/** Zombie or dead: exited (a zombie lingers until its parent or init reaps it). */
export const hasExited = (stat: ProcStat) => stat.state === "Z" || stat.state === "X" || stat.state === "x"

const environBuffer = Buffer.allocUnsafe(256 * 1024)

/** `/proc/<pid>/environ`, or undefined when unreadable (another user's process, gone); reuses one 256 KiB buffer. */
export const readEnviron = (pid: number): Buffer | undefined => {
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

const markerPrefix = Buffer.from(`${markerVariable}=`)

/** The value of the `TROUPE_LEAF_ID` entry of an environment block, if any. */
export const markerOf = (environ: Buffer): string | undefined => {
  for (let at = environ.indexOf(markerPrefix); at >= 0; at = environ.indexOf(markerPrefix, at + 1)) {
    if (at !== 0 && environ[at - 1] !== 0) continue
    const start = at + markerPrefix.length
    const end = environ.indexOf(0, start)
    return environ.toString("latin1", start, end < 0 ? environ.length : end)
  }
  return undefined
}

/** One pass over /proc: live processes' stats and the pids carrying each marker. */
export interface ProcSnapshot {
  readonly stats: ReadonlyMap<number, ProcStat>
  readonly byMarker: ReadonlyMap<string, ReadonlyArray<number>>
  /**
   * Live user processes whose environment read back empty. A process in the middle of
   * execve(2) shows an empty environment until the new program's stack is set up, so one of
   * these may be a marked escapee (e.g. `setsid sleep` just after setsid) that a later read
   * will show; a process started with an empty environment stays here.
   */
  readonly blank: ReadonlyArray<number>
}

/** Reads /proc once (about 10-15 µs per process), skipping this process, zombies and unreadable entries. */
export const scanProc = (): ProcSnapshot => {
  const stats = new Map<number, ProcStat>()
  const byMarker = new Map<string, Array<number>>()
  const blank: Array<number> = []
  let names: Array<string> = []
  try {
    names = fs.readdirSync("/proc")
  } catch {
    // no /proc: markers cannot be found; groups are checked with kill(2) alone
  }
  for (const name of names) {
    const first = name.charCodeAt(0)
    if (first < 48 || first > 57) continue
    const pid = Number(name)
    if (pid === process.pid) continue
    const stat = readStat(pid)
    if (stat === undefined || hasExited(stat)) continue
    stats.set(pid, stat)
    const environ = readEnviron(pid)
    if (environ !== undefined && environ.length === 0 && (stat.flags & kernelThread) === 0) blank.push(pid)
    const marker = environ === undefined ? undefined : markerOf(environ)
    if (marker === undefined) continue
    const list = byMarker.get(marker)
    if (list === undefined) byMarker.set(marker, [pid])
    else list.push(pid)
  }
  return { stats, byMarker, blank }
}

/** What a sweep kills: a leaf's group and the carriers of its marker. */
export interface SweepTarget {
  readonly pid: number
  readonly pgid: number
  readonly startTime: number
  readonly marker: string
  /**
   * Reaping a dead owner's leaf: the group counts only while one of its live members is
   * verified (the leader with its recorded start time, or a marked process).
   */
  readonly verifyGroup: boolean
}

/** What is left of a leaf. */
export interface Survivors {
  /** Its process group has a live (and, with `verifyGroup`, verified) member. */
  readonly group: boolean
  /** Live processes carrying its marker, group members included. */
  readonly marked: ReadonlyArray<number>
  /**
   * Processes started since the leaf whose environment read back empty (see
   * {@link ProcSnapshot.blank}): not signalled, but a sweep re-reads until they show their
   * environment or exit before it concludes that nothing is left.
   */
  readonly unsettled: ReadonlyArray<number>
}

export const errorCode = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null && "code" in error && typeof error.code === "string" ? error.code : undefined

/** True when the process group `pgid` has a live member (kill(2) alone also counts zombies). */
export const groupAlive = (pgid: number, snapshot: ProcSnapshot): boolean => {
  try {
    process.kill(-pgid, 0)
  } catch (error) {
    if (errorCode(error) === "ESRCH") return false
  }
  for (const stat of snapshot.stats.values()) if (stat.pgid === pgid) return true
  return false
}

/** A live member of the target's group is the verified leader or a marked process. */
const verifiedGroupAlive = (target: SweepTarget, marked: ReadonlyArray<number>, snapshot: ProcSnapshot): boolean => {
  const markedSet = new Set(marked)
  for (const [pid, stat] of snapshot.stats) {
    if (stat.pgid !== target.pgid) continue
    if (markedSet.has(pid) || (pid === target.pid && stat.startTime === target.startTime)) return true
  }
  return false
}

export const survivorsIn = (target: SweepTarget, snapshot: ProcSnapshot): Survivors => {
  const marked = snapshot.byMarker.get(target.marker) ?? []
  const unsettled = snapshot.blank.filter((pid) => (snapshot.stats.get(pid)?.startTime ?? 0) >= target.startTime)
  return { group: target.verifyGroup ? verifiedGroupAlive(target, marked, snapshot) : groupAlive(target.pgid, snapshot), marked, unsettled }
}

export const noneLeft = (found: Survivors) => !found.group && found.marked.length === 0

/** Nothing is left and no process that may still turn out to be the leaf's is mid-exec. */
export const noneLeftSettled = (found: Survivors) => noneLeft(found) && found.unsettled.length === 0

/** Processes found, counting the group once unless its leader is among the marked. */
export const survivorCount = (target: SweepTarget, found: Survivors) =>
  found.marked.length + (found.group && !found.marked.includes(target.pid) ? 1 : 0)

export const sendSignal = (target: number, signal: NodeJS.Signals): void => {
  try {
    process.kill(target, signal)
  } catch {
    // ESRCH: gone already; EPERM: a member changed credentials, nothing more we may do.
  }
}

/**
 * Signals what survives. Only two kinds of target ever are: the group (checked live just
 * before) and pids whose environment carries the leaf's unique marker (re-read just before).
 */
export const signalSurvivors = (target: SweepTarget, found: Survivors, signal: NodeJS.Signals): void => {
  if (found.group) sendSignal(-target.pgid, signal)
  for (const pid of found.marked) sendSignal(pid, signal)
}
