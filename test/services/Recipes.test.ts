/**
 * Recipe discovery and resolution across roots (SPEC-runtime §2): identity from the filename,
 * shadowing, invalid and disabled files blocking fallback, rejected fields, validation of
 * defaults at load, and robustness against arbitrary JSON in the user root.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Queue, Stream } from "effect"
import * as fc from "fast-check"
import { execFileSync } from "node:child_process"
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Config from "../../src/layers/Config.js"
import { CommandGraph, flattenPlan } from "../../src/services/CommandGraph.js"
import { recipeTool } from "../../src/pi/RecipeTools.js"
import { deeperThan, maxRecipeDepth } from "../../src/domain/JsonDepth.js"
import { Recipes } from "../../src/services/Recipes.js"
import { graphLayer, scratch } from "../support/graph.js"

interface Roots {
  readonly user: string
  readonly packaged: string
}

const roots = (): Roots => {
  const base = scratch("troupe-recipes-")
  const r = { user: join(base, "user"), packaged: join(base, "packaged") }
  mkdirSync(r.user, { recursive: true })
  mkdirSync(r.packaged, { recursive: true })
  return r
}

const write = (dir: string, name: string, content: unknown) =>
  writeFileSync(join(dir, name), typeof content === "string" ? content : JSON.stringify(content, null, 2))

const recipesOn = (r: Roots) =>
  Recipes.Default.pipe(
    Layer.provide(Config.layer({ userRecipes: r.user, packagedRecipes: r.packaged })),
    Layer.provide(NodeContext.layer)
  )

const withRecipes = <A, E>(r: Roots, f: (recipes: Recipes) => Effect.Effect<A, E>) =>
  Effect.flatMap(Recipes, f).pipe(Effect.provide(recipesOn(r)))

const echo = (description: string, extra: Record<string, unknown> = {}) => ({ description, ...extra, template: "echo {msg=hi}" })

describe("recipe discovery", () => {
  it.effect("the user root shadows a packaged recipe of the same id; ids come from file names", () => {
    const r = roots()
    write(r.packaged, "greet.json", echo("packaged greet"))
    write(r.user, "greet.json", echo("user greet"))
    write(r.packaged, "only_packaged.json", echo("component"))
    return withRecipes(r, (recipes) =>
      Effect.gen(function* () {
        const list = yield* recipes.list
        expect(list.map((e) => [e.id, e.source, e.status])).toEqual([
          ["greet", "user", "active"],
          ["greet", "packaged", "shadowed"],
          ["only_packaged", "packaged", "active"]
        ])
        expect(list[1]!.shadowed_by).toBe(join(r.user, "greet.json"))
        const greet = yield* recipes.resolve("greet")
        expect(greet.file.description).toBe("user greet")
        expect(greet.source).toBe("user")
        expect((yield* recipes.resolve("only_packaged")).source).toBe("packaged")
      })
    )
  })

  it.effect("an invalid user recipe stays visible and blocks the packaged fallback", () => {
    const r = roots()
    write(r.packaged, "review.json", echo("fine"))
    write(r.user, "review.json", { description: "broken", args: ["n:bogus"], template: "echo {n}" })
    return withRecipes(r, (recipes) =>
      Effect.gen(function* () {
        const list = yield* recipes.list
        expect(list.map((e) => [e.source, e.status])).toEqual([["user", "invalid"], ["packaged", "shadowed"]])
        expect(list[0]!.diagnostics.join(" ")).toBe("Recipe review: Unknown argument type for n: bogus. Valid types: string, path, int, number, bool, array, enum.")
        const err = yield* Effect.flip(recipes.resolve("review"))
        expect(err.reason).toBe("invalid")
        expect(err.message).toContain("it blocks the lower-priority recipe with the same id")
      })
    )
  })

  it.effect("disabled blocks and turns the id off", () => {
    const r = roots()
    write(r.packaged, "tool.json", echo("packaged"))
    write(r.user, "tool.json", echo("off", { disabled: true }))
    return withRecipes(r, (recipes) =>
      Effect.gen(function* () {
        expect((yield* recipes.list).map((e) => e.status)).toEqual(["disabled", "shadowed"])
        const err = yield* Effect.flip(recipes.resolve("tool"))
        expect(err.reason).toBe("disabled")
      })
    )
  })

  it.effect("tool and script fields, a name mismatch and bad file names are rejected with guidance", () => {
    const r = roots()
    write(r.user, "a.json", { description: "x", tool: "a", template: "echo" })
    write(r.user, "b.json", { description: "x", script: "./b.sh", template: "echo" })
    write(r.user, "c.json", { name: "other", description: "x", template: "echo" })
    write(r.user, "bad name.json", echo("x"))
    write(r.user, "notes.txt", "not a recipe")
    return withRecipes(r, (recipes) =>
      Effect.gen(function* () {
        const list = yield* recipes.list
        expect(list.map((e) => [e.id, e.status])).toEqual([["a", "invalid"], ["b", "invalid"], ["bad name", "invalid"], ["c", "invalid"]])
        const messages = list.map((e) => e.diagnostics[0])
        expect(messages[0]).toContain(`has a "tool" field; the filename is the tool name`)
        expect(messages[1]).toContain(`has a "script" field; put the command in "template"`)
        expect(messages[2]).toContain("Invalid recipe file name bad name.json")
        expect(messages[3]).toContain(`has name "other"; the name must equal the filename (c)`)
      })
    )
  })

  it.effect("defaults are a free map: typed ones are checked, unused ones are warnings, derived ones are values", () => {
    const r = roots()
    write(r.user, "typo.json", { description: "x", args: ["scope:string"], defaults: { scop: "a" }, template: "echo {scope}" })
    write(r.user, "derived.json", {
      args: ["lenses:array", "n:int"],
      defaults: { lenses: ["a", "b"], n: "{lenses.length}", directory: "{repo}/{docs_dir}", repo: "/r", docs_dir: "docs" },
      template: { template: "echo {n} {directory}", defaults: { inner: "{repo}" } }
    })
    write(r.user, "int.json", { description: "x", args: ["n:int"], defaults: { n: "many" }, template: "echo {n}" })
    write(r.user, "enum.json", { description: "x", args: ["mode:enum(fast,slow)"], defaults: { mode: "medium" }, template: "echo {mode}" })
    write(r.user, "ok.json", { description: "x", args: ["mode:enum(fast,slow)=fast", "n:int"], defaults: { n: 3, state_dir: "/x" }, template: "echo {mode} {n} {extra=1}" })
    return withRecipes(r, (recipes) =>
      Effect.gen(function* () {
        const byId = Object.fromEntries((yield* recipes.list).map((e) => [e.id, e]))
        // pi-actors 0.45+ rejected an unused default; 0.17 did not: it is a doctor warning.
        expect(byId.typo!.status).toBe("active")
        expect(byId.typo!.warnings).toEqual([`default "scop" is not used by any placeholder`])
        // A default naming no declared argument is a derived value; a typed default holding a
        // placeholder is checked once expanded; a value used only by another default is used.
        expect(byId.derived!.status).toBe("active")
        expect(byId.derived!.warnings).toEqual([])
        expect(byId.int!.status).toBe("invalid")
        expect(byId.int!.diagnostics).toEqual(["Recipe int: default of n: Argument n must be an integer."])
        expect(byId.enum!.status).toBe("invalid")
        expect(byId.enum!.diagnostics).toEqual(["Recipe enum: default of mode: Argument mode must be one of: fast, slow."])
        expect(byId.ok!.diagnostics).toEqual([])
        expect(byId.ok!.status).toBe("active")
      })
    )
  })

  it.effect("unknown ids and missing roots are clear errors", () => {
    const r = { user: join(scratch(), "missing"), packaged: join(scratch(), "also-missing") }
    return withRecipes(r, (recipes) =>
      Effect.gen(function* () {
        expect(yield* recipes.list).toEqual([])
        const err = yield* Effect.flip(recipes.resolve("nope"))
        expect(err.reason).toBe("not_found")
        expect(err.message).toContain(`Unknown recipe: nope (looked in ${r.user} and ${r.packaged})`)
      })
    )
  })

  it.effect("an explicitly referenced file resolves to itself", () => {
    const r = roots()
    const elsewhere = scratch()
    write(elsewhere, "mine.json", echo("explicit"))
    write(r.user, "mine.json", echo("user"))
    return withRecipes(r, (recipes) =>
      Effect.gen(function* () {
        const got = yield* recipes.resolve(join(elsewhere, "mine.json"))
        expect(got.source).toBe("explicit")
        expect(got.file.description).toBe("explicit")
      })
    )
  })

  it.effect.prop(
    "arbitrary JSON in the user root never breaks discovery of the valid recipes",
    [fc.array(fc.tuple(fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/), fc.oneof(fc.json(), fc.string())), { maxLength: 6 })],
    ([junk]) => {
      const r = roots()
      write(r.user, "valid_one.json", echo("kept"))
      write(r.packaged, "valid_two.json", echo("kept too"))
      for (const [name, text] of junk) if (name !== "valid_one") write(r.user, `${name}.json`, text)
      return withRecipes(r, (recipes) =>
        Effect.gen(function* () {
          const list = yield* recipes.list
          expect(list.find((e) => e.id === "valid_one")?.status).toBe("active")
          if (!junk.some(([n]) => n === "valid_two")) expect(list.find((e) => e.id === "valid_two")?.status).toBe("active")
          expect((yield* recipes.resolve("valid_one")).file.description).toBe("kept")
        })
      ).pipe(Effect.ensuring(Effect.sync(() => rmSync(join(r.user, ".."), { recursive: true, force: true }))))
    },
    { fastCheck: { numRuns: 40 } }
  )
})

/** `{"template": {"template": … "echo deep" …}}`, `levels` objects deep (built as text: no recursion). */
const nested = (levels: number) => `${'{"template":'.repeat(levels)}"echo deep"${"}".repeat(levels)}`

