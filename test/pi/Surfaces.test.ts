/**
 * Pi's `/troupe` inspector overlay and the widget (src/pi/Surfaces.ts, Inspector.ts,
 * Widget.ts) against the fake Pi host and the real in-process runtime: the overlay shows the
 * session's runs and rooms, Enter inspects, Esc closes; the widget shows the latest room post
 * and a direct-message preview in a bounded number of lines; without an overlay (RPC, print)
 * `/troupe` stays the text summary.
 */
import { cpSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { install } from "../../src/pi/Adapter.js"
import { widgetKey, widgetMaxLines } from "../../src/pi/Widget.js"
import { Troupe } from "../../src/Troupe.js"
import { FakePiHost } from "../../src/testing/index.js"
import { pollUntil } from "../support/exec.js"

const fixtures = join(import.meta.dirname, "..", "fixtures", "pi-actors-0.17")

const until = async (check: () => boolean, what: string, timeoutMs = 10_000) => {
  if (!(await pollUntil(check, timeoutMs))) throw new Error(`${what}: not within ${timeoutMs} ms`)
}

let dir: string
let pi: FakePiHost

const runIdOf = (r: { details: unknown }) => String((r.details as { address: string }).address).replace(/^run:/, "")

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "troupe-pi-surfaces-"))
  const home = join(dir, "home")
  const recipes = join(dir, "recipes")
  cpSync(fixtures, recipes, { recursive: true })
  pi = new FakePiHost()
  const config = { home, userRecipes: recipes, killGraceMs: 300 }
  install(pi, { actors: (session) => Troupe.layer({ ...config, session }), config, statusIntervalMs: 50 })
})

afterEach(async () => {
  await pi.shutdown()
  rmSync(dir, { recursive: true, force: true })
})

const ENTER = "\r"
const ESC = "\x1b"

describe("/troupe inspector overlay (TUI mode)", () => {
  it("shows runs and rooms; Enter inspects the selected run; Esc closes the panel, then the overlay", async () => {
    await pi.startSession("s1", { mode: "tui" })
    const id = runIdOf(await pi.call("spawn", { template: "sleep 30" }))
    await pi.call("message", { to: `room:${id}`, from: `run:${id}`, type: "note", summary: "halfway there" })

    expect(pi.overlay).toBeUndefined()
    const command = pi.command("troupe")
    await until(() => pi.overlay !== undefined, "overlay shown")
    const overlay = pi.overlay!
    const frame = () => overlay.render(160).join("\n")
    expect(frame()).toContain("troupe · session s1")
    expect(frame()).toContain(id)
    expect(frame()).toContain(`room:${id}`)
    expect(frame()).toContain("halfway there")
    // Lines fit the width Pi gives.
    expect(overlay.render(60).every((l) => l.length <= 60)).toBe(true)

    overlay.press(ENTER)
    expect(frame()).toContain(`inspect run:${id} status`)
    // The panel shows `…` until the answer arrives.
    await until(() => !overlay.render(160).includes("…"), "status text")
    expect(frame()).toContain("running")

    overlay.press(ESC)
    expect(frame()).not.toContain(`inspect run:${id}`)
    expect(overlay.closed()).toBe(false)
    overlay.press(ESC)
    expect(overlay.closed()).toBe(true)
    await command
    expect(pi.overlay).toBeUndefined()
    // The overlay replaced the text summary.
    expect(pi.notifications.some((n) => n.message.startsWith("troupe: "))).toBe(false)
  })

  it("q closes it too, and it follows the session: a run spawned while it is open appears", async () => {
    await pi.startSession("s1", { mode: "tui" })
    const first = runIdOf(await pi.call("spawn", { template: "sleep 30" }))
    const command = pi.command("troupe")
    await until(() => pi.overlay !== undefined, "overlay shown")
    const overlay = pi.overlay!
    expect(overlay.render(160).join("\n")).toContain(first)
    const second = runIdOf(await pi.call("spawn", { template: "sleep 30" }))
    await until(() => overlay.render(160).join("\n").includes(second), "second run shown")
    overlay.press("q")
    await command
    expect(overlay.closed()).toBe(true)
  })
})

