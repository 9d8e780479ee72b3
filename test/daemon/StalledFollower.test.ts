/**
 * One stalled client never blocks the daemon (issue 18, problem 2): `troupe logs --follow`
 * suspended (SIGSTOP, as Ctrl-Z) while its run is chatty → `daemon stop` still exits 0 within
 * its deadline, the run's processes are gone, the store is free for the next command, and the
 * daemon's memory stays bounded meanwhile.
 */
import { spawn } from "node:child_process"
import { readFileSync, statSync } from "node:fs"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { pollUntil, troupeBin, troupeBinPath } from "../support/exec.js"
import { scratch } from "../support/graph.js"
import { processAlive } from "../../src/daemon/Client.js"
import { daemonPid, pidsWithEnv } from "../support/procs.js"

const homes: Array<string> = []
const env = (home: string) => ({ ...process.env, TROUPE_HOME: home, NO_COLOR: "1", TROUPE_SESSION: "", TROUPE_TOKEN: "", TROUPE_KILL_GRACE_MS: "300" })
const troupe = (home: string, args: ReadonlyArray<string>) => troupeBin(args, { env: env(home), timeout: 60_000 })

const freshHome = () => {
  const home = join(scratch("troupe-stall-"), "home")
  homes.push(home)
  return home
}

afterEach(async () => {
  for (const home of homes.splice(0)) await troupe(home, ["daemon", "stop"])
})

/** Resident memory of `pid`, bytes. */
const rss = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024

const size = (file: string) => {
  try {
    return statSync(file).size
  } catch {
    return 0
  }
}

describe("a stalled follower", () => {
  it("never blocks daemon stop, and the daemon's memory stays bounded while it is stopped", async () => {
    const home = freshHome()
    // About 2 MB/s of output: enough to fill any socket buffer, gentle on the disk.
    const chatty = "while :; do head -c 100000 /dev/zero | tr '\\0' x; echo; sleep 0.05; done"
    expect((await troupe(home, ["spawn", "--template", "sh -c {s}", `s=${chatty}`, "--as", "chatty"])).code).toBe(0)
    expect(await pollUntil(() => pidsWithEnv("TROUPE_RUN", "chatty").length > 0, 20_000)).toBe(true)
    const pid = daemonPid(home)

    const follower = spawn(process.execPath, [troupeBinPath, "logs", "run:chatty", "--follow"], { env: env(home), stdio: ["ignore", "pipe", "pipe"] })
    let received = 0
    follower.stdout.on("data", (b: Buffer) => (received += b.length))
    let stderr = ""
    follower.stderr.on("data", (b: Buffer) => (stderr += b.toString()))
    const exited = new Promise<number | null>((resolve) => follower.on("close", (code) => resolve(code)))
    try {
      // It follows (output arrives), then it is suspended.
      expect(await pollUntil(() => received > 500_000, 20_000)).toBe(true)
      follower.kill("SIGSTOP")
      const baseline = rss(pid)
      // The run goes on writing: several MB more than any socket buffer holds.
      const log = join(home, "runs", "chatty", "stdout.log")
      const at = size(log)
      expect(await pollUntil(() => size(log) > at + 8_000_000, 30_000)).toBe(true)
      // Nothing of it piles up in the daemon for the suspended follower.
      expect(rss(pid) - baseline).toBeLessThan(64 * 1024 * 1024)

      const started = Date.now()
      const stopped = await troupe(home, ["daemon", "stop"])
      expect(stopped.stderr).toBe("")
      expect(stopped.code).toBe(0)
      expect(Date.now() - started).toBeLessThan(30_000)
      // Exited (a zombie until its parent reaps it counts as exited).
      expect(processAlive(pid)).toBe(false)
      expect(pidsWithEnv("TROUPE_RUN", "chatty")).toEqual([])
      // The store is free: the next command starts a daemon that shows the run killed.
      const view = await troupe(home, ["inspect", "run:chatty"])
      expect(view.code).toBe(0)
      expect(view.stdout).toContain("status=killed")

      // Resumed, the follower ends with one line saying why.
      follower.kill("SIGCONT")
      expect(await Promise.race([exited, new Promise((r) => setTimeout(() => r("still running"), 15_000))])).toBe(1)
      expect(stderr.trim().split("\n")).toHaveLength(1)
      expect(stderr).toMatch(/^error: .*troupe daemon/)
    } finally {
      follower.kill("SIGKILL")
    }
  })
})