describe("recipe files that are not plain, shallow JSON files (issue 18 items 3, 4)", () => {
  it.live("a FIFO, a symlink to /dev/zero and a directory named x.json are one diagnostic each; the good recipes stay listed", () => {
    const r = roots()
    write(r.user, "good.json", echo("kept"))
    write(r.user, "linked_target.txt", JSON.stringify(echo("through a link")))
    symlinkSync(join(r.user, "linked_target.txt"), join(r.user, "linked.json"))
    execFileSync("mkfifo", [join(r.user, "fifo.json")])
    symlinkSync("/dev/zero", join(r.user, "zero.json"))
    mkdirSync(join(r.user, "dir.json"))
    return withRecipes(r, (recipes) =>
      Effect.gen(function* () {
        // The FIFO has no writer: a blocking open would never return, so the bound is the check.
        const list = yield* recipes.list.pipe(Effect.timeout("10 seconds"))
        const byId = Object.fromEntries(list.map((e) => [e.id, e]))
        // Positive controls: a plain file and a symlink to a regular file are read.
        expect(byId.good!.status).toBe("active")
        expect(byId.linked!.status).toBe("active")
        expect(byId.linked!.description).toBe("through a link")
        expect(byId.fifo!.status).toBe("invalid")
        expect(byId.fifo!.diagnostics).toEqual([`Recipe fifo is skipped: ${join(r.user, "fifo.json")} is a FIFO, not a regular file; only regular files are read`])
        expect(byId.zero!.status).toBe("invalid")
        expect(byId.zero!.diagnostics).toEqual([`Recipe zero is skipped: ${join(r.user, "zero.json")} is a symlink to a device, not a regular file; only regular files are read`])
        expect(byId.dir!.status).toBe("invalid")
        expect(byId.dir!.diagnostics[0]).toContain("is a directory, not a regular file")
        expect((yield* Effect.flip(recipes.resolve("zero"))).reason).toBe("invalid")
      })
    )
  })

  it.effect("the 1 MiB limit counts the bytes read, also through a symlink", () => {
    const r = roots()
    const big = join(r.user, "big.txt")
    writeFileSync(big, `{"template": "echo ${"x".repeat(1024 * 1024)}"}`)
    symlinkSync(big, join(r.user, "big.json"))
    write(r.user, "small.json", echo("kept"))
    return withRecipes(r, (recipes) =>
      Effect.gen(function* () {
        const list = yield* recipes.list
        expect(list.find((e) => e.id === "small")?.status).toBe("active")
        expect(list.find((e) => e.id === "big")?.diagnostics).toEqual([`Recipe big is larger than 1 MiB: ${join(r.user, "big.json")}`])
      })
    )
  })

  it.effect("a recipe nested 1,000 levels deep is invalid with one sentence; 64 levels still load", () => {
    const r = roots()
    write(r.user, "deep.json", nested(1000))
    write(r.user, "edge.json", nested(maxRecipeDepth))
    write(r.user, "over.json", nested(maxRecipeDepth + 1))
    write(r.user, "good.json", echo("kept"))
    return withRecipes(r, (recipes) =>
      Effect.gen(function* () {
        const list = yield* recipes.list
        const byId = Object.fromEntries(list.map((e) => [e.id, e]))
        expect(byId.good!.status).toBe("active")
        expect(byId.deep!.status).toBe("invalid")
        expect(byId.deep!.diagnostics).toEqual(["Recipe deep is nested deeper than 64 levels"])
        expect(byId.over!.diagnostics).toEqual(["Recipe over is nested deeper than 64 levels"])
        // The deepest accepted file is not only decoded but planned (GraphPlan walks it too).
        expect(byId.edge!.status).toBe("active")
        expect(yield* planned(recipes, "edge")).toEqual(["echo deep"])
        const err = yield* Effect.flip(recipes.check(join(r.user, "new.json"), nested(1000), "user"))
        expect(err.message).toBe("Recipe new is nested deeper than 64 levels")
      })
    )
  })

  it.effect("a chain of imports, each file within 64 levels, is bounded at 256 levels once inlined", () => {
    const r = roots()
    // part_i nests 60 levels around an import node of part_{i+1}; the last one is a leaf.
    const wrap = (inner: string) => `${'{"template":'.repeat(60)}${inner}${"}".repeat(60)}`
    const parts = 6
    for (let i = 0; i < parts; i++) {
      const body = i === parts - 1 ? `"echo end"` : `{"name":"next"}`
      const imports = i === parts - 1 ? "" : `"imports":{"next":"part_${i + 1}"},`
      write(r.user, `part_${i}.json`, `{${imports}"template":${wrap(body)}}`)
    }
    return withRecipes(r, (recipes) =>
      Effect.gen(function* () {
        const list = yield* recipes.list
        const byId = Object.fromEntries(list.map((e) => [e.id, e]))
        // Positive controls: the short end of the chain links (4 × ~61 levels).
        expect(byId.part_5!.status).toBe("active")
        expect(byId.part_2!.status).toBe("active")
        // part_1 inlines 5 × 61 levels: too deep; part_0 reports it through its import.
        expect(byId.part_1!.diagnostics).toEqual(["Recipe part_1 with its imports is nested deeper than 256 levels"])
        expect(byId.part_0!.status).toBe("invalid")
        expect(byId.part_0!.diagnostics[0]).toContain("Recipe part_1 with its imports is nested deeper than 256 levels")
      })
    )
  })

  it("deeperThan counts arrays and objects without recursion", () => {
    expect(deeperThan("x", 0)).toBe(false)
    expect(deeperThan([], 0)).toBe(true)
    expect(deeperThan({ a: [{ b: 1 }] }, 3)).toBe(false)
    expect(deeperThan({ a: [{ b: 1 }] }, 2)).toBe(true)
    expect(deeperThan(JSON.parse(`${"[".repeat(100_000)}${"]".repeat(100_000)}`), 64)).toBe(true)
  })
})

