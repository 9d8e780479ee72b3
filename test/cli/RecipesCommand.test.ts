/**
 * `troupe recipes …` and `troupe run <id>` through the built binary, against a user root in
 * the pi-actors 0.17 shape (TROUPE_RECIPES), with a packaged recipe shadowed and a broken one.
 */
import { spawnSync } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { scratch } from "../support/graph.js"

const bin = join(process.cwd(), "dist/bin/troupe.js")

/** A user recipe root written the way pi-actors 0.17 users write them. */
const piActorsRoot = () => {
  const root = join(scratch("troupe-user-recipes-"), "recipes")
  mkdirSync(join(root, "scripts"), { recursive: true })
  const put = (name: string, body: unknown) => writeFileSync(join(root, name), JSON.stringify(body, null, 2))
  put("word_count.json", {
    description: "Count words in a file",
    args: ["file:path"],
    defaults: {},
    template: ["cat {file}", "wc -w"]
  })
  put("greet.json", {
    name: "greet",
    description: "Greet someone, twice in parallel",
    async: false,
    args: ["who:string=world", "times:int=2"],
    mailbox: { accepts: ["control.stop"], emits: ["greet.done"] },
    artifacts: { log: "{state_dir}/greet.log" },
    template: { parallel: true, repeat: "{times}", template: "printf hello-{who}-{index}\\n" }
  })
  put("broken.json", { description: "uses a field pi-actors 0.17 removed", tool: "broken", template: "echo" })
  put("off.json", { description: "switched off", disabled: true, template: "echo off" })
  // Shadows the packaged recipe of the same id: the user's copy wins.
  put("repo-health.json", { description: "my own repo health", template: "echo mine" })
  return root
}

const troupe = (root: string, args: ReadonlyArray<string>) => {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: "utf8",
    env: { ...process.env, TROUPE_RECIPES: root, NO_COLOR: "1" },
    cwd: process.cwd()
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

describe("troupe recipes (built binary)", () => {
  it("list shows the user root's recipes with their status; the packaged one is shadowed", () => {
    const root = piActorsRoot()
    const r = troupe(root, ["recipes", "list"])
    expect(r.code).toBe(0)
    const lines = r.stdout.trim().split("\n")
    expect(lines).toContainEqual(expect.stringMatching(/^greet status=active source=user  Greet someone/))
    expect(lines).toContainEqual(expect.stringMatching(/^word_count status=active source=user/))
    expect(lines).toContainEqual(expect.stringMatching(/^broken status=invalid source=user  .*"tool" field/))
    expect(lines).toContainEqual(expect.stringMatching(/^off status=disabled source=user/))
    expect(lines).toContainEqual(expect.stringMatching(/^repo-health status=active source=user  my own repo health/))
    expect(lines).toContainEqual(expect.stringMatching(/^repo-health status=shadowed source=packaged/))
    const json = JSON.parse(troupe(root, ["recipes", "list", "--json"]).stdout) as Array<{ id: string; status: string }>
    expect(json.filter((e) => e.id === "greet")).toEqual([expect.objectContaining({ status: "active", source: "user", async: false })])
  })

  it("run <id> k=v runs a user recipe unchanged", () => {
    const root = piActorsRoot()
    const file = join(scratch(), "words.txt")
    writeFileSync(file, "one two three\n")
    const wc = troupe(root, ["run", "word_count", `file=${file}`])
    expect(wc).toMatchObject({ code: 0 })
    expect(wc.stdout.trim()).toBe("3")
    const greet = troupe(root, ["run", "greet", "who=troupe"])
    expect(greet.code).toBe(0)
    expect(greet.stdout).toContain("hello-troupe-0")
    expect(greet.stdout).toContain("hello-troupe-1")
    expect(troupe(root, ["run", "repo-health"]).stdout).toBe("mine\n")
  })

  it("doctor explains why a broken or disabled recipe is blocked; validate and run fail clearly", () => {
    const root = piActorsRoot()
    const broken = troupe(root, ["recipes", "doctor", "broken"])
    expect(broken.code).toBe(1)
    expect(broken.stdout).toContain("broken is blocked: the highest-priority file")
    expect(broken.stdout).toContain(`has a "tool" field; the filename is the tool name`)
    const off = troupe(root, ["recipes", "doctor", "off"])
    expect(off.stdout).toContain("off is disabled by")
    const health = troupe(root, ["recipes", "doctor", "repo-health"])
    expect(health.code).toBe(0)
    expect(health.stdout).toContain("repo-health is usable")
    expect(health.stdout).toMatch(/- packaged .*repo-health.json: shadowed/)
    const validate = troupe(root, ["recipes", "validate", "greet", "broken"])
    expect(validate.code).toBe(1)
    expect(validate.stdout).toContain("ok greet")
    expect(validate.stdout).toContain("invalid broken:")
    const run = troupe(root, ["run", "off"])
    expect(run.code).toBe(1)
    expect(run.stderr).toContain("Recipe off is disabled")
    const show = troupe(root, ["recipes", "show", "greet", "--json"])
    expect(JSON.parse(show.stdout)).toMatchObject({ id: "greet", source: "user", recipe: { description: "Greet someone, twice in parallel" } })
  })
})
