/**
 * `troupe recipes …` and `troupe run <id>` through the built binary, against a user root in
 * the pi-actors 0.17 shape (TROUPE_RECIPES), with a packaged recipe shadowed and a broken one.
 */
import { execFileSync, spawn } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { troupeBin, troupeBinPath } from "../support/exec.js"
import { scratch } from "../support/graph.js"

const bin = troupeBinPath

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

/** `troupe <args>` with `root` as the user recipe root, as a child process (the test worker's event loop stays free). */
const troupe = (root: string, args: ReadonlyArray<string>, options: { readonly timeout?: number } = {}) =>
  troupeBin(args, { env: { ...process.env, TROUPE_RECIPES: root, NO_COLOR: "1" }, cwd: process.cwd(), ...options })

describe("troupe recipes (built binary)", () => {
  it("list shows the user root's recipes with their status; the packaged one is shadowed", async () => {
    const root = piActorsRoot()
    const r = await troupe(root, ["recipes", "list"])
    expect(r.code).toBe(0)
    const lines = r.stdout.trim().split("\n")
    expect(lines).toContainEqual(expect.stringMatching(/^greet status=active source=user  Greet someone/))
    expect(lines).toContainEqual(expect.stringMatching(/^word_count status=active source=user/))
    expect(lines).toContainEqual(expect.stringMatching(/^broken status=invalid source=user  .*"tool" field/))
    expect(lines).toContainEqual(expect.stringMatching(/^off status=disabled source=user/))
    expect(lines).toContainEqual(expect.stringMatching(/^repo-health status=active source=user  my own repo health/))
    expect(lines).toContainEqual(expect.stringMatching(/^repo-health status=shadowed source=packaged/))
    const json = JSON.parse((await troupe(root, ["recipes", "list", "--json"])).stdout) as Array<{ id: string; status: string }>
    expect(json.filter((e) => e.id === "greet")).toEqual([expect.objectContaining({ status: "active", source: "user", async: false })])
  })

  it("run <id> k=v runs a user recipe unchanged", async () => {
    const root = piActorsRoot()
    const file = join(scratch(), "words.txt")
    writeFileSync(file, "one two three\n")
    const wc = await troupe(root, ["run", "word_count", `file=${file}`])
    expect(wc).toMatchObject({ code: 0 })
    expect(wc.stdout.trim()).toBe("3")
    const greet = await troupe(root, ["run", "greet", "who=troupe"])
    expect(greet.code).toBe(0)
    expect(greet.stdout).toContain("hello-troupe-0")
    expect(greet.stdout).toContain("hello-troupe-1")
    expect((await troupe(root, ["run", "repo-health"])).stdout).toBe("mine\n")
  })

  it("doctor explains why a broken or disabled recipe is blocked; validate and run fail clearly", async () => {
    const root = piActorsRoot()
    const broken = await troupe(root, ["recipes", "doctor", "broken"])
    expect(broken.code).toBe(1)
    expect(broken.stdout).toContain("broken is blocked: the highest-priority file")
    expect(broken.stdout).toContain(`has a "tool" field; the filename is the tool name`)
    const off = await troupe(root, ["recipes", "doctor", "off"])
    expect(off.stdout).toContain("off is disabled by")
    const health = await troupe(root, ["recipes", "doctor", "repo-health"])
    expect(health.code).toBe(0)
    expect(health.stdout).toContain("repo-health is usable")
    expect(health.stdout).toMatch(/- packaged .*repo-health.json: shadowed/)
    const validate = await troupe(root, ["recipes", "validate", "greet", "broken"])
    expect(validate.code).toBe(1)
    expect(validate.stdout).toContain("ok greet")
    expect(validate.stdout).toContain("rejected broken:")
    const run = await troupe(root, ["run", "off"])
    expect(run.code).toBe(1)
    expect(run.stderr).toContain("Recipe off is disabled")
    const show = await troupe(root, ["recipes", "show", "greet", "--json"])
    expect(JSON.parse(show.stdout)).toMatchObject({ id: "greet", source: "user", recipe: { description: "Greet someone, twice in parallel" } })
  })

  it("register, run and delete a tool; concurrent registrations from several processes all land", async () => {
    const root = join(scratch("troupe-reg-cli-"), "recipes")
    const created = await troupe(root, ["recipes", "register", "shout", "--description", "Shout", "--args", "word:string=hey", "--template", "echo {word}!"])
    expect(created).toMatchObject({ code: 0, stdout: `shout created path=${join(root, "shout.json")}\n` })
    expect((await troupe(root, ["run", "shout", "word=hi"])).stdout).toBe("hi!\n")
    expect(await troupe(root, ["recipes", "register", "shout", "--description", "again", "--template", "echo"])).toMatchObject({ code: 1 })
    expect((await troupe(root, ["recipes", "register", "shout", "--update", "--default", "word=yo"])).code).toBe(0)
    expect((await troupe(root, ["run", "shout"])).stdout).toBe("yo!\n")
    expect((await troupe(root, ["recipes", "delete", "shout"])).code).toBe(0)
    expect(existsSync(join(root, "shout.json"))).toBe(false)

    // 4 processes × 3 names, at the same time.
    const worker = (w: number) =>
      new Promise<number | null>((resolve) => {
        const script = Array.from({ length: 3 }, (_, i) =>
          `"${process.execPath}" "${bin}" recipes register tool_${w}_${i} --description "w${w} i${i}" --template "echo ${w}-${i}"`
        ).join(" && ")
        spawn("sh", ["-c", script], { env: { ...process.env, TROUPE_RECIPES: root }, stdio: "ignore" }).on("exit", resolve)
      })
    expect(await Promise.all([0, 1, 2, 3].map(worker))).toEqual([0, 0, 0, 0])
    const files = readdirSync(root).filter((f) => f.endsWith(".json")).sort()
    expect(files).toHaveLength(12)
    for (const f of files) expect(JSON.parse(readFileSync(join(root, f), "utf8")).template).toMatch(/^echo \d-\d$/)
  })

  it("a registration killed with SIGKILL leaves the old or the new file, never a torn one", async () => {
    const dir = scratch("troupe-reg-crash-")
    const root = join(dir, "recipes")
    // A large template makes the write long enough to be hit.
    const big = (version: number) => {
      const from = join(dir, `v${version}.json`)
      writeFileSync(from, JSON.stringify({ description: `v${version}`, template: Array.from({ length: 4000 }, (_, i) => `echo v${version} step ${i} ${"x".repeat(100)}`) }))
      return from
    }
    expect((await troupe(root, ["recipes", "register", "big", "--from", big(0)])).code).toBe(0)
    let previous = 0
    let killed = 0
    for (let round = 1; round <= 12; round++) {
      const from = big(round)
      const child = spawn(process.execPath, [bin, "recipes", "register", "big", "--update", "--from", from], {
        env: { ...process.env, TROUPE_RECIPES: root },
        stdio: "ignore"
      })
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
      await new Promise((resolve) => setTimeout(resolve, 150 + ((round * 37) % 250)))
      child.kill("SIGKILL")
      const code = await exited
      if (code === null) killed++
      const description = (JSON.parse(readFileSync(join(root, "big.json"), "utf8")) as { description: string }).description
      expect([`v${previous}`, `v${round}`]).toContain(description)
      previous = Number(description.slice(1))
    }
    // The kills must have landed in flight for the test to mean anything.
    expect(killed).toBeGreaterThan(0)
    expect((await troupe(root, ["recipes", "validate", "big"])).code).toBe(0)
  })

  it("list survives a FIFO, a symlink to /dev/zero and a recipe nested 1,000 levels deep (issue 18 items 3, 4)", async () => {
    const root = piActorsRoot()
    execFileSync("mkfifo", [join(root, "fifo.json")])
    symlinkSync("/dev/zero", join(root, "zero.json"))
    writeFileSync(join(root, "deep.json"), `${'{"template":'.repeat(1000)}"echo deep"${"}".repeat(1000)}`)
    // Before: the FIFO blocked `recipes list` forever (and SIGTERM with it), /dev/zero grew
    // memory without limit, and the deep file made every listing a RangeError.
    const started = performance.now()
    const r = await troupe(root, ["recipes", "list"], { timeout: 30_000 })
    expect(performance.now() - started).toBeLessThan(20_000)
    expect(r.code).toBe(0)
    const lines = r.stdout.trim().split("\n")
    // Positive control: the good recipes are all still listed.
    expect(lines).toContainEqual(expect.stringMatching(/^greet status=active source=user/))
    expect(lines).toContainEqual(expect.stringMatching(/^word_count status=active source=user/))
    expect(lines).toContainEqual(`fifo status=invalid source=user  Recipe fifo is skipped: ${join(root, "fifo.json")} is a FIFO, not a regular file; only regular files are read`)
    expect(lines).toContainEqual(`zero status=invalid source=user  Recipe zero is skipped: ${join(root, "zero.json")} is a symlink to a device, not a regular file; only regular files are read`)
    expect(lines).toContainEqual("deep status=invalid source=user  Recipe deep is nested deeper than 64 levels")
    const doctor = await troupe(root, ["recipes", "doctor", "deep"], { timeout: 30_000 })
    expect(doctor.stdout).toContain("Recipe deep is nested deeper than 64 levels")
    expect(doctor.stderr).not.toContain("RangeError")
    // A usage error is printed once by @effect/cli, never as `error: [object Object]`.
    const usage = await troupe(root, ["recipes", "doctor"], { timeout: 30_000 })
    expect(usage.code).not.toBe(0)
    expect(usage.stderr + usage.stdout).toContain("Missing argument")
    expect(usage.stderr + usage.stdout).not.toContain("[object Object]")
  })

  it("inspect recipes through the daemon with a FIFO in the root leaves its file I/O free: spawn and logs still work", async () => {
    const root = piActorsRoot()
    execFileSync("mkfifo", [join(root, "fifo.json")])
    const home = join(scratch("troupe-fifo-home-"), "home")
    const env = { ...process.env, TROUPE_RECIPES: root, TROUPE_HOME: home, NO_COLOR: "1" }
    const daemon = (args: ReadonlyArray<string>) => troupeBin(args, { env, cwd: process.cwd(), timeout: 30_000 })
    try {
      // More inspections than libuv has file-I/O threads (4): before, each pinned one for good.
      for (let i = 0; i < 6; i++) expect((await daemon(["inspect", "recipes"])).code).toBe(0)
      const report = await daemon(["inspect", "recipes"])
      expect(report.stdout).toContain(`Recipe fifo is skipped: ${join(root, "fifo.json")} is a FIFO`)
      expect((await daemon(["spawn", "greet", "who=fifo", "--as", "after"])).code).toBe(0)
      expect((await daemon(["wait", "run:after"])).code).toBe(0)
      expect((await daemon(["logs", "run:after"])).stdout).toContain("hello-fifo-0")
    } finally {
      await daemon(["daemon", "stop"])
    }
  })
})