/** The argv of every leaf a resolved recipe plans to, with runtime `values`. */
const planned = (recipes: Recipes, id: string, values: Record<string, unknown> = {}) =>
  Effect.gen(function* () {
    const recipe = yield* recipes.resolve(id)
    const graph = yield* CommandGraph
    const plan = yield* graph.plan(recipe.template, { values: { recipe_dir: recipe.dir, ...values }, args: recipe.args, defaults: recipe.defaults, cwd: "/" })
    return flattenPlan(plan).map((l) => l.argv.join(" "))
  }).pipe(Effect.provide(graphLayer))

describe("recipe imports", () => {
  const greet = {
    description: "greet",
    args: ["who:string=world", "punct=!"],
    defaults: { greeting: "hello" },
    template: "echo {greeting} {who}{punct}"
  }

  it.effect("import nodes embed the imported template; values beat runtime values beat defaults", () => {
    const r = roots()
    write(r.user, "greet.json", greet)
    write(r.user, "wrap.json", {
      description: "wrapper",
      args: ["who:string=outer"],
      imports: { g: "greet.json", bound: { from: "greet", values: { who: "declared" } } },
      template: [
        { name: "g" },
        { name: "g", values: { who: "node" } },
        { name: "bound" },
        { name: "bound", values: { greeting: "hi", who: "{who}-too" }, label: "last" }
      ]
    })
    return withRecipes(r, (recipes) =>
      Effect.gen(function* () {
        // `who` is a runtime value of the wrapper: it wins over the imported default only.
        expect(yield* planned(recipes, "wrap", { who: "cli" })).toEqual([
          "echo hello cli!",
          "echo hello node!",
          "echo hello declared!",
          "echo hi cli-too!"
        ])
        // Without a runtime value the wrapper's declared default is a default like any other:
        // the imported recipe's own default (child) wins inside the import.
        expect(yield* planned(recipes, "wrap")).toEqual(["echo hello world!", "echo hello node!", "echo hello declared!", "echo hi outer-too!"])
        const wrap = yield* recipes.resolve("wrap")
        expect(wrap.imports.map((i) => [i.alias, i.id])).toEqual([["g", "greet"], ["bound", "greet"]])
      })
    )
  })

  it.effect("an imported recipe brings its root node fields; binding defaults and recipe values bind; descriptions are generated", () => {
    const r = roots()
    write(r.user, "greet.json", greet)
    write(r.user, "fan.json", { args: ["items:array"], defaults: { items: ["a", "b"] }, repeat: "{items.length}", parallel: true, template: "echo {items[index]}" })
    write(r.user, "pick.json", { imports: { f: "fan.json" }, template: { name: "f", values: { items: ["x", "y", "z"] } } })
    write(r.user, "bind.json", { imports: { g: { from: "greet", defaults: { greeting: "hey" } } }, template: { name: "g" } })
    const { description: _d, ...undescribed } = greet
    write(r.user, "valued.json", { ...undescribed, values: { greeting: "yo" } })
    write(r.user, "usev.json", { async: true, imports: { v: "valued.json" }, template: { name: "v" } })
    return withRecipes(r, (recipes) =>
      Effect.gen(function* () {
        expect(yield* planned(recipes, "fan")).toEqual(["echo a", "echo b"])
        expect(yield* planned(recipes, "pick")).toEqual(["echo x", "echo y", "echo z"])
        expect(yield* planned(recipes, "bind")).toEqual(["echo hey world!"])
        expect(yield* planned(recipes, "usev")).toEqual(["echo yo world!"])
        const fan = yield* recipes.resolve("fan")
        expect(fan.description).toBe("Run recipe fan (items).")
        expect(recipeTool("fan", fan, undefined as never).description).toBe("Run recipe fan (items).")
        // No `args` of its own: the arguments of its JSON Schema (the imported recipe's).
        expect((yield* recipes.resolve("usev")).description).toMatch(/^Start recipe usev as a background run \(.*\bwho\b.*\)\.$/)
        expect((yield* recipes.resolve("greet")).description).toBe("greet")
        expect((yield* recipes.resolve("valued")).values).toEqual({ greeting: "yo" })
      })
    )
  })

  it.effect("reference forms resolve before the template runs", () => {
    const r = roots()
    write(r.user, "greet.json", greet)
    write(r.user, "refs.json", {
      description: "references",
      imports: { g: { from: "./greet.json", values: { loud: "yes", quiet: "no" } } },
      defaults: { base: "{g.defaults.greeting}-base" },
      template: "echo {g.name} {g.defaults.greeting} {g.defaults.who} {g.defaults.missing=fb} {g.values.loud?LOUD:soft} {g.values.quiet?LOUD:soft} {g.values.absent?x:y} {base} {{g.name}}"
    })
    write(r.user, "badref.json", { description: "x", imports: { g: "greet.json" }, template: "echo {g.values.nope}" })
    write(r.user, "noalias.json", { description: "x", template: "echo {h.name}" })
    return withRecipes(r, (recipes) =>
      Effect.gen(function* () {
        expect(yield* planned(recipes, "refs")).toEqual(["echo greet hello world fb LOUD soft y hello-base {g.name}"])
        const bad = yield* Effect.flip(recipes.resolve("badref"))
        expect(bad.reason).toBe("import")
        expect(bad.message).toContain("Unknown recipe import reference: {g.values.nope} (g has no value nope)")
        expect((yield* Effect.flip(recipes.resolve("noalias"))).message).toContain("Unknown recipe import: h")
      })
    )
  })

  it.effect("unknown, missing, cyclic and too deep imports are diagnostics of the importing recipe", () => {
    const r = roots()
    write(r.user, "a.json", { description: "a", imports: { b: "b.json" }, template: { name: "b" } })
    write(r.user, "b.json", { description: "b", imports: { c: "c.json" }, template: { name: "c" } })
    write(r.user, "c.json", { description: "c", imports: { a: "a.json" }, template: { name: "a" } })
    write(r.user, "undeclared.json", { description: "x", template: ["echo 1", { name: "helper" }] })
    write(r.user, "missing.json", { description: "x", imports: { m: "nowhere.json" }, template: { name: "m" } })
    for (let i = 0; i <= 33; i++) {
      write(r.user, `d${i}.json`, i === 33 ? { description: "leaf", template: "echo deep" } : { description: "chain", imports: { next: `d${i + 1}` }, template: { name: "next" } })
    }
    write(r.user, "off.json", { description: "off", disabled: true, template: "echo off" })
    write(r.user, "uses_off.json", { description: "x", imports: { o: "off" }, template: { name: "o" } })
    return withRecipes(r, (recipes) =>
      Effect.gen(function* () {
        const byId = Object.fromEntries((yield* recipes.list).map((e) => [e.id, e]))
        expect(byId.a!.status).toBe("invalid")
        expect(byId.a!.diagnostics[0]).toBe("Cyclic recipe import: a -> b -> c -> a")
        expect(byId.b!.diagnostics[0]).toBe("Cyclic recipe import: b -> c -> a -> b")
        expect(byId.undeclared!.diagnostics[0]).toContain("Unknown recipe import: helper (the recipe declares no imports)")
        expect(byId.missing!.diagnostics[0]).toContain("Unknown recipe import: m (nowhere.json not found")
        expect(byId.d0!.diagnostics[0]).toMatch(/^Recipe import depth exceeds 32: d0 -> d1 -> .* -> d33$/)
        expect(byId.d1!.status).toBe("active")
        expect(byId.uses_off!.diagnostics[0]).toContain("imports o, which is disabled")
        expect((yield* Effect.flip(recipes.resolve("a"))).reason).toBe("import")
      })
    )
  })

  it.effect("a recipe whose template is a recipe file follows it: template, args, async mode, recipe_dir", () => {
    const r = roots()
    mkdirSync(join(r.packaged, "scripts"))
    write(r.packaged, "subagent.json", {
      description: "component",
      async: true,
      args: ["prompt:string", "model:string=m1"],
      template: "{recipe_dir}/scripts/run.sh {model} {prompt}"
    })
    write(r.user, "ask.json", { description: "my tool", defaults: { model: "m2" }, template: "subagent.json" })
    write(r.user, "ask_sync.json", { description: "my sync tool", async: false, template: "subagent.json" })
    return withRecipes(r, (recipes) =>
      Effect.gen(function* () {
        const ask = yield* recipes.resolve("ask")
        expect(ask.async).toBe(true)
        expect(ask.imports).toEqual([{ alias: "template", id: "subagent", path: join(r.packaged, "subagent.json") }])
        expect(yield* planned(recipes, "ask", { prompt: "say hi" })).toEqual([`bash ${join(r.packaged, "scripts/run.sh")} m2 say hi`])
        expect((yield* recipes.resolve("ask_sync")).async).toBe(false)
        const entry = (yield* recipes.list).find((e) => e.id === "ask")!
        expect(entry.async).toBe(true)
      })
    )
  })

  it.effect("imports resolve relative to the importing file and by id through the roots; a file's fingerprint is its content hash", () => {
    const r = roots()
    mkdirSync(join(r.user, "parts"))
    write(join(r.user, "parts"), "piece.json", { description: "piece", template: "echo piece" })
    write(r.packaged, "lib.json", { description: "lib", template: "echo lib" })
    write(r.user, "both.json", { description: "x", imports: { p: "parts/piece.json", l: "lib" }, template: [{ name: "p" }, { name: "l" }] })
    return withRecipes(r, (recipes) =>
      Effect.gen(function* () {
        expect(yield* planned(recipes, "both")).toEqual(["echo piece", "echo lib"])
        const both = yield* recipes.resolve("both")
        expect(both.fingerprint).toMatch(/^[0-9a-f]{64}$/)
        write(r.user, "both.json", { description: "y", imports: { p: "parts/piece.json", l: "lib" }, template: [{ name: "p" }, { name: "l" }] })
        expect((yield* recipes.resolve("both")).fingerprint).not.toBe(both.fingerprint)
      })
    )
  })
})

