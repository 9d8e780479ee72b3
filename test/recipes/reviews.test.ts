/**
 * The review pipelines (recipes/review-quorum.json, review-lens.json) through the built binary
 * against a stub `pi`: parallel reviewers under a soft quorum, then a synthesis step that gets
 * the labelled branch outputs on stdin.
 */
import { describe, expect, it } from "vitest"
import { type PiCall, stubPi, troupe } from "./support.js"

const isSynthesis = (c: PiCall) => c.argv.includes("--no-tools")

describe("review-quorum", () => {
  it("N reviewers with read-only tools, then a synthesis on the caller's model that receives every review", async () => {
    const pi = stubPi()
    const r = await troupe(["run", "review-quorum", "scope=src/ and docs/", "model=m1", "thinking=high", "reviewers=3"], { env: pi.env })
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    expect(r.stdout).toBe("synthesis of 3 done branches\nanswer: Above are the output (model=m1, thinking=high)\n")
    const calls = pi.calls()
    const reviewers = calls.filter((c) => !isSynthesis(c))
    expect(reviewers).toHaveLength(3)
    for (const c of reviewers) {
      expect(c.argv.slice(0, 8)).toEqual(["-p", "--model", "m1", "--thinking", "high", "--tools", "read,grep,find,ls", "--"])
      expect(c.messages).toHaveLength(1)
      expect(c.messages[0]).toContain("Review: src/ and docs/\n\nFind real problems")
    }
    expect(reviewers.map((c) => c.messages[0]!.slice(0, 28)).sort()).toEqual(["You are reviewer 1 of 3, wor", "You are reviewer 2 of 3, wor", "You are reviewer 3 of 3, wor"])
    const synthesis = calls.filter(isSynthesis)
    expect(synthesis).toHaveLength(1)
    expect(synthesis[0]!.argv.slice(0, 7)).toEqual(["-p", "--model", "m1", "--thinking", "high", "--no-tools", "--"])
    expect(synthesis[0]!.messages[0]).toContain("outputs of 3 independent reviewers of src/ and docs/")
    for (const n of [1, 2, 3]) {
      expect(synthesis[0]!.stdin).toContain(`--- branch: reviewer ${n} status: done ---\nanswer: You are reviewer ${n} o (model=m1, thinking=high)\n`)
    }
  })

  it("one failing reviewer still meets min_successful=2: the synthesis sees the failure; two failing reviewers fail the run", async () => {
    const pi = stubPi("reviewer 2 of")
    const r = await troupe(
      ["run", "review-quorum", "scope=the diff", "instructions=Only check naming.", "model=m", "thinking=low", "synthesis_model=judge"],
      { env: pi.env }
    )
    expect(r.code).toBe(0)
    expect(r.stdout).toBe("synthesis of 2 done branches\nanswer: Above are the output (model=judge, thinking=low)\n")
    const synthesis = pi.calls().find(isSynthesis)!
    expect(synthesis.stdin).toContain("--- branch: reviewer 2 status: failed ---\nexit: 7\nstderr: stub pi: failing on purpose")
    expect(pi.calls().filter((c) => !isSynthesis(c)).every((c) => c.messages[0]!.endsWith("Review: the diff\n\nOnly check naming."))).toBe(true)

    const pi2 = stubPi("reviewer 2 of|reviewer 3 of")
    const failed = await troupe(["run", "review-quorum", "scope=the diff", "model=m", "thinking=low"], { env: pi2.env })
    expect(failed.code).toBe(7)
    expect(failed.stderr).toContain("soft quorum not met: 1 of 3 branches usable, 2 required")
    expect(failed.stdout).toBe("")
    expect(pi2.calls().filter(isSynthesis)).toEqual([])
  })
})

describe("review-lens", () => {
  it("one reviewer per default lens, labelled by lens, then the synthesis", async () => {
    const pi = stubPi()
    const r = await troupe(["run", "review-lens", "scope=src/services", "model=m", "thinking=medium"], { env: pi.env })
    expect(r.code).toBe(0)
    expect(r.stdout).toBe("synthesis of 4 done branches\nanswer: Above are lens revie (model=m, thinking=medium)\n")
    const reviewers = pi.calls().filter((c) => !isSynthesis(c))
    expect(reviewers.map((c) => /through one lens only: (\w+)\./.exec(c.messages[0]!)?.[1]).sort()).toEqual(["correctness", "docs", "security", "tests"])
    const stdin = pi.calls().find(isSynthesis)!.stdin
    const order = [...stdin.matchAll(/^--- branch: (\w+) status: done ---$/gm)].map((m) => m[1])
    expect(order).toEqual(["correctness", "security", "docs", "tests"])
  })

  it("custom lenses; a failed lens is tolerated down to min_successful", async () => {
    const pi = stubPi("lens only: perf")
    const lenses = JSON.stringify(["api", "perf", "naming"])
    const r = await troupe(["run", "review-lens", "scope=lib/", `lenses=${lenses}`, "model=m", "thinking=low", "min_successful=2"], { env: pi.env })
    expect(r.code).toBe(0)
    expect(pi.calls().find(isSynthesis)!.stdin).toContain("--- branch: perf status: failed ---\nexit: 7")
    const strict = await troupe(["run", "review-lens", "scope=lib/", `lenses=${lenses}`, "model=m", "thinking=low", "min_successful=3"], { env: pi.env })
    expect(strict.code).toBe(7)
    expect(strict.stderr).toContain("soft quorum not met: 2 of 3 branches usable, 3 required")
    const notArray = await troupe(["run", "review-lens", "scope=lib/", "lenses=security", "model=m", "thinking=low"], { env: pi.env })
    expect(notArray.code).toBe(2)
    expect(notArray.stderr).toContain("Argument lenses must be an array.")
  })
})
