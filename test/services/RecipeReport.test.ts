/**
 * `inspect recipes view=status|summary|doctor [id]` and `inspect tool:<name> view=status|schema`
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
import { Recipes } from "../../src/services/Recipes.js"
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

  it("warnings ride along on every row, make no recommendation, and are listed per file", () => {
    const warned = (id: string, source: "user" | "packaged", status: CatalogEntry["status"], warnings?: ReadonlyArray<string>) =>
      new CatalogEntry({ id, source, path: `/${source}/${id}.json`, status, diagnostics: [], ...(warnings === undefined ? {} : { warnings }), fingerprint: `fp-${id}` })
    const rows = Report.reportRows([
      warned("old", "user", "active", [`field "usage" (pi-actors 0.17) is ignored: x`]),
      warned("old", "packaged", "shadowed", [`default "k" is not used by any placeholder`]),
      warned("clean", "user", "active", []),
      warned("unchecked", "user", "active")
    ], [])
    expect(rows.map((r) => r.warnings.length)).toEqual([1, 1, 0, 0])
    expect(Report.warningRows(rows)).toEqual([
      { id: "old", source: "user", status: "active", path: "/user/old.json", warnings: [`field "usage" (pi-actors 0.17) is ignored: x`] },
      { id: "old", source: "packaged", status: "shadowed", path: "/packaged/old.json", warnings: [`default "k" is not used by any placeholder`] }
    ])
    const kinds = Report.recommendations(rows, new Map(), 0).map((r) => [r.id, r.kind])
    expect(kinds).toEqual([["old", "shadows_packaged"], ["old", "never_called"], ["clean", "never_called"], ["unchecked", "never_called"]])
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

  it.live("recipes status/summary/doctor show the warnings recipes doctor prints (tolerated 0.17 fields, unused defaults)", () => {
    const root = join(process.cwd(), "test/fixtures/pi-actors-0.17.1-shapes")
    return Effect.gen(function* () {
      const inspector = yield* Inspector
      // The same warnings as the catalog entries behind `recipes doctor` / `recipes list --json`.
      const entries = (yield* (yield* Recipes).discover()).entries
      const fromCatalog = (id: string) => entries.find((e) => e.id === id && e.source === "user")!.warnings ?? []
      expect(fromCatalog("bound-values")).toHaveLength(4)
      expect(fromCatalog("ask-model")).toEqual([`default "unused_knob" is not used by any placeholder`])
      expect(fromCatalog("derived-paths")).toEqual([])

      const doctor = yield* inspector.inspect(owner, "recipes", "doctor")
      expect(doctor.text).toMatch(/^\nproblems=\d+ warnings=2 recommendations=\d+\n/)
      for (const field of ["usage", "state_dir", "actor_context", "retire_when"]) {
        expect(doctor.text).toContain(`warning: field "${field}" (pi-actors 0.17) is ignored`)
      }
      expect(doctor.text).toContain(`id=ask-model status=active source=user async=true calls=0\n  warning: default "unused_knob" is not used by any placeholder`)
      expect(doctor.text).not.toContain("id=derived-paths")
      const doctorData = doctor.data as { warnings: ReadonlyArray<Report.WarningRow>; problems: ReadonlyArray<Report.ReportRow> }
      expect(doctorData.warnings.map((w) => [w.id, w.warnings])).toEqual([
        ["ask-model", fromCatalog("ask-model")],
        ["bound-values", fromCatalog("bound-values")]
      ])
      expect(doctorData.problems.map((p) => p.id)).not.toContain("bound-values")

      const summary = yield* inspector.inspect(owner, "recipes", "summary")
      expect(summary.text).toMatch(/ warnings=2 recommendations=\d+/)
      expect(summary.text).toContain(`\n- warning ask-model (user): default "unused_knob" is not used by any placeholder`)
      expect(summary.text).toContain(`\n- warning bound-values (user): field "usage" (pi-actors 0.17) is ignored: troupe records usage in its store (inspect tool:<id>), never in the file (+3 more: view=doctor lists them)`)
      const summaryData = summary.data as { warnings: ReadonlyArray<Report.WarningRow>; recommendations: ReadonlyArray<Report.Recommendation> }
      expect(summaryData.warnings).toEqual(doctorData.warnings)
      // Warnings are not cleanup advice: no recommendation is about them.
      expect(summaryData.recommendations.length).toBeGreaterThan(0)
      expect(summaryData.recommendations.filter((r) => /unused_knob|pi-actors 0\.17/.test(r.text))).toEqual([])

      const status = yield* inspector.inspect(owner, "recipes", "status")
      expect(status.text).toContain(`id=bound-values status=active source=user calls=0\n  warning: field "usage" (pi-actors 0.17) is ignored`)
      const rows = (status.data as { recipes: ReadonlyArray<Report.ReportRow> }).recipes
      expect(rows.find((r) => r.id === "derived-paths")!.warnings).toEqual([])

      // doctor for one id: that id's files alone, with their warnings (like `recipes doctor <id>`).
      const one = yield* inspector.inspect(owner, "recipes", "doctor", { id: "bound-values" })
      expect(one.text).toMatch(/^\nid=bound-values problems=0 warnings=1 recommendations=1\nid=bound-values status=active source=user calls=0\n  warning: field "usage"/)
      expect(one.text).not.toContain("ask-model")
      expect((one.data as { files: ReadonlyArray<Report.ReportRow> }).files.map((f) => f.warnings)).toEqual([fromCatalog("bound-values")])
      const clean = yield* inspector.inspect(owner, "recipes", "doctor", { id: "derived-paths" })
      expect(clean.text).toMatch(/^\nid=derived-paths problems=0 warnings=0 recommendations=1\nid=derived-paths status=active source=user calls=0\n- never_called /)
      const err = (target: string, view: string, id: string) => Effect.map(Effect.flip(inspector.inspect(owner, target, view, { id })), (e) => [e.reason, e.message])
      expect(yield* err("recipes", "doctor", "nope")).toEqual(["not_found", "no recipe file is named nope.json in the user root or the packaged library"])
      expect(yield* err("recipes", "summary", "ask-model")).toEqual(["invalid", "id applies only to inspect recipes view=doctor (got view=summary)"])
      expect(yield* err("tool:ask-model", "status", "ask-model")).toEqual(["invalid", "id applies only to inspect recipes view=doctor (got target tool:ask-model)"])
    }).pipe(Effect.provide(testRuntime({ config: { userRecipes: root } })))
  })
})
