/**
 * troupe's Pi adapter (`dist/src/pi/index.js`) inside a real Pi, next to the faux model:
 * - rpc mode: `spawn` on a recipe names `run:<id>`; its completion comes back as a `troupe-run`
 *   follow-up the model reads and answers; closing the session kills what is still running;
 * - print mode: `spawn` says completion will not be reported;
 * - plan mode: while `/plan` is on, a `write` call is refused and `plan_write` keeps the plan;
 * - an unmodified pi-actors 0.17 recipe folder (test/fixtures/pi-actors-0.17) becomes tools;
 * - `pi install <this repo>` loads the adapter through the package's `pi` manifest.
 * All tests share one scratch world (one TROUPE_HOME, hence one daemon, stopped at the end);
 * each Pi process is its own session and runs are checked per session id.
 */
import { randomInt } from "node:crypto"
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  eventually,
  fauxExtension,
  type Json,
  makeWorld,
  messageText,
  pidsWithArgv,
  pi as piCommand,
  PiRpc,
  piPrint,
  script,
  troupe,
  troupeExtension,
  type World
} from "./support.js"

const fixtures = join(process.cwd(), "test/fixtures/pi-actors-0.17")
const extensions = [fauxExtension, troupeExtension]

/** The first `run:<id>` a tool result names. */
const runIdIn = (text: string): string => {
  const m = /run:([A-Za-z0-9._-]+)/.exec(text)
  if (m === null) throw new Error(`no run:<id> in ${JSON.stringify(text)}`)
  return m[1]!
}

/** The `tool_execution_end` of the scripted call `e2e-<step>-<index>` (see faux-extension.ts). */
const toolEnd = (pi: PiRpc, step: number, index: number): Json => {
  const end = pi.records.find((r) => r.type === "tool_execution_end" && r.toolCallId === `e2e-${step}-${index}`)
  if (end === undefined) throw new Error(`no tool_execution_end for e2e-${step}-${index}`)
  return end
}