describe("recipe root watcher", () => {
  it.live("changes under the user root take effect without a restart: added, broken, fixed, removed", () => {
    const base = scratch("troupe-watch-")
    const r = { user: join(base, "user"), packaged: join(base, "packaged") }
    mkdirSync(r.packaged, { recursive: true })
    return withRecipes(r, (recipes) =>
      Effect.scoped(Effect.gen(function* () {
        const seen = yield* Queue.unbounded<ReadonlyArray<string>>()
        yield* recipes.watch(50).pipe(
          Stream.runForEach((entries) => Queue.offer(seen, entries.map((e) => `${e.id}:${e.status}`))),
          Effect.forkScoped
        )
        const next = Queue.take(seen).pipe(Effect.timeout("10 seconds"))
        expect(yield* next).toEqual([])
        // The root does not exist yet: it is picked up when it appears.
        mkdirSync(r.user)
        write(r.user, "one.json", echo("one"))
        expect(yield* next).toEqual(["one:active"])
        write(r.user, "one.json", "{ broken")
        expect(yield* next).toEqual(["one:invalid"])
        write(r.user, "one.json", echo("fixed"))
        expect(yield* next).toEqual(["one:active"])
        rmSync(join(r.user, "one.json"))
        expect(yield* next).toEqual([])
      }))
    )
  })
})
