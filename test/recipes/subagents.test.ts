/**
 * The pi sub-agent launchers (recipes/subagent-prompt.json, subagent-tools.json,
 * subagent-prompts.json) through the built binary against a stub `pi` on PATH.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { scratch } from "../support/graph.js"
import { stubPi, troupe } from "./support.js"

const awkward = `Review "docs/a b.md" — it's {odd}; $HOME \`x\` -n`

describe("subagent-prompt", () => {
  it("passes the prompt as one argument after --, with the caller's model and thinking and no tools", async () => {
    const pi = stubPi()
    const r = await troupe(["run", "subagent-prompt", `prompt=${awkward}`, "model=anthropic/claude-x", "thinking=high"], { env: pi.env })
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(`answer: ${awkward.slice(0, 20)} (model=anthropic/claude-x, thinking=high)\n`)
    const [call] = pi.calls()
    expect(call!.argv).toEqual(["-p", "--model", "anthropic/claude-x", "--thinking", "high", "--no-tools", "--", awkward])
    expect(call!.messages).toEqual([awkward])
  })

  it("a prompt starting with - stays a message; one starting with @ is passed as-is for pi to read", async () => {
    const pi = stubPi()
    expect((await troupe(["run", "subagent-prompt", "prompt=--help me", "model=m", "thinking=off"], { env: pi.env })).code).toBe(0)
    const file = join(scratch(), "brief.md")
    writeFileSync(file, "the brief\n")
    expect((await troupe(["run", "subagent-prompt", `prompt=@${file}`, "model=m", "thinking=off"], { env: pi.env })).code).toBe(0)
    expect(pi.calls().map((c) => c.argv.slice(6))).toEqual([
      ["--", "--help me"],
      ["--", `@${file}`]
    ])
  })

  it("model and thinking are required; thinking must be one of pi's levels", async () => {
    const pi = stubPi()
    const missing = await troupe(["run", "subagent-prompt", "prompt=hi", "thinking=low"], { env: pi.env })
    expect(missing.code).not.toBe(0)
    expect(missing.stderr).toContain("Missing command template value: model")
    const bad = await troupe(["run", "subagent-prompt", "prompt=hi", "model=m", "thinking=huge"], { env: pi.env })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("Argument thinking must be one of: off, minimal, low, medium, high, xhigh, max.")
    expect(pi.calls()).toEqual([])
  })

  it("pi's failure is the run's failure, with its exit code and stderr", async () => {
    const pi = stubPi("doomed")
    const r = await troupe(["run", "subagent-prompt", "prompt=a doomed prompt", "model=m", "thinking=low"], { env: pi.env })
    expect(r.code).toBe(7)
    expect(r.stderr).toContain("stub pi: failing on purpose")
  })
})

describe("subagent-tools", () => {
  it("passes the caller's tool allowlist instead of --no-tools", async () => {
    const pi = stubPi()
    const r = await troupe(["run", "subagent-tools", `prompt=${awkward}`, "tools=read,grep,find,ls", "model=m", "thinking=medium"], { env: pi.env })
    expect(r.code).toBe(0)
    expect(pi.calls()[0]!.argv).toEqual(["-p", "--model", "m", "--thinking", "medium", "--tools", "read,grep,find,ls", "--", awkward])
    expect((await troupe(["run", "subagent-tools", "prompt=x", "model=m", "thinking=low"], { env: pi.env })).stderr).toContain(
      "Missing command template value: tools"
    )
  })
})

describe("subagent-prompts", () => {
  const prompts = ["first: it's \"quoted\"", "second prompt with  two  spaces", "third", "fourth"]

  it("fans every prompt out to its own pi call, labelled prompt N in array order", async () => {
    const pi = stubPi()
    const r = await troupe(["run", "subagent-prompts", `prompts=${JSON.stringify(prompts)}`, "model=m", "thinking=low", "concurrency=2"], { env: pi.env })
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(
      prompts.map((p, i) => `--- branch: prompt ${i + 1} status: done ---\nanswer: ${p.slice(0, 20)} (model=m, thinking=low)\n`).join("\n")
    )
    const calls = pi.calls()
    expect(calls.map((c) => c.messages).sort()).toEqual(prompts.map((p) => [p]).sort())
    for (const c of calls) expect(c.argv.slice(0, 7)).toEqual(["-p", "--model", "m", "--thinking", "low", "--no-tools", "--"])
  })

  it("min_successful is a soft quorum: one failed prompt is tolerated, too many fail the run", async () => {
    const pi = stubPi("third")
    const ok = await troupe(["run", "subagent-prompts", `prompts=${JSON.stringify(prompts)}`, "model=m", "thinking=low", "min_successful=3"], { env: pi.env })
    expect(ok.code).toBe(0)
    expect(ok.stdout).toContain("--- branch: prompt 3 status: failed ---\nexit: 7\nstderr: stub pi: failing on purpose")
    expect(ok.stdout).toContain("--- branch: prompt 4 status: done ---")
    const failing = await troupe(["run", "subagent-prompts", `prompts=${JSON.stringify(prompts)}`, "model=m", "thinking=low", "min_successful=4"], {
      env: pi.env
    })
    expect(failing.code).toBe(7)
    expect(failing.stderr).toContain("soft quorum not met: 3 of 4 branches usable, 4 required")
    const impossible = await troupe(["run", "subagent-prompts", `prompts=["a"]`, "model=m", "thinking=low", "min_successful=2"], { env: pi.env })
    expect(impossible.code).toBe(2)
    expect(impossible.stderr).toContain("min_successful 2 exceeds branch count 1")
  })
})

describe("async sub-agent as an actor", () => {
  const homes: Array<Record<string, string>> = []
  afterEach(async () => {
    for (const env of homes.splice(0)) await troupe(["daemon", "stop"], { env })
  })

  it("spawn subagent-prompt … && wait returns the answer", async () => {
    const pi = stubPi()
    homes.push(pi.env)
    const spawned = await troupe(["spawn", "subagent-prompt", `prompt=${awkward}`, "model=m", "thinking=low", "--as", "sub1"], { env: pi.env })
    expect(spawned.code).toBe(0)
    expect(spawned.stdout).toContain("run:sub1")
    const waited = await troupe(["wait", "run:sub1"], { env: pi.env })
    expect(waited.code).toBe(0)
    expect(waited.stdout).toBe(`answer: ${awkward.slice(0, 20)} (model=m, thinking=low)\n`)
    expect(pi.calls()[0]!.messages).toEqual([awkward])
  })
})
