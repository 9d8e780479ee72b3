/**
 * An unmodified copy of a representative pi-actors 0.17 user recipe folder
 * (`test/fixtures/pi-actors-0.17`) as `TROUPE_RECIPES`: every recipe loads with the status it
 * should have, and every enabled one runs through the built binary — foreground ones with
 * `troupe run`, the async actor with `troupe spawn` + `wait`. `pi` is a stub on `PATH` that
 * records its argv.
 */
import { chmodSync, cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { troupeBin } from "../support/exec.js"
import { scratch } from "../support/graph.js"

const fixtures = join(process.cwd(), "test/fixtures/pi-actors-0.17")

describe("a pi-actors 0.17 recipe folder, unmodified", () => {
  const dir = scratch("troupe-pi-actors-")
  const root = join(dir, "recipes")
  const home = join(dir, "home")
  const stubBin = join(dir, "bin")
  const calls = join(dir, "pi-calls.jsonl")
  const env = {
    ...process.env,
    TROUPE_RECIPES: root,
    TROUPE_HOME: home,
    TROUPE_SESSION: "fixtures",
    PATH: `${stubBin}:${process.env.PATH}`,
    PI_STUB_LOG: calls,
    NO_COLOR: "1"
  }
  // Asynchronous, so the test worker's event loop stays free while the CLI runs.
  const troupe = (...args: ReadonlyArray<string>) => troupeBin(args, { env, cwd: dir })
  const piCalls = () => readFileSync(calls, "utf8").trim().split("\n").map((l) => JSON.parse(l) as ReadonlyArray<string>)

  beforeAll(async () => {
    cpSync(fixtures, root, { recursive: true })
    mkdirSync(stubBin)
    // The stub pi: records argv, answers with the last argument (the prompt), fails on "part-1".
    writeFileSync(
      join(stubBin, "pi"),
      `#!${process.execPath}\nconst fs = require("node:fs")\nconst argv = process.argv.slice(2)\n` +
        `fs.appendFileSync(process.env.PI_STUB_LOG, JSON.stringify(argv) + "\\n")\n` +
        `const prompt = argv[argv.length - 1]\nif (prompt.includes("part-1")) { console.error("stub failure"); process.exit(3) }\n` +
        `console.log("findings: " + prompt)\n`
    )
    chmodSync(join(stubBin, "pi"), 0o755)
  })
  afterAll(async () => {
    await troupe("daemon", "stop")
  })

  it("every recipe loads with its status; the disabled one stays off", async () => {
    const r = await troupe("recipes", "list", "--json")
    expect(r.code).toBe(0)
    const user = (JSON.parse(r.stdout) as Array<{ id: string; status: string; source: string; async?: boolean }>).filter((e) => e.source === "user")
    expect(user.map((e) => [e.id, e.status])).toEqual([
      ["call_subagent", "active"],
      ["docs_review", "active"],
      ["fanout", "active"],
      ["legacy_tool", "disabled"],
      ["notes_append", "active"],
      ["review", "active"],
      ["transcribe", "active"],
      ["word_count", "active"]
    ])
    expect(user.find((e) => e.id === "docs_review")!.async).toBe(true)
  })

  it("foreground recipes run: pipes, inline typed args, co-located scripts, ternaries, enums", async () => {
    const text = join(dir, "words.txt")
    writeFileSync(text, "one two three four\n")
    expect((await troupe("run", "word_count", `file=${text}`)).stdout.trim()).toBe("4")
    expect((await troupe("run", "transcribe", `file=${text}`, "verbose=yes")).stdout).toBe(`transcribe file=${text} lang=ru model=base verbose=true bytes=19\n`)
    const notes = join(dir, "notes.md")
    expect((await troupe("run", "notes_append", `file=${notes}`, "note=first note")).code).toBe(0)
    expect((await troupe("run", "notes_append", `file=${notes}`, "note=second", "stamp=true", "mode=plain")).stdout).toBe("- first note\n[stamped] second\n")
    expect((await troupe("run", "notes_append", `file=${notes}`, "note=x", "mode=fancy")).stderr).toContain("Argument mode must be one of: plain, bullet.")
    expect((await troupe("run", "legacy_tool")).stderr).toContain("Recipe legacy_tool is disabled")
  })

  it("sub-agent recipes call pi with the prompt as one argument; a pointer and an import reuse review", async () => {
    const review = await troupe("run", "review", "scope=README.md", "model=m1")
    expect(review).toMatchObject({ code: 0, stdout: "findings: Review README.md. Return concise findings.\n" })
    expect((await troupe("run", "call_subagent", "scope=docs/")).stdout).toBe("findings: Review docs/. Return concise findings.\n")
    const fan = await troupe("run", "fanout", "topic=api")
    expect(fan.code).toBe(0)
    expect(fan.stdout).toContain("--- branch: agent-0 status: done ---")
    expect(fan.stdout).toContain("--- branch: agent-1 status: failed ---")
    expect(fan.stdout).toContain("findings: Review api-part-2. Return concise findings.")
    const argvs = piCalls()
    expect(argvs[0]).toEqual(["-p", "--model", "m1", "--no-tools", "Review README.md. Return concise findings."])
    expect(argvs[1]).toEqual(["-p", "--model", "fast-model", "--no-tools", "Review docs/. Return concise findings."])
    expect(argvs.slice(2).map((a) => a[2]).sort()).toEqual(["review-m0", "review-m1", "review-m2"])
  })

  it("the async actor runs as a run: spawn, wait, artifact written in its state directory", async () => {
    const spawned = await troupe("spawn", "docs_review", "scope=CHANGELOG.md", "--as", "dr")
    expect(spawned.code).toBe(0)
    const waited = await troupe("wait", "run:dr", "--timeout", "20s")
    expect(waited).toMatchObject({ code: 0, stdout: "findings: Review CHANGELOG.md. Return concise findings.\n" })
    const artifacts = await troupe("inspect", "run:dr", "artifacts")
    expect(artifacts.stdout).toMatch(/report \S+\/report\.md \d+/)
    const usage = await troupe("inspect", "tool:docs_review")
    expect(usage.stdout).toContain("calls=1")
  })
})
