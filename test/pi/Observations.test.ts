/**
 * Consistent observations through the Pi background-process tools (issue 12 item 7): what
 * `bg_start` reports is already in the run's log when the result is returned, so `bg_logs`
 * right after it shows the same lines (and possibly more, never fewer). Repeated starts
 * with different waits, and of a process that exits within the wait, so a race between the
 * log tee and the report would show.
 */
import { cpSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { install } from "../../src/pi/Adapter.js"
import { FakePiHost } from "../../src/testing/index.js"
import { Troupe } from "../../src/Troupe.js"
import { output } from "../support/exec.js"

const fixtures = join(import.meta.dirname, "..", "fixtures", "pi-actors-0.17")
const text = (r: { content: ReadonlyArray<{ text: string }> }) => r.content.map((c) => c.text).join("\n")
// 20 starts of a growing log, 10 of a process that exits within the wait.
const iterations = 20
const exiting = 10

/** The lines of a `--- <stream> … ---` section of a bg_* result (empty when absent). */
const section = (out: string, stream: "stdout" | "stderr"): ReadonlyArray<string> => {
  const lines = out.split("\n")
  const start = lines.findIndex((l) => l.startsWith(`--- ${stream}`))
  if (start < 0) return []
  const rest = lines.slice(start + 1)
  const end = rest.findIndex((l) => l === "" || l.startsWith("--- "))
  return (end < 0 ? rest : rest.slice(0, end)).filter((l) => l !== "(empty)")
}

let dir: string
let pi: FakePiHost
const userHome = process.env.HOME

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "troupe-pi-obs-"))
  // bg_start runs `bash -lc`: with the user's login profile (pyenv, nvm, … — one here takes a
  // lock that concurrent login shells wait up to 60 s for) its start-up time is anybody's
  // guess. This test is about the log, not the profile: an empty home has none.
  process.env.HOME = join(dir, "user-home")
  const recipes = join(dir, "recipes")
  cpSync(fixtures, recipes, { recursive: true })
  pi = new FakePiHost()
  const config = { home: join(dir, "home"), userRecipes: recipes, killGraceMs: 300 }
  install(pi, { actors: (session) => Troupe.layer({ ...config, session }), config, statusIntervalMs: 50 })
})

afterEach(async () => {
  await pi.shutdown()
  process.env.HOME = userHome
  rmSync(dir, { recursive: true, force: true })
})

describe("bg_logs agrees with bg_start", () => {
  it(`bg_logs right after bg_start shows every line bg_start reported (${iterations} starts)`, async () => {
    await pi.startSession("s1")
    let reported = 0
    // The check needs real reports, and `bash -lc` may take seconds to start on a busy machine:
    // the wait starts at twice what a login shell took here just now, varies a little from
    // start to start, and doubles (up to 30 s) after a start that reported nothing.
    const t0 = Date.now()
    await output("bash", ["-lc", "true"])
    let base = Math.min(30_000, 2 * (Date.now() - t0) + 200)
    for (let i = 0; i < iterations; i++) {
      // Lines keep coming while bg_start waits: its report is a snapshot of a growing log.
      const command = `i=0; while [ $i -lt 400 ]; do echo p${i}-out-$i; echo p${i}-err-$i >&2; i=$((i+1)); done; exec sleep 30`
      const started = text(await pi.call("bg_start", { id: `p${i}`, command, waitMs: base + (i % 4) * 50 }))
      const logs = text(await pi.call("bg_logs", { id: `p${i}`, last: 1000 }))
      expect(started).toContain(`Process "p${i}" started (running) as run:bg-p${i}`)
      let shown = 0
      for (const stream of ["stdout", "stderr"] as const) {
        const before = section(started, stream)
        const after = section(logs, stream)
        // The reported tail is a run of consecutive lines of the later, longer log.
        if (before.length > 0) {
          const at = after.indexOf(before[0]!)
          expect(at, `bg_logs lost ${stream} line ${before[0]} that bg_start reported`).toBeGreaterThanOrEqual(0)
          expect(after.slice(at, at + before.length)).toEqual(before)
          shown++
        }
      }
      // A process that printed has started: the report names its pid (not the spawn's "-").
      if (shown > 0) expect(started).toMatch(/\nPID: \d+\n/)
      reported += shown
      if (shown === 0) base = Math.min(30_000, base * 2)
      await pi.call("bg_stop", { id: `p${i}` })
    }
    // The check ran on real reports (a busy machine may leave some starts without output).
    expect(reported).toBeGreaterThan(0)

    // A process that exits within the wait: bg_start reports its whole output, bg_logs the same.
    for (let i = 0; i < exiting; i++) {
      const started = text(await pi.call("bg_start", { id: `q${i}`, command: `echo q${i}-ready; echo q${i}-warn >&2`, waitMs: 60_000 }))
      expect(started).toContain(`Process "q${i}" exited (code: 0)`)
      expect(section(started, "stdout")).toEqual([`q${i}-ready`])
      expect(section(started, "stderr")).toEqual([`q${i}-warn`])
      const logs = text(await pi.call("bg_logs", { id: `q${i}` }))
      expect(section(logs, "stdout")).toEqual([`q${i}-ready`])
      expect(section(logs, "stderr")).toEqual([`q${i}-warn`])
    }
  }, 240_000)
})