describe("/troupe without an overlay", () => {
  it("RPC mode keeps the text summary", async () => {
    await pi.startSession("s1")
    const id = runIdOf(await pi.call("spawn", { template: "sleep 30" }))
    await pi.command("troupe")
    expect(pi.overlays).toHaveLength(0)
    const summary = pi.notifications.find((n) => n.message.startsWith("troupe: 1 run(s)"))
    expect(summary?.message).toContain(`run:${id} running`)
  })

  it("print mode keeps the text summary and shows no widget", async () => {
    await pi.startSession("s1", { mode: "print" })
    await pi.call("spawn", { template: "sleep 30" })
    await pi.command("troupe")
    expect(pi.overlays).toHaveLength(0)
    expect(pi.notifications.some((n) => n.message.startsWith("troupe: 1 run(s)"))).toBe(true)
    expect(pi.widgetUpdates).toHaveLength(0)
  })
})

describe("the widget", () => {
  it("shows the latest room post and a direct-message preview, bounded in lines; cleared at shutdown", async () => {
    await pi.startSession("s1")
    const id = runIdOf(await pi.call("spawn", { template: "sleep 30" }))
    const widget = () => pi.widgets.get(widgetKey) ?? []

    await pi.call("message", { to: `room:${id}`, from: `run:${id}`, type: "note", summary: "first post" })
    await pi.call("message", { to: `room:${id}`, from: `run:${id}`, type: "note", summary: "latest post" })
    await until(() => widget().some((l) => l.includes("latest post")), "room post in the widget")
    expect(widget().find((l) => l.includes("latest post"))).toBe(`room:${id} run:${id} note: latest post`)

    await pi.call("message", { to: "session:s1", from: `run:${id}`, type: "question", summary: "which branch should I use?" })
    await until(() => widget().some((l) => l.startsWith("✉ ")), "message preview in the widget")
    expect(widget()).toContain(`✉ run:${id} question: which branch should I use?`)

    for (let i = 0; i < 8; i++) {
      await pi.call("message", { to: "session:s1", from: `run:${id}`, type: "note", summary: `update ${i} ${"x".repeat(200)}` })
      await pi.call("message", { to: `room:${id}`, from: `run:${id}`, type: "note", summary: `room ${i}` })
    }
    await until(() => widget().some((l) => l.includes("update 7")) && widget().some((l) => l.includes("room 7")), "newest previews")
    for (const lines of pi.widgetUpdates.map((u) => u.lines ?? [])) {
      expect(lines.length).toBeLessThanOrEqual(widgetMaxLines)
      for (const l of lines) expect(l.length).toBeLessThanOrEqual(120)
    }
    expect(widget().some((l) => l.includes("first post"))).toBe(false)

    await pi.shutdown()
    expect(pi.widgets.has(widgetKey)).toBe(false)
  })
})

describe("the widget's swarm and lieutenant lines", () => {
  it("a worker and a lieutenant show with their status; a failed worker shows as failed", async () => {
    await pi.startSession("s1")
    const widget = () => pi.widgets.get(widgetKey) ?? []
    const worker = (label: string) => ({ troupe_swarm_worker: { swarm: "crew", label, vm_id: null } })
    await pi.call("spawn", { template: "sleep 30", values: worker("alpha") })
    await pi.call("spawn", { template: "sh -c 'sleep 1; exit 3'", values: worker("beta") })
    const lieutenant = await pi.call("spawn", {
      template: "sleep 30",
      values: { troupe_lieutenant: { name: "scout", role: "reviewer", system_prompt: null, model: null, placement: "local", vm_id: null } }
    })
    await until(() => widget().includes("swarm crew: ▷alpha idle · ▷beta idle") && widget().includes("lieutenants: ▷scout idle"), "team lines")
    await until(() => widget().includes("swarm crew: ▷alpha idle · ✗beta failed"), "the failed worker")
    expect(widget()).toContain("lieutenants: ▷scout idle")
    // Lieutenants outlive the session (shutdown keeps them): this one is stopped here, and
    // stays listed as stopped (a kill the session asked for sends no event).
    await pi.call("message", { to: `run:${runIdOf(lieutenant)}`, type: "control.kill" })
    await until(() => widget().includes("lieutenants: ■scout stopped"), "the stopped lieutenant")
  })
})
