/**
 * `troupe run` through the built, bundled binary (npm test builds first): stdout/stderr/exit
 * code contract of SPEC-adapters §2.
 */
import { describe, expect, it } from "vitest"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { version } from "../../src/version.js"
import { run, troupeBin } from "../support/exec.js"
import { scratch } from "../support/graph.js"

/** `troupe <args>` in `cwd`, as a child process (the test worker's event loop stays free). */
const troupe = (args: ReadonlyArray<string>, cwd = process.cwd()) => troupeBin(args, { cwd, env: { ...process.env, NO_COLOR: "1" } })

describe("troupe run", () => {
  it("prints the final stdout and exits 0", async () => {
    const r = await troupe(["run", "--template", "printf [%s] {a} {b=two}", "a=x y"])
    expect(r).toMatchObject({ code: 0, stdout: "[x y][two]" })
  })

  it("a typed value error exits non-zero with the spec's text on stderr", async () => {
    const r = await troupe(["run", "--template", "printf [%s] {n:int}", "n=1.5"])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("Argument n must be an integer.")
    expect(r.stdout).toBe("")
  })

  it("exit code is the failing step's code, failure text on stderr", async () => {
    const r = await troupe(["run", "--template", "[\"echo out\", \"sh -c 'echo bad >&2; exit 7'\"]"])
    expect(r.code).toBe(7)
    expect(r.stdout).toBe("")
    expect(r.stderr).toContain("Exit code 7\n\nstderr:\nbad\n\nstdout:\n(no output)")
  })

  it("timeout exits 124", async () => {
    const r = await troupe(["run", "--template", "{\"timeout\": 200, \"template\": \"sleep 10\"}"])
    expect(r.code).toBe(124)
    expect(r.stderr).toContain("Exit code 124 (killed)")
  })

  it("--json prints one result object", async () => {
    const r = await troupe(["run", "--json", "--template", "{\"parallel\": true, \"template\": [\"echo a\", \"false\"]}"])
    expect(r.code).toBe(0)
    const obj = JSON.parse(r.stdout) as Record<string, unknown>
    expect(Object.keys(obj)).toEqual(["status", "code", "stdout", "stderr_tail", "duration_ms", "failures", "soft_quorum"])
    expect(obj).toMatchObject({ status: "done", code: 0, soft_quorum: { expected: 2, usable: 1, degraded: true } })
  })

  it("--dry-run prints the plan as a tree and runs nothing", async () => {
    const dir = scratch()
    const r = await troupe(["run", "--dry-run", "--cwd", dir, "--template", `["touch made", {"parallel": true, "timeout": 5, "template": ["echo {a}", {"label": "b", "template": "printf '%s x' {a}"}]}]`, "a=1"])
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(
      [
        "sequence",
        "├─ touch made",
        "└─ parallel (2 branches)  (timeout 5 ms)",
        "   ├─ [branch 1] echo 1",
        "   └─ [b] printf '%s x' 1",
        ""
      ].join("\n")
    )
    expect((await run("ls", [dir])).stdout).toBe("")
  })

  it("--dry-run --json prints the planned leaves and runs nothing", async () => {
    const dir = scratch()
    const r = await troupe(["run", "--dry-run", "--json", "--cwd", dir, "--template", "[\"touch made\", \"echo {a}\"]", "a=1"])
    expect(r.code).toBe(0)
    const leaves = JSON.parse(r.stdout) as Array<{ argv: Array<string>; stdin_from: string }>
    expect(leaves.map((l) => l.argv)).toEqual([["touch", "made"], ["echo", "1"]])
    expect(leaves[1]!.stdin_from).toBe("root.0")
    expect((await run("ls", [dir])).stdout).toBe("")
  })

  it("--values wins over pairs; JSON pair values are used as such", async () => {
    const r = await troupe(["run", "--template", "printf [%s] {a} {items[1]}", "a=1", "items=[\"x\",\"y\"]", "--values", "{\"a\": \"2\"}"])
    expect(r).toMatchObject({ code: 0, stdout: "[2][y]" })
  })

  it("a recipe file path runs with its args and defaults; {recipe_dir} is injected", async () => {
    const dir = scratch()
    writeFileSync(join(dir, "hello.sh"), "echo hello $1\n")
    writeFileSync(
      join(dir, "greet.json"),
      JSON.stringify({ description: "greet", args: ["who:string"], defaults: { who: "world" }, template: "{recipe_dir}/hello.sh {who}" })
    )
    expect(await troupe(["run", join(dir, "greet.json")])).toMatchObject({ code: 0, stdout: "hello world\n" })
    expect(await troupe(["run", join(dir, "greet.json"), "who=troupe"])).toMatchObject({ code: 0, stdout: "hello troupe\n" })
  })

  it("a recipe with a tool field is rejected with guidance", async () => {
    const dir = scratch()
    writeFileSync(join(dir, "old.json"), JSON.stringify({ tool: "old", description: "x", template: "true" }))
    const r = await troupe(["run", join(dir, "old.json")])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain("has a \"tool\" field")
  })

  it("unknown recipe ids and malformed pairs are clear errors", async () => {
    expect((await troupe(["run", "no-such-recipe"])).stderr).toContain("error: Unknown recipe: no-such-recipe")
    const bad = await troupe(["run", "--template", "echo {a}", "oops"])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("Invalid value argument: oops (expected key=value)")
  })

  it("packaged repo-health runs over this repository and prints a report", async () => {
    const r = await troupe(["run", "repo-health", "top=3"])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain("# Repository health: ")
    expect(r.stdout).toMatch(/- tracked files: \d+/)
    for (const section of ["## Recent commits", "## Authors by commits", "## Files by type", "## Largest files (bytes)", "## Markers"]) {
      expect(r.stdout).toContain(section)
    }
    expect(r.stdout).toMatch(/\n    \d+ ts\n/)
  })

  it("--version matches package.json", async () => {
    const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { version: string }
    expect(version).toBe(pkg.version)
    expect((await troupe(["--version"])).stdout.trim()).toBe(version)
  })
})
