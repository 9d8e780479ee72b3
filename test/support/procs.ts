import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"

/** Pids of live processes whose environment carries `NAME=value` (scans /proc). */
export const pidsWithEnv = (name: string, value: string): Array<number> => {
  const needle = `${name}=${value}`
  const out: Array<number> = []
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const env = readFileSync(`/proc/${entry}/environ`, "latin1").split("\0")
      if (!env.includes(needle)) continue
      const stat = readFileSync(`/proc/${entry}/stat`, "latin1")
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3)
      if (state !== "Z") out.push(Number(entry))
    } catch {
      // gone or not ours
    }
  }
  return out
}

/** A unique token for tagging a test's processes. */
export const token = () => `t${process.pid}-${Math.random().toString(36).slice(2)}`

/** Whether process `pid` exists (signal 0). */
export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The pid in `home`'s `daemon.pid` (throws when the file is missing). */
export const daemonPid = (home: string): number => Number(readFileSync(join(home, "daemon.pid"), "utf8").trim())
