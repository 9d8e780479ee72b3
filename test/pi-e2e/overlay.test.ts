/**
 * `/troupe`'s inspector overlay and the widget in a real Pi TUI, driven in `tmux` (send-keys,
 * capture-pane): a spawned run and its room post show in the widget above the editor; `/troupe`
 * opens the overlay with the run, Enter inspects it, Esc closes the panel and then the
 * overlay; Pi keeps working and exits cleanly.
 */
import { execFileSync } from "node:child_process"
import { randomInt } from "node:crypto"
import { rmSync } from "node:fs"
import { afterAll, describe, expect, it } from "vitest"
import { eventually, fauxExtension, makeWorld, pidsWithArgv, piArgs, script, troupe, troupeExtension, type World } from "./support.js"

const hasTmux = (() => {
  try {
    execFileSync("tmux", ["-V"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()

describe.skipIf(!hasTmux && process.env.CI !== "true")("/troupe in Pi's TUI", () => {
  const world: World = makeWorld("overlay")
  const sleepArgv = ["sleep", `299.${randomInt(100_000, 999_999)}`]
  // Its own tmux server (socket name), so nothing touches the user's sessions.
  const server = `troupe-pi-overlay-${process.pid}`
  const tmux = (...args: ReadonlyArray<string>) => execFileSync("tmux", ["-L", server, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
  const pane = () => tmux("capture-pane", "-p", "-t", "pi")
  const waitPane = async (what: string, check: (screen: string) => boolean) => {
    let screen = ""
    if (!(await eventually(() => check(screen = pane()), 30_000))) throw new Error(`Pi never showed ${what}; last screen:\n${screen}`)
    return screen
  }
  const type = (text: string) => {
    tmux("send-keys", "-t", "pi", "-l", text)
    tmux("send-keys", "-t", "pi", "Enter")
  }

  afterAll(() => {
    try {
      tmux("kill-server")
    } catch {
      // already gone
    }
    troupe(world, "daemon", "stop")
    for (const pid of pidsWithArgv(sleepArgv)) process.kill(pid, "SIGKILL")
    rmSync(world.dir, { recursive: true, force: true })
  })

  it("the widget shows a room post; the overlay shows the run, inspects it and closes with Esc", async () => {
    const env = Object.entries({ ...world.env, TERM: "xterm-256color" }).map(([k, v]) => `${k}=${v}`)
    const argv = piArgs([], [fauxExtension, troupeExtension])
    tmux("new-session", "-d", "-s", "pi", "-x", "140", "-y", "40", "-c", world.cwd, "env", "-i", ...env, process.env.TROUPE_PI_NODE!, ...argv)
    await waitPane("the editor", (s) => s.includes("faux-1"))

    type(script([[{ name: "spawn", arguments: { template: sleepArgv.join(" ") } }]]))
    const spawned = await waitPane("the spawn result", (s) => /SCRIPT-DONE[\s\S]*spawned run:\S+/.test(s))
    const id = /SCRIPT-DONE[\s\S]*?spawned run:(\S+)/.exec(spawned)![1]!
    type(script([[{ name: "message", arguments: { to: `room:${id}`, from: `run:${id}`, type: "note", summary: "halfway there" } }]]))
    await waitPane("the widget's room post", (s) => s.includes(`room:${id} run:${id} note: halfway there`))

    expect(pane()).not.toContain("troupe · session")
    type("/troupe")
    const overlay = await waitPane("the overlay", (s) => s.includes("troupe · session") && s.includes(`> ${id}`))
    expect(overlay).toContain(`room:${id}`)
    tmux("send-keys", "-t", "pi", "Enter")
    await waitPane("the status view", (s) => s.includes(`inspect run:${id} status`) && s.includes(`run=${id} status=running`))
    tmux("send-keys", "-t", "pi", "Escape")
    await waitPane("the panel closed", (s) => !s.includes(`inspect run:${id}`) && s.includes("troupe · session"))
    tmux("send-keys", "-t", "pi", "Escape")
    await waitPane("the overlay closed", (s) => !s.includes("troupe · session"))

    // Pi still answers, and exits cleanly (its session's run is killed at shutdown).
    tmux("send-keys", "-t", "pi", "C-d")
    expect(await eventually(() => {
      try {
        tmux("has-session", "-t", "pi")
        return false
      } catch {
        return true
      }
    }, 30_000)).toBe(true)
    expect(await eventually(() => pidsWithArgv(sleepArgv).length === 0, 20_000)).toBe(true)
  })
})