describe("troupe's Pi adapter in a real Pi", () => {
  // A sleep nobody else runs: its argv identifies this test's long-running actor in /proc.
  const sleepArgv = ["sleep", `299.${randomInt(100_000, 999_999)}`]
  // Made in beforeAll: a suite skipped by `-t` runs no hooks, so nothing would remove it.
  let world: World
  let words: string

  beforeAll(() => {
    world = makeWorld("adapter")
    words = join(world.dir, "words.txt")
    cpSync(fixtures, world.recipes, { recursive: true })
    writeFileSync(words, `${"word ".repeat(1234)}\n`)
  })

  /** Run id → state of a Pi session's runs, as `troupe ps --session <id> --json` reports them. */
  const states = (sessionId: string): Map<string, string> => {
    const r = troupe(world, "ps", "--session", sessionId, "--json")
    if (r.code !== 0) throw new Error(`troupe ps failed: ${r.stderr}`)
    return new Map((JSON.parse(r.stdout) as Array<Json>).map((run) => [run.id as string, run.state as string]))
  }

  afterAll(() => {
    const stop = troupe(world, "daemon", "stop")
    if (stop.code !== 0) console.error(`troupe daemon stop: ${stop.stdout}${stop.stderr}`)
    // Only when a test failed half-way: this file's own marked sleeps, by pid.
    for (const pid of pidsWithArgv(sleepArgv)) process.kill(pid, "SIGKILL")
    rmSync(world.dir, { recursive: true, force: true })
  })

  it("rpc: spawn names run:<id>, the completion follow-up reaches the model, shutdown kills the rest", async () => {
    const pi = PiRpc.start(world, extensions)
    try {
      const sessionId = (await pi.command({ type: "get_state" })).data.sessionId as string
      expect(sessionId).toBeTruthy()

      await pi.prompt(script([[
        { name: "spawn", arguments: { recipe: "word_count", values: { file: words } } },
        { name: "spawn", arguments: { template: sleepArgv.join(" ") } }
      ]]))
      const spawnCount = toolEnd(pi, 0, 0)
      const spawnSleep = toolEnd(pi, 0, 1)
      expect(spawnCount.isError, messageText(spawnCount.result)).toBe(false)
      expect(spawnSleep.isError, messageText(spawnSleep.result)).toBe(false)
      const countText = messageText(spawnCount.result)
      expect(countText).toMatch(/^spawned run:\S+/)
      expect(countText).not.toContain("completion will not be reported")
      const countId = runIdIn(countText)
      const sleepId = runIdIn(messageText(spawnSleep.result))
      expect(sleepId).not.toBe(countId)

      // The word count finishes on its own; its follow-up starts a new turn the model answers.
      const followUp = await pi.waitFor(
        `the troupe-run follow-up of run:${countId}`,
        (r) => r.type === "message_end" && r.message.role === "custom" && r.message.customType === "troupe-run" && r.message.details?.run === `run:${countId}`
      )
      expect(followUp.message.content).toMatch(new RegExp(`^Run ${countId} completed successfully\\.`))
      expect(followUp.message.details).toMatchObject({ run: `run:${countId}`, state: "done" })
      expect(typeof followUp.message.details.event_id).toBe("number")
      const answer = await pi.waitFor(
        "the model's answer to the follow-up",
        (r) => r.type === "message_end" && r.message.role === "assistant" && messageText(r.message).startsWith("FOLLOWUP-SEEN"),
        pi.records.indexOf(followUp)
      )
      expect(messageText(answer.message)).toContain(`Run ${countId} completed successfully.`)
      await pi.waitFor("agent_settled after the follow-up", (r) => r.type === "agent_settled", pi.records.indexOf(answer))

      // The conversation as Pi keeps it: the follow-up once, then the model's answer to it.
      const messages = (await pi.command({ type: "get_messages" })).data.messages as Array<Json>
      const followUps = messages.filter((m) => m.role === "custom" && m.customType === "troupe-run" && m.details?.run === `run:${countId}`)
      expect(followUps).toHaveLength(1)
      const at = messages.indexOf(followUps[0]!)
      expect(messages.slice(at + 1).some((m) => m.role === "assistant" && messageText(m).startsWith(`FOLLOWUP-SEEN <<Run ${countId} completed`))).toBe(true)

      // Both runs belong to this Pi session; the sleep is still running before shutdown.
      expect(await eventually(() => pidsWithArgv(sleepArgv).length === 1), `one live ${sleepArgv.join(" ")}`).toBe(true)
      await eventually(() => states(sessionId).get(sleepId) === "running")
      expect(states(sessionId)).toEqual(new Map([[countId, "done"], [sleepId, "running"]]))

      // Closing stdin is Pi's orderly shutdown: session_shutdown kills the session's runs.
      expect(await pi.close()).toBe(0)
      expect(
        await eventually(() => pidsWithArgv(sleepArgv).length === 0),
        `${sleepArgv.join(" ")} survived the session's shutdown: pids ${pidsWithArgv(sleepArgv).join(", ")}`
      ).toBe(true)
      await eventually(() => states(sessionId).get(sleepId) !== "running")
      expect(states(sessionId)).toEqual(new Map([[countId, "done"], [sleepId, "killed"]]))
    } finally {
      pi.kill()
    }
  })

  it("print mode: the spawn result says completion will not be reported", () => {
    const r = piPrint(world, extensions, script([[{ name: "spawn", arguments: { recipe: "word_count", values: { file: words } } }]]))
    expect(r.code, r.stderr).toBe(0)
    const lines = r.stdout.trim().split("\n")
    expect(lines[0]).toBe("SCRIPT-DONE")
    const spawnResult = r.stdout.slice(r.stdout.indexOf("RESULT spawn: "))
    expect(spawnResult).toMatch(/^RESULT spawn: spawned run:\S+/)
    expect(spawnResult).toContain("completion will not be reported")
  })

  it("a pi-actors 0.17 recipe folder shows up as tools, unmodified, and they run", async () => {
    const pi = PiRpc.start(world, extensions)
    try {
      await pi.prompt(script(
        [[
          { name: "word_count", arguments: { file: words } },
          { name: "transcribe", arguments: { file: words, verbose: true } }
        ]],
        ["results", "tools"]
      ))
      const answer = [...pi.records].reverse().find((r) => r.type === "message_end" && r.message.role === "assistant")!
      const report = messageText(answer.message)
      const toolsLine = report.split("\n").find((l) => l.startsWith("TOOLS: "))
      expect(toolsLine, report).toBeDefined()
      const tools = toolsLine!.slice("TOOLS: ".length).split(" ")
      // Every enabled recipe of the folder, by file name; the disabled one is not a tool.
      for (const recipe of ["call_subagent", "docs_review", "fanout", "notes_append", "review", "transcribe", "word_count"]) {
        expect(tools).toContain(recipe)
      }
      expect(tools).not.toContain("legacy_tool")
      for (const core of ["spawn", "message", "inspect", "register_tool", "bg_start", "bg_stop", "bg_list", "bg_logs"]) {
        expect(tools).toContain(core)
      }

      const count = toolEnd(pi, 0, 0)
      expect(count.isError, messageText(count.result)).toBe(false)
      expect(messageText(count.result).trim()).toBe("1234")
      const transcribe = toolEnd(pi, 0, 1)
      expect(transcribe.isError, messageText(transcribe.result)).toBe(false)
      expect(messageText(transcribe.result).trim()).toBe(`transcribe file=${words} lang=ru model=base verbose=true bytes=${5 * 1234 + 1}`)
      expect(await pi.close()).toBe(0)
    } finally {
      pi.kill()
    }
  })

  it("plan mode: while /plan is on a write call is refused and plan_write keeps the plan; /plan off brings write back", async () => {
    const pi = PiRpc.start(world, extensions)
    try {
      const notified = (text: string, from: number) =>
        pi.waitFor(`the notification "${text}"`, (r) => r.type === "extension_ui_request" && r.method === "notify" && String(r.message).includes(text), from)
      let from = pi.records.length
      await pi.command({ type: "prompt", message: "/plan" })
      await notified("plan mode on", from)

      const blocked = join(world.cwd, "written-in-plan-mode.txt")
      await pi.prompt(script(
        [[{ name: "write", arguments: { path: blocked, content: "no" } }], [{ name: "plan_write", arguments: { content: "# Plan\n1. write the file\n" } }]],
        ["results", "tools"]
      ))
      const write = toolEnd(pi, 0, 0)
      expect(write.isError, messageText(write.result)).toBe(true)
      // Deactivated, so Pi itself refuses it ("Tool write not found"); a re-activated one meets troupe's tool_call gate.
      expect(messageText(write.result)).toMatch(/Tool write not found|^Plan mode is on: write/)
      expect(existsSync(blocked)).toBe(false)
      const planned = toolEnd(pi, 1, 0)
      expect(planned.isError, messageText(planned.result)).toBe(false)
      expect(readFileSync(join(world.cwd, ".troupe", "plan.md"), "utf8")).toBe("# Plan\n1. write the file\n")
      const answer = [...pi.records].reverse().find((r) => r.type === "message_end" && r.message.role === "assistant")!
      const tools = messageText(answer.message).split("\n").find((l) => l.startsWith("TOOLS: "))!.slice("TOOLS: ".length).split(" ")
      expect(tools).toContain("read")
      expect(tools).toContain("plan_write")
      for (const off of ["write", "edit", "bash", "spawn"]) expect(tools).not.toContain(off)

      from = pi.records.length
      await pi.command({ type: "prompt", message: "/plan off" })
      await notified("plan mode off", from)
      from = pi.records.length
      await pi.prompt(script([[{ name: "write", arguments: { path: blocked, content: "yes" } }]], ["results", "tools"]))
      const again = pi.records.slice(from).find((r) => r.type === "tool_execution_end" && r.toolCallId === "e2e-0-0")!
      expect(again.isError, messageText(again.result)).toBe(false)
      expect(readFileSync(blocked, "utf8")).toBe("yes")
      expect(await pi.close()).toBe(0)
    } finally {
      pi.kill()
    }
  })

  it("rpc: /troupe answers with the text summary (overlays need Pi's TUI) and the session goes on", async () => {
    const pi = PiRpc.start(world, extensions)
    try {
      const from = pi.records.length
      await pi.command({ type: "prompt", message: "/troupe" })
      const summary = await pi.waitFor("the /troupe summary", (r) => r.type === "extension_ui_request" && r.method === "notify" && String(r.message).startsWith("troupe: "), from)
      expect(String(summary.message)).toMatch(/^troupe: (no runs in this session|\d+ run\(s\), \d+ active)/)
      expect(pi.records.slice(from).some((r) => r.type === "extension_ui_request" && r.method === "notify" && /error|failed/i.test(String(r.message)))).toBe(false)
      expect(await pi.close()).toBe(0)
    } finally {
      pi.kill()
    }
  })

  it("pi install <repo>: the package manifest loads the adapter without -e", () => {
    // A separate agent dir, so the install does not touch the other tests' Pi configuration.
    const agentDir = join(world.dir, "agent-installed")
    mkdirSync(agentDir)
    const env = { PI_CODING_AGENT_DIR: agentDir }
    const install = piCommand(world, env, "install", process.cwd())
    expect(install.code, install.stderr).toBe(0)
    expect(readFileSync(join(agentDir, "settings.json"), "utf8")).toContain("packages")
    const r = piPrint(world, [fauxExtension], script([], ["tools"]), { env, packages: true })
    expect(r.code, r.stderr).toBe(0)
    const tools = r.stdout.trim().split("\n").find((l) => l.startsWith("TOOLS: "))?.slice("TOOLS: ".length).split(" ") ?? []
    for (const core of ["spawn", "message", "inspect", "register_tool", "word_count"]) expect(tools, r.stdout).toContain(core)
  })
})
