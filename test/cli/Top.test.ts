/**
 * `troupe top` through the built CLI against a real daemon (issue 19, item 1): a daemon with a
 * live run, a finished one, a killed one and a room post. `top --once` prints them as one
 * plain frame; the interactive view runs in `tmux` (send-keys / capture-pane): the frame shows
 * them, a run spawned and a post made while it runs appear without a refresh (`--interval 1h`:
 * the daemon's change feed redraws), j/k move the selection, Enter inspects, K + y kills the
 * selected run, / filters, l follows logs, and q exits 0 with the shell's screen back. With stdout a pipe it prints plain
 * frames, again when something changes. Every wait polls for a positive signal, bounded.
 */
import { execFileSync, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { output, pollUntil, run, troupeBin, troupeBinPath } from "../support/exec.js"

const hasTmux = (() => {
  try {
    execFileSync("tmux", ["-V"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()

// CI installs tmux (.ci/run); elsewhere the interactive part needs it on PATH.
describe.skipIf(!hasTmux && process.env.CI !== "true")("troupe top", () => {
  const dir = mkdtempSync(join(tmpdir(), "troupe-cli-top-"))
  const home = join(dir, "home")
  const env = { ...process.env, TROUPE_HOME: home, TROUPE_SESSION: "top", NO_COLOR: "1" }
  const troupe = (...args: ReadonlyArray<string>) => troupeBin(args, { env })
  // Its own tmux server (socket name), so nothing touches the user's sessions.
  const server = `troupe-top-${process.pid}`
  const tmux = (...args: ReadonlyArray<string>) => output("tmux", ["-L", server, ...args], { env })
  const pane = () => tmux("capture-pane", "-p", "-t", "top")
  /** Polls the pane until `check` holds (10 s bound); returns the last capture. */
  const waitPane = async (what: string, check: (screen: string) => boolean) => {
    let screen = ""
    const ok = await pollUntil(async () => check(screen = await pane()), 10_000)
    if (!ok) throw new Error(`top never showed ${what}; last screen:\n${screen}`)
    return screen
  }
  const selectedLine = (screen: string) => screen.split("\n").find((l) => l.startsWith(">")) ?? ""

  afterAll(async () => {
    await run("tmux", ["-L", server, "kill-server"])
    await troupe("daemon", "stop")
    rmSync(dir, { recursive: true, force: true })
  })

  it("shows runs, rooms and a killed run; selects, inspects, kills with confirmation and quits cleanly", async () => {
    expect((await troupe("spawn", "--as", "sleeper", "--template", "sleep 300")).code).toBe(0)
    expect((await troupe("spawn", "--as", "worker", "--template", "sleep 300")).code).toBe(0)
    expect((await troupe("spawn", "--as", "victim", "--template", "sleep 300")).code).toBe(0)
    expect((await troupe("spawn", "--as", "quick", "--template", "echo hi")).code).toBe(0)
    expect((await troupe("wait", "run:quick", "--timeout", "30s")).code).toBe(0)
    expect((await troupe("kill", "run:victim")).code).toBe(0)
    const posted = await troupe("message", "--to", "room:sleeper", "--type", "note.posted", "--from", "coordinator", "--summary", "round 2 started", "--body", "round 2")
    expect(posted.code, posted.stderr).toBe(0)

    // --once: one plain frame, exit 0.
    const once = await troupe("top", "--once")
    expect(once.code, once.stderr).toBe(0)
    expect(once.stdout).toMatch(/^troupe top · session top · 4 runs \(2 active\)/)
    expect(once.stdout).toMatch(/\n {2}sleeper +running /)
    expect(once.stdout).toMatch(/\n {2}victim +killed /)
    expect(once.stdout).toMatch(/\n {2}quick +done /)
    expect(once.stdout).toContain("room:sleeper  2 members")
    expect(once.stdout).toContain("coordinator note.posted: round 2 started")
    expect(once.stdout).not.toContain("\x1b[")

    // Interactive, in tmux.
    const command = `${process.execPath} ${troupeBinPath} top --interval 1h; echo "TOP-EXITED $?"; sleep 600`
    await tmux("new-session", "-d", "-s", "top", "-x", "150", "-y", "30", "-e", `TROUPE_HOME=${home}`, "-e", "TROUPE_SESSION=top", command)
    let screen = await waitPane("the runs", (s) => s.includes("victim") && s.includes("room:sleeper") && s.includes("q quit"))
    expect(screen).toMatch(/victim +killed/)
    expect(screen).toMatch(/quick +done/)
    expect(screen).toContain("coordinator note.posted: round 2 started")
    // Live runs first, newest first: victim was killed, so worker then sleeper.
    expect(selectedLine(screen)).toMatch(/^> worker +running/)

    // Changes arrive through the change feed (the periodic refresh is an hour away).
    expect(screen).not.toContain("latecomer")
    expect((await troupe("spawn", "--as", "latecomer", "--template", "echo late")).code).toBe(0)
    await waitPane("the new run", (s) => /latecomer +done/.test(s))
    expect((await troupe("message", "--to", "room:sleeper", "--type", "note.posted", "--from", "coordinator", "--summary", "round 3 started")).code).toBe(0)
    await waitPane("the new post", (s) => s.includes("coordinator note.posted: round 3 started"))
    expect(selectedLine(await pane())).toMatch(/^> worker +running/)

    await tmux("send-keys", "-t", "top", "j")
    await waitPane("sleeper selected", (s) => /^> sleeper +running/.test(selectedLine(s)))
    await tmux("send-keys", "-t", "top", "k")
    await waitPane("worker selected again", (s) => /^> worker +running/.test(selectedLine(s)))
    await tmux("send-keys", "-t", "top", "Down")
    await waitPane("sleeper selected by arrow", (s) => /^> sleeper +running/.test(selectedLine(s)))

    await tmux("send-keys", "-t", "top", "Enter")
    screen = await waitPane("the inspect panel", (s) => s.includes("── inspect run:sleeper status") && s.includes("run=sleeper status=running"))
    await tmux("send-keys", "-t", "top", "Escape")
    await waitPane("the panel closed", (s) => !s.includes("── inspect"))

    await tmux("send-keys", "-t", "top", "K")
    await waitPane("the kill question", (s) => s.includes("kill run:sleeper? y = kill"))
    // Anything but y cancels.
    await tmux("send-keys", "-t", "top", "n")
    await waitPane("the cancel", (s) => s.includes("kill cancelled"))
    expect(selectedLine(await pane())).toMatch(/sleeper +running/)
    await tmux("send-keys", "-t", "top", "K")
    await waitPane("the kill question again", (s) => s.includes("kill run:sleeper? y = kill"))
    await tmux("send-keys", "-t", "top", "y")
    screen = await waitPane("sleeper killed", (s) => /sleeper +killed/.test(s))
    const ps = await troupe("ps", "--json")
    const states = Object.fromEntries((JSON.parse(ps.stdout) as ReadonlyArray<{ id: string; state: string }>).map((r) => [r.id, r.state]))
    expect(states).toMatchObject({ sleeper: "killed", worker: "running", victim: "killed", quick: "done" })


    // `/` filters, `l` follows the selected run's stdout, Esc closes, `/` + Esc clears.
    expect((await troupe("spawn", "--as", "talker", "--template", "sh -c 'echo talker-line-1; sleep 300'")).code).toBe(0)
    await waitPane("the talker", (s) => /talker +running/.test(s))
    await tmux("send-keys", "-t", "top", "/")
    await waitPane("the filter prompt", (s) => s.includes("filter: "))
    await tmux("send-keys", "-t", "top", "-l", "talk")
    await waitPane("the typed filter", (s) => s.includes("filter: talk"))
    await tmux("send-keys", "-t", "top", "Enter")
    screen = await waitPane("the filtered list", (s) => s.includes('filter "talk" (1 shown)'))
    expect(screen).not.toMatch(/worker +running/)
    expect(selectedLine(screen)).toMatch(/^> talker +running/)
    await tmux("send-keys", "-t", "top", "l")
    await waitPane("the talker's output", (s) => s.includes("── logs run:talker") && s.includes("talker-line-1"))
    await tmux("send-keys", "-t", "top", "Escape")
    await waitPane("the logs closed", (s) => !s.includes("── logs"))
    await tmux("send-keys", "-t", "top", "/")
    await waitPane("the filter prompt again", (s) => s.includes("filter: talk"))
    await tmux("send-keys", "-t", "top", "Escape")
    await waitPane("every run again", (s) => /worker +running/.test(s) && !s.includes('filter "talk"'))

    await tmux("send-keys", "-t", "top", "q")
    screen = await waitPane("top exiting", (s) => s.includes("TOP-EXITED"))
    expect(screen).toContain("TOP-EXITED 0")
    // The main screen is back: the view's lines are gone from it.
    expect(screen).not.toContain("q quit")
  }, 60_000)

  it("prints plain frames when stdout is not a terminal, again when a run changes", async () => {
    const child = spawn(process.execPath, [troupeBinPath, "top", "--interval", "1h"], { env, stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    child.stdout.setEncoding("utf8").on("data", (t: string) => (out += t))
    const closed = new Promise<void>((resolve) => child.once("close", () => resolve()))
    try {
      expect(await pollUntil(() => /\n {2}worker +running/.test(out), 10_000), out).toBe(true)
      expect(out).not.toContain("\x1b[")
      expect(out).not.toContain("piped")
      expect((await troupe("spawn", "--as", "piped", "--template", "echo piped")).code).toBe(0)
      expect(await pollUntil(() => /\n {2}piped +done/.test(out), 10_000), out).toBe(true)
      // Two frames at least: the first, and the one after the change.
      expect(out.split("troupe top · session top").length - 1).toBeGreaterThanOrEqual(2)
    } finally {
      child.kill("SIGTERM")
      await closed
    }
  }, 30_000)
})
