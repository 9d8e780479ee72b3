/**
 * CPU and RSS of runs' process groups for `troupe top`, read from Linux `/proc` on the machine
 * the CLI runs on (the daemon's: they share its Unix socket). One scan of `/proc/<pid>/stat`
 * per refresh sums every process by process group; a run's figure is the sum over the groups
 * of its local leaves (`RunInfo.processes`, host `local` or `broker`). Processes on VMs or over
 * SSH are not counted (shown as `-`). Where `/proc` is absent the figures are empty.
 */
import { Effect } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import { isTerminal, type RunInfo } from "../../domain/Run.js"
import type { Usage } from "../../view/TopModel.js"

/** Kernel clock ticks per second of `/proc/<pid>/stat` times (USER_HZ, 100 on Linux). */
const ticksPerSecond = 100
/** Bytes per page of the `rss` field (4 KiB on the platforms troupe runs on). */
const pageBytes = 4096

/** Per process group: CPU time so far (ticks, user + system) and resident pages. */
export type GroupSample = ReadonlyMap<number, { readonly ticks: number; readonly rssPages: number }>

/** Parses one `/proc/<pid>/stat` line: its process group, CPU ticks and RSS pages. */
export const parseStat = (line: string): { pgid: number; ticks: number; rssPages: number } | undefined => {
  // `pid (comm) state ppid pgrp …`: comm may hold spaces and parentheses, fields follow the last ')'.
  const close = line.lastIndexOf(")")
  if (close < 0) return undefined
  const f = line.slice(close + 2).split(" ")
  // After comm: [0] state, [1] ppid, [2] pgrp, … [11] utime, [12] stime, … [21] rss.
  const pgid = Number(f[2])
  const ticks = Number(f[11]) + Number(f[12])
  const rssPages = Number(f[21])
  return Number.isFinite(pgid) && Number.isFinite(ticks) && Number.isFinite(rssPages) ? { pgid, ticks, rssPages } : undefined
}

/** One scan of `/proc`: every process summed by process group (empty without `/proc`). */
export const sampleGroups: Effect.Effect<GroupSample> = Effect.sync(() => {
  const out = new Map<number, { ticks: number; rssPages: number }>()
  let pids: Array<string>
  try {
    pids = readdirSync("/proc").filter((n) => /^\d+$/.test(n))
  } catch {
    return out
  }
  for (const pid of pids) {
    let line: string
    try {
      line = readFileSync(`/proc/${pid}/stat`, "utf8")
    } catch {
      continue // exited between the listing and the read
    }
    const s = parseStat(line)
    if (s === undefined) continue
    const g = out.get(s.pgid)
    if (g === undefined) out.set(s.pgid, { ticks: s.ticks, rssPages: s.rssPages })
    else out.set(s.pgid, { ticks: g.ticks + s.ticks, rssPages: g.rssPages + s.rssPages })
  }
  return out
})

/** Hosts whose process groups live on this machine. */
const localHosts = new Set(["local", "broker"])

/**
 * Each live run's usage between two samples `elapsedMs` apart: CPU percent of one core
 * (ticks spent in its groups over the interval; 0 on the first sample) and RSS bytes now.
 * Runs without a local process group in `current` are left out.
 */
export const usageOf = (runs: ReadonlyArray<RunInfo>, previous: GroupSample | undefined, current: GroupSample, elapsedMs: number): Map<string, Usage> => {
  const out = new Map<string, Usage>()
  for (const r of runs) {
    // An ended run's groups are gone; their ids may belong to someone else by now.
    if (isTerminal(r.state)) continue
    let ticks = 0
    let rss = 0
    let found = false
    const groups = new Set(r.processes.filter((p) => localHosts.has(p.host)).map((p) => p.pgid))
    for (const pgid of groups) {
      const now = current.get(pgid)
      if (now === undefined) continue
      found = true
      rss += now.rssPages
      const before = previous?.get(pgid)
      if (before !== undefined) ticks += Math.max(0, now.ticks - before.ticks)
    }
    if (!found) continue
    const cpuPct = previous === undefined || elapsedMs <= 0 ? 0 : (ticks / ticksPerSecond) * 1000 / elapsedMs * 100
    out.set(r.id, { cpuPct, rssBytes: rss * pageBytes })
  }
  return out
}
