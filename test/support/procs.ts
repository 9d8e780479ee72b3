import { readdirSync, readFileSync } from "node:fs"

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
