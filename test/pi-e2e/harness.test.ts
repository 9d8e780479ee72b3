/**
 * The harness itself, without troupe: a real Pi (Node 22) loads the faux extension, the scripted
 * model calls the extension's `e2e_echo` tool, and the result reaches the transcript. When this
 * fails, the problem is Pi, the install or the faux script — not the troupe adapter.
 */
import { randomUUID } from "node:crypto"
import { rmSync } from "node:fs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { fauxExtension, makeWorld, messageText, PiRpc, piPrint, script, type World } from "./support.js"

describe("harness: real Pi driven by the faux model", () => {
  // Made in beforeAll: a suite skipped by `-t` runs no hooks, so nothing would remove it.
  let world: World
  beforeAll(() => {
    world = makeWorld("harness")
  })
  afterAll(() => rmSync(world.dir, { recursive: true, force: true }))

  it("rpc mode: the model's tool call runs and its result comes back to the model", async () => {
    const nonce = randomUUID()
    const pi = PiRpc.start(world, [fauxExtension])
    try {
      const state = await pi.command({ type: "get_state" })
      expect(state.data.model).toMatchObject({ provider: "faux", id: "faux-1" })
      await pi.prompt(script([[{ name: "e2e_echo", arguments: { text: nonce } }]]))
      const end = pi.records.find((r) => r.type === "tool_execution_end" && r.toolName === "e2e_echo")
      expect(end?.isError).toBe(false)
      expect(messageText(end!.result)).toBe(`echo: ${nonce}`)
      const messages = (await pi.command({ type: "get_messages" })).data.messages as Array<Record<string, unknown>>
      const last = messages[messages.length - 1]!
      expect(last.role).toBe("assistant")
      expect(messageText(last)).toBe(`SCRIPT-DONE\nRESULT e2e_echo: echo: ${nonce}`)
      expect(await pi.close()).toBe(0)
    } finally {
      pi.kill()
    }
  })

  it("print mode: the final answer is written to stdout", () => {
    const nonce = randomUUID()
    const r = piPrint(world, [fauxExtension], script([[{ name: "e2e_echo", arguments: { text: nonce } }]]))
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toBe(`SCRIPT-DONE\nRESULT e2e_echo: echo: ${nonce}`)
  })
})
