/**
 * The exec broker's process bookkeeping on Linux `/proc`: reading a process's start time and
 * group, finding processes by the per-command marker, and sweeping a command's leftovers
 * (SIGTERM, grace, SIGKILL). Plain Node (no `effect`): the broker ships as one dependency-free
 * file. Same rules as LocalHost's sweep: only the group we created (checked live just before) and
 * processes whose environment carries the command's marker are ever signalled.
 */
import * as fs from "node:fs"
import { markerVariable } from "./FrameCodec.js"

export interface ProcStat {
  readonly state: string
  readonly pgid: number
  /** Clock ticks since boot (`/proc/<pid>/stat` field 22). */
  readonly startTime: number
}

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
  return { state: fields[0] ?? "", pgid: Number(fields[2]), startTime: Number(fields[19]) }
}

const exited = (stat: ProcStat) => stat.state === "Z" || stat.state === "X" || stat.state === "x"

const environBuffer = Buffer.allocUnsafe(256 * 1024)

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

const markerPrefix = Buffer.from(`${markerVariable}=`)

const markerIn = (environ: Buffer): string | undefined => {
  for (let at = environ.indexOf(markerPrefix); at >= 0; at = environ.indexOf(markerPrefix, at + 1)) {
    if (at !== 0 && environ[at - 1] !== 0) continue
    const start = at + markerPrefix.length
    const end = environ.indexOf(0, start)
    return environ.toString("latin1", start, end < 0 ? environ.length : end)
  }
  return undefined
}

/** One pass over /proc: live processes' stats and the pids carrying each marker. */
export interface Snapshot {
  readonly stats: ReadonlyMap<number, ProcStat>
  readonly byMarker: ReadonlyMap<string, ReadonlyArray<number>>
}

export const scan = (): Snapshot => {
  const stats = new Map<number, ProcStat>()
  const byMarker = new Map<string, Array<number>>()
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
    if (stat === undefined || exited(stat)) continue
    stats.set(pid, stat)
    const environ = readEnviron(pid)
    const marker = environ === undefined ? undefined : markerIn(environ)
    if (marker === undefined) continue
    const list = byMarker.get(marker)
    if (list === undefined) byMarker.set(marker, [pid])
    else list.push(pid)
  }
  return { stats, byMarker }
}

/** What a sweep kills: a command's group and the carriers of its marker. */
export interface Target {
  readonly pid: number
  readonly pgid: number
  readonly startTime: number
  readonly marker: string
  /**
   * Reaping a dead owner's command: the group counts only while one of its live members is
   * verified (the leader with its recorded start time, or a marked process).
   */
  readonly verifyGroup: boolean
}

export interface Survivors {
  readonly group: boolean
  readonly marked: ReadonlyArray<number>
}

const errno = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null && "code" in error && typeof error.code === "string" ? error.code : undefined

export const survivors = (target: Target, snapshot: Snapshot = scan()): Survivors => {
  const marked = snapshot.byMarker.get(target.marker) ?? []
  let group = false
  if (target.verifyGroup) {
    const markedSet = new Set(marked)
    for (const [pid, stat] of snapshot.stats) {
      if (stat.pgid !== target.pgid) continue
      if (markedSet.has(pid) || (pid === target.pid && stat.startTime === target.startTime)) group = true
    }
  } else {
    let maybe = true
    try {
      process.kill(-target.pgid, 0)
    } catch (error) {
      if (errno(error) === "ESRCH") maybe = false
    }
    if (maybe) for (const stat of snapshot.stats.values()) if (stat.pgid === target.pgid) group = true
  }
  return { group, marked }
}

export const noneLeft = (found: Survivors) => !found.group && found.marked.length === 0

const send = (target: number, signal: NodeJS.Signals) => {
  try {
    process.kill(target, signal)
  } catch {
    // ESRCH: gone already; EPERM: a member changed credentials, nothing more we may do.
  }
}

const signalSurvivors = (target: Target, found: Survivors, signal: NodeJS.Signals) => {
  if (found.group) send(-target.pgid, signal)
  for (const pid of found.marked) send(pid, signal)
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Polls every 25 ms until nothing of `target` is left or `withinMs` has passed. */
const awaitGone = async (target: Target, withinMs: number): Promise<Survivors> => {
  const deadline = performance.now() + withinMs
  for (;;) {
    const found = survivors(target)
    if (noneLeft(found) || performance.now() >= deadline) return found
    await sleep(25)
  }
}

/**
 * Kills what is left of a command: up to 3 rounds of SIGTERM to the group and marked
 * processes, up to `graceMs`, then SIGKILL and up to 1 s for the kernel. Resolves with the
 * number of processes found in the first round (0: nothing was left, nothing signalled) and
 * whether everything is gone.
 */
export const sweep = async (target: Target, graceMs: number): Promise<{ readonly found: number; readonly clean: boolean }> => {
  let found = 0
  for (let round = 0; round < 3; round++) {
    const left = survivors(target)
    if (noneLeft(left)) return { found, clean: true }
    if (round === 0) found = left.marked.length + (left.group && !left.marked.includes(target.pid) ? 1 : 0)
    signalSurvivors(target, left, "SIGTERM")
    const afterTerm = await awaitGone(target, graceMs)
    if (noneLeft(afterTerm)) continue
    signalSurvivors(target, afterTerm, "SIGKILL")
    await awaitGone(target, 1000)
  }
  return { found, clean: noneLeft(survivors(target)) }
}
