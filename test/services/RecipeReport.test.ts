/**
 * `inspect recipes view=status|summary|doctor` and `inspect tool:<name> view=status|schema`
 * (SPEC-messaging §6): usage from the store (counted per launch, reset when the file's content
 * changes, never written into the file) and cleanup recommendations.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { CatalogEntry } from "../../src/domain/Recipe.js"
import * as Report from "../../src/domain/RecipeReport.js"
import { Inspector } from "../../src/services/Inspector.js"
import { SpawnRequest, Supervisor } from "../../src/services/Supervisor.js"
import { scratch } from "../support/graph.js"
import { testRuntime } from "../support/runtime.js"

const owner = { session: "S", all: false }

describe("recipe report (pure)", () => {
  const entry = (id: string, source: "user" | "packaged", status: CatalogEntry["status"], fingerprint = `fp-${id}`) =>
    new CatalogEntry({ id, source, path: `/${source}/${id}.json`, status, diagnostics: status === "invalid" ? ["broken"] : [], fingerprint })

  it("usage of an older content is not shown; recommendations cover every kind; packaged get none", () => {
    const now = 100 * 24 * 3600 * 1000
    const entries = [
      entry("a", "user", "active"),
      entry("b", "user", "active"),
      entry("c", "user", "active", "fp-new"),
      entry("d", "user", "invalid"),
      entry("e", "user", "disabled"),
      entry("lib", "user", "active"),
      entry("lib", "packaged", "shadowed"),
      entry("pkg", "packaged", "active")
    ]
    const usage = [
      { path: "/user/a.json", calls: 3, last_called: now - 1000, fingerprint: "fp-a", reset_at: null },
      { path: "/user/b.json", calls: 1, last_called: now - 40 * 24 * 3600 * 1000, fingerprint: "fp-b", reset_at: null },
      { path: "/user/c.json", calls: 9, last_called: now - 1000, fingerprint: "fp-old", reset_at: null },
      { path: "/user/lib.json", calls: 2, last_called: now - 1000, fingerprint: "fp-lib", reset_at: null }
    ]
    const rows = Report.reportRows(entries, usage)
    expect(rows.map((r) => [r.id, r.calls])).toEqual([["a", 3], ["b", 1], ["c", 0], ["d", 0], ["e", 0], ["lib", 2], ["lib", 0], ["pkg", 0]])
    const templates = new Map([["a", "T1"], ["b", "T2"], ["c", "T1"], ["lib", "T3"]])
    const recs = Report.recommendations(rows, templates, now)
    expect(recs.map((r) => [r.id, r.kind])).toEqual([
      ["b", "stale"],
      ["c", "never_called"],
      ["d", "invalid"],
      ["e", "disabled"],
      ["lib", "shadows_packaged"],
      ["c", "duplicate"]
    ])
    expect(recs.find((r) => r.kind === "stale")!.text).toBe("b was last called 40 days ago")
  })
})

describe("inspect recipes and tool:<name> (runtime)", () => {
  it.live("launches count per file content, an edit resets the count, and the file is never touched", () => {
    const root = join(scratch("troupe-usage-"), "recipes")
    mkdirSync(root)
    const file = join(root, "hello.json")
    const write = (greeting: string) =>
      writeFileSync(file, JSON.stringify({ description: "Say hello", args: ["who:string=world"], template: `echo ${greeting} {who}` }))
    write("hello")
    writeFileSync(join(root, "bad.json"), JSON.stringify({ description: "x", script: "a.sh", template: "echo" }))
    return Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const inspector = yield* Inspector
      const launch = (n: number) =>
        Effect.forEach(Array.from({ length: n }, (_, i) => i), () =>
          Effect.flatMap(supervisor.spawn(owner, new SpawnRequest({ recipe: "hello" })), (r) => supervisor.wait(owner, r.id)), { discard: true })
      const callsOf = Effect.map(inspector.inspect(owner, "recipes", "status"), (v) =>
        (v.data as { recipes: ReadonlyArray<Report.ReportRow> }).recipes.find((r) => r.id === "hello")!.calls)

      yield* launch(2)
      expect(yield* callsOf).toBe(2)
      const before = readFileSync(file, "utf8")
      write("hi")
      expect(yield* callsOf).toBe(0)
      yield* launch(1)
      expect(yield* callsOf).toBe(1)
      expect(readFileSync(file, "utf8")).not.toBe(before)
      expect(readFileSync(file, "utf8")).not.toContain("usage")

      const status = yield* inspector.inspect(owner, "recipes", "status")
      expect(status.text).toMatch(/^\nrecipes=\d+ active=\d+ /)
      expect(status.text).toContain("id=bad status=invalid source=user")
      const summary = yield* inspector.inspect(owner, "recipes", "summary")
      expect(summary.text).toContain("- invalid fix or delete")
      const doctor = yield* inspector.inspect(owner, "recipes", "doctor")
      expect(doctor.text).toContain(`has a "script" field`)
      expect(doctor.text).toContain("nothing is deleted automatically")

      const tool = yield* inspector.inspect(owner, "tool:hello", undefined)
      expect(tool.view).toBe("status")
      expect(tool.text).toMatch(/^\ntool=hello status=active async=false calls=1 last_called=\d{4}-\d\d-\d\dT/)
      const schema = yield* inspector.inspect(owner, "tool:hello", "schema")
      expect(schema.data).toMatchObject({ type: "object", properties: { who: { type: "string", default: "world" } }, required: [] })

      const err = (target: string, view?: string) => Effect.map(Effect.flip(inspector.inspect(owner, target, view)), (e) => e.message)
      expect(yield* err("tool:hello", "tail")).toBe("inspect view for tool:hello must be one of: status, schema")
      expect(yield* err("recipes", "list")).toBe("inspect view for recipes must be one of: status, summary, doctor")
      expect(yield* err("tool:repo-health")).toContain("tool:repo-health is not a tool: repo-health is a packaged recipe")
      expect(yield* err("tool:bad")).toContain("tool:bad is invalid")
      expect(yield* err("tool:nope")).toBe("Unknown tool: nope (no nope.json in the user root)")
    }).pipe(Effect.provide(testRuntime({ config: { userRecipes: root } })))
  })
})
