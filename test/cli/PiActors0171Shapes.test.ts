/**
 * A user root (`test/fixtures/pi-actors-0.17.1-shapes`, recipes written for troupe's tests)
 * with every recipe shape found in pi-actors 0.17.1's packaged library: no `description`,
 * top-level `timeout` / `repeat` / `parallel` / `failure` / `label`, undeclared derived
 * defaults (also inside nested nodes), imports of recipes that carry top-level node fields,
 * `when` forms, `values`, and the tolerated 0.17 fields (`usage`, `state_dir`,
 * `actor_context`, `retire_when`). Every file loads `active`; the offline ones run through the
 * built binary with the same output as running their commands directly (computed here with
 * child_process); `recipes doctor` reports tolerated fields and unused defaults; pipelines
 * plan with `--dry-run`.
 */
import { cpSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { output, troupeBin } from "../support/exec.js"
import { scratch } from "../support/graph.js"

const fixtures = join(process.cwd(), "test/fixtures/pi-actors-0.17.1-shapes")

/** stdout of running argv directly (no shell), with `input` on stdin. */
const direct = (argv: ReadonlyArray<string>, input = "", cwd?: string): Promise<string> =>
  output(argv[0]!, argv.slice(1), { input, ...(cwd === undefined ? {} : { cwd }) })

/** The bytes of a parallel node's joined output (SPEC-runtime §1.5) for done branches. */
const joined = (outputs: ReadonlyArray<string>): string =>
  outputs.map((out, i) => `--- branch: branch ${i + 1} status: done ---\n${out}`).join("\n")

describe("a user root with every pi-actors 0.17.1 recipe shape", () => {
  const dir = scratch("troupe-shapes-")
  const root = join(dir, "recipes")
  const repo = join(dir, "repo")
  const env = { ...process.env, TROUPE_RECIPES: root, TROUPE_HOME: join(dir, "home"), NO_COLOR: "1" }
  // Asynchronous, so the test worker stays responsive while the CLI runs.
  const troupe = (args: ReadonlyArray<string>, cwd = dir) => troupeBin(args, { env, cwd })
  const step = (...words: ReadonlyArray<string>) => [process.execPath, join(root, "scripts/step.mjs"), ...words]
  /** Output of the step.mjs pipeline that runs exactly `names`, in order. */
  const steps = async (names: ReadonlyArray<string>) => {
    let out = ""
    for (const n of names) out = await direct(step(n), out)
    return out
  }

  beforeAll(async () => {
    cpSync(fixtures, root, { recursive: true })
    mkdirSync(repo)
    const git = (...args: ReadonlyArray<string>) =>
      output("git", ["-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false", ...args])
    await git("init", "-q", "-b", "main")
    for (const n of [1, 2, 3, 4]) await git("commit", "-q", "--allow-empty", "-m", `commit ${n}`)
    await git("tag", "v1")
  })

  it("loads every file active, with generated descriptions where there is none", async () => {
    const r = await troupe(["recipes", "list", "--json"])
    expect(r.code).toBe(0)
    const user = (JSON.parse(r.stdout) as Array<{ id: string; status: string; source: string; description?: string; async?: boolean }>).filter((e) => e.source === "user")
    expect(user.map((e) => [e.id, e.status])).toEqual(
      ["ask-model", "bound-values", "derived-paths", "git-head", "guarded-echo", "nested-node", "say-each", "say-one", "say-twice", "when-forms"].map((id) => [id, "active"])
    )
    const byId = Object.fromEntries(user.map((e) => [e.id, e]))
    expect(byId["git-head"]!.description).toBe("Run recipe git-head (repo, count).")
    expect(byId["ask-model"]!.description).toBe("Start recipe ask-model as a background run (prompt, model, thinking).")
    expect(byId["bound-values"]!.description).toBe("Greets with a bound value; carries the pi-actors 0.17 fields troupe tolerates.")
  })

  it("git-head (utility-git-log's shape) prints exactly what git log prints", async () => {
    expect((await troupe(["run", "git-head", `repo=${repo}`, "count=3"])).stdout).toBe(await direct(["git", "-C", repo, "log", "--oneline", "--decorate", "-n", "3"]))
    // The default repo "." is the caller's directory.
    expect((await troupe(["run", "git-head"], repo)).stdout).toBe(await direct(["git", "log", "--oneline", "--decorate", "-n", "5"], "", repo))
  })

  it("top-level timeout / failure / label apply to the root node and the command runs unchanged", async () => {
    const r = await troupe(["run", "guarded-echo", "text=two words"])
    expect(r).toMatchObject({ code: 0, stdout: await direct(["printf", "%s\\n", "two words"]) })
    const plan = JSON.parse((await troupe(["run", "guarded-echo", "timeout_ms=1500", "--dry-run", "--json"])).stdout) as Array<Record<string, unknown>>
    expect(plan).toMatchObject([{ argv: ["printf", "%s\\n", "guarded"], timeout_ms: 1500, failure: "root" }])
    expect((await troupe(["run", "nested-node"])).stdout).toBe(await direct(["tr", "a-z", "A-Z"], await direct(["printf", "%s\\n", "nested"])))
    const nested = JSON.parse((await troupe(["run", "nested-node", "--dry-run", "--json"])).stdout) as Array<Record<string, unknown>>
    expect(nested.length).toBe(2)
  })

  it("undeclared derived defaults resolve, also in nested nodes; a child default {x} reads a parent default", async () => {
    expect((await troupe(["run", "derived-paths"])).stdout).toBe(await direct(["printf", "%s\\n", "/srv/site/docs", "small"]))
    expect((await troupe(["run", "derived-paths", "repo=/tmp/x", "default_model=large"])).stdout).toBe(await direct(["printf", "%s\\n", "/tmp/x/docs", "large"]))
  })

  it("recipe values bind above defaults and below the caller's values", async () => {
    expect((await troupe(["run", "bound-values"])).stdout).toBe(await direct(["printf", "%s\\n", "hello-world"]))
    expect((await troupe(["run", "bound-values", "greeting=hey", "name=you"])).stdout).toBe(await direct(["printf", "%s\\n", "hey-you"]))
  })

  it("an imported component with derived defaults runs like its command", async () => {
    expect((await troupe(["run", "say-one", "word=w"])).stdout).toBe(await direct(["printf", "%s\\n", "say:w"]))
  })

  it("top-level repeat + parallel + failure on an import node fan out; a recipe importing it runs it", async () => {
    const say = (w: string) => direct(["printf", "%s\\n", `say:${w}`])
    expect((await troupe(["run", "say-each"])).stdout).toBe(joined(await Promise.all(["alpha", "beta", "gamma"].map(say))))
    expect((await troupe(["run", "say-each", `words=["x","y"]`])).stdout).toBe(joined(await Promise.all(["x", "y"].map(say))))
    expect((await troupe(["run", "say-twice", `words=["p","q"]`])).stdout).toBe(joined(await Promise.all(["p", "q"].map(say))))
  })

  it("pipelines plan with --dry-run: the repeat fans out per item, the import's values bound", async () => {
    const plan = JSON.parse((await troupe(["run", "say-twice", `words=["p","q","r"]`, "--dry-run", "--json"])).stdout) as Array<{ argv: ReadonlyArray<string>; failure: string }>
    expect(plan.map((l) => l.argv)).toEqual([
      ["printf", "%s\\n", "say:one"],
      ["printf", "%s\\n", "say:p"],
      ["printf", "%s\\n", "say:q"],
      ["printf", "%s\\n", "say:r"]
    ])
    expect(plan.slice(1).map((l) => l.failure)).toEqual(["branch", "branch", "branch"])
    const ask = JSON.parse((await troupe(["run", "ask-model", "prompt=hi there", "model=m1", "--dry-run", "--json"])).stdout) as Array<{ argv: ReadonlyArray<string> }>
    expect(ask.map((l) => l.argv)).toEqual([["pi", "-p", "--model", "m1", "--thinking", "off", "hi there"]])
  })

  it("every when form gates its step like pi-actors 0.17", async () => {
    expect((await troupe(["run", "when-forms"])).stdout).toBe(await steps(["not-bare", "not-braced", "always"]))
    expect((await troupe(["run", "when-forms", "flag=true", "mode=x"])).stdout).toBe(await steps(["bare", "braced", "always", "mode-x"]))
  })

  it("recipes doctor reports tolerated 0.17 fields and unused defaults, without blocking", async () => {
    const bound = await troupe(["recipes", "doctor", "bound-values"])
    expect(bound.code).toBe(0)
    for (const field of ["usage", "state_dir", "actor_context", "retire_when"]) {
      expect(bound.stdout).toContain(`warning: field "${field}" (pi-actors 0.17) is ignored`)
    }
    const ask = await troupe(["recipes", "doctor", "ask-model"])
    expect(ask.code).toBe(0)
    expect(ask.stdout).toContain(`warning: default "unused_knob" is not used by any placeholder`)
    expect((await troupe(["recipes", "doctor", "derived-paths"])).stdout).not.toContain("warning:")
  })
})
