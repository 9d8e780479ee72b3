/**
 * The tool registry (SPEC-runtime §2 `register_tool`): create / update / delete / list of
 * user-root recipe files, name rules, reserved names, validation before any write, atomic and
 * concurrent writes.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Config from "../../src/layers/Config.js"
import { Recipes } from "../../src/services/Recipes.js"
import { decodeRegisterInput, Registry, splitArgs } from "../../src/services/Registry.js"
import { scratch } from "../support/graph.js"

const roots = () => {
  const base = scratch("troupe-registry-")
  const r = { user: join(base, "user"), packaged: join(base, "packaged") }
  mkdirSync(r.packaged, { recursive: true })
  return r
}

const on = (r: { user: string; packaged: string }) =>
  Layer.mergeAll(Registry.Default, Recipes.Default).pipe(
    Layer.provide(Config.layer({ userRecipes: r.user, packagedRecipes: r.packaged })),
    Layer.provide(NodeContext.layer)
  )

const register = (params: Record<string, unknown>) =>
  Effect.flatMap(decodeRegisterInput(params), (input) => Effect.flatMap(Registry, (reg) => reg.register(input)))

const fileOf = (r: { user: string }, name: string) => JSON.parse(readFileSync(join(r.user, `${name}.json`), "utf8")) as Record<string, unknown>

describe("registry", () => {
  it.effect("create, update (null removes a field), list and delete user-root tools", () => {
    const r = roots()
    return Effect.gen(function* () {
      const created = yield* register({ name: "word_count", description: "Count words", args: "file:path,mode:enum(lines,words)=words", template: "wc -w {file}" })
      expect(created.action).toBe("created")
      expect(Object.keys(fileOf(r, "word_count"))).toEqual(["description", "args", "template"])
      expect(fileOf(r, "word_count").args).toEqual(["file:path", "mode:enum(lines,words)=words"])

      const updated = yield* register({ name: "word_count", update: true, async: true, defaults: { mode: "lines" }, template: "wc -l {file}" })
      expect(updated.action).toBe("updated")
      expect(updated.async).toBe(true)
      const file = fileOf(r, "word_count")
      expect(Object.keys(file)).toEqual(["description", "async", "args", "defaults", "template"])
      expect(file.description).toBe("Count words")
      expect(file.template).toBe("wc -l {file}")

      yield* register({ name: "word_count", update: true, defaults: null })
      expect(fileOf(r, "word_count").defaults).toBeUndefined()

      const listed = yield* Effect.flatMap(Registry, (reg) => reg.list)
      expect(listed.map((e) => [e.id, e.status, e.async])).toEqual([["word_count", "active", true]])

      const deleted = yield* register({ name: "word_count", template: null })
      expect(deleted.action).toBe("deleted")
      expect(existsSync(join(r.user, "word_count.json"))).toBe(false)
    }).pipe(Effect.provide(on(r)))
  })

  it.effect("name rules, reserved names and conflicts are typed errors that write nothing", () => {
    const r = roots()
    return Effect.gen(function* () {
      const reason = (params: Record<string, unknown>) => Effect.map(Effect.flip(register(params)), (e) => [e.reason, e.message] as const)
      expect(yield* reason({ name: "Word", description: "x", template: "echo" })).toEqual(["rejected", `Tool name "Word" is invalid: tool names match ^[a-z][a-z0-9_]*$`])
      expect((yield* reason({ name: "9lives", description: "x", template: "echo" }))[0]).toBe("rejected")
      for (const name of ["spawn", "message", "inspect", "register_tool", "bash", "read", "bg_start", "vers_vm_create"]) {
        expect(yield* reason({ name, description: "x", template: "echo" })).toEqual(["rejected", `Tool name ${name} is reserved (it would shadow a built-in or core tool)`])
      }
      expect((yield* reason({ name: "nope", update: true, description: "x" }))[0]).toBe("conflict")
      expect((yield* reason({ name: "nope", template: null }))[0]).toBe("conflict")
      yield* register({ name: "twice", description: "x", template: "echo" })
      expect((yield* reason({ name: "twice", description: "y", template: "echo" }))[1]).toContain("Tool twice already exists")
      expect(readdirSync(r.user).filter((f) => f.endsWith(".json"))).toEqual(["twice.json"])
      const bad = yield* Effect.flip(decodeRegisterInput({ name: "x", template: "echo", colour: "red" }))
      expect(bad.message).toContain("colour")
    }).pipe(Effect.provide(on(r)))
  })

  it.effect("an invalid registration writes nothing and an invalid update keeps the old file", () => {
    const r = roots()
    return Effect.gen(function* () {
      yield* register({ name: "keep", description: "fine", args: ["n:int=1"], template: "echo {n}" })
      const before = readFileSync(join(r.user, "keep.json"), "utf8")
      const e1 = yield* Effect.flip(register({ name: "keep", update: true, defaults: { n: "many" } }))
      expect(e1.reason).toBe("invalid")
      expect(e1.message).toContain("Argument n must be an integer.")
      const e2 = yield* Effect.flip(register({ name: "fresh", description: "x", template: { name: "helper" } }))
      expect(e2.reason).toBe("import")
      const e3 = yield* Effect.flip(register({ name: "fresh", template: "echo", failure: 5 }))
      expect(e3.message).toBe(`Recipe fresh: field "failure" must be a string (got 5)`)
      const e4 = yield* Effect.flip(register({ name: "fresh", template: "echo", tmeout: 5 }))
      expect(e4.message).toBe(`Invalid register_tool parameters: unknown field "tmeout"`)
      expect(readFileSync(join(r.user, "keep.json"), "utf8")).toBe(before)
      expect(readdirSync(r.user).sort()).toEqual(["keep.json"])
    }).pipe(Effect.provide(on(r)))
  })

  it.live("updating a tool whose file is a FIFO or a /dev/zero symlink fails at once with one sentence", () => {
    const r = roots()
    mkdirSync(r.user, { recursive: true })
    execFileSync("mkfifo", [join(r.user, "fifo.json")])
    symlinkSync("/dev/zero", join(r.user, "zero.json"))
    return Effect.gen(function* () {
      // Positive control: a regular file updates.
      yield* register({ name: "plain", description: "x", template: "echo x" })
      yield* register({ name: "plain", update: true, description: "y" })
      expect(fileOf(r, "plain").description).toBe("y")
      const fifo = yield* Effect.flip(register({ name: "fifo", update: true, description: "y" })).pipe(Effect.timeout("10 seconds"))
      expect(fifo.message).toBe(`Cannot update fifo: ${join(r.user, "fifo.json")} is a FIFO, not a regular file; only regular files are read`)
      const zero = yield* Effect.flip(register({ name: "zero", update: true, description: "y" })).pipe(Effect.timeout("10 seconds"))
      expect(zero.message).toBe(`Cannot update zero: ${join(r.user, "zero.json")} is a symlink to a device, not a regular file; only regular files are read`)
    }).pipe(Effect.provide(on(r)))
  })

  it.effect("a registered tool may point at a recipe file and follows its async mode", () => {
    const r = roots()
    writeFileSync(join(r.packaged, "subagent-prompt.json"), JSON.stringify({ description: "component", async: true, args: ["prompt:string"], template: "echo {prompt}" }))
    return Effect.gen(function* () {
      const res = yield* register({ name: "ask", description: "Ask", template: "subagent-prompt.json", defaults: { prompt: "hi" } })
      expect(res.async).toBe(true)
      const ask = yield* Effect.flatMap(Recipes, (rs) => rs.resolve("ask"))
      expect(ask.async).toBe(true)
      expect(ask.imports[0]!.id).toBe("subagent-prompt")
    }).pipe(Effect.provide(on(r)))
  })

  it.effect("concurrent registrations of different names all land", () => {
    const r = roots()
    const names = Array.from({ length: 40 }, (_, i) => `tool_${i}`)
    return Effect.gen(function* () {
      yield* Effect.forEach(names, (name) => register({ name, description: `tool ${name}`, template: `echo ${name}` }), { concurrency: "unbounded", discard: true })
      const files = readdirSync(r.user).filter((f) => f.endsWith(".json")).sort()
      expect(files).toEqual(names.map((n) => `${n}.json`).sort())
      for (const n of names) expect(fileOf(r, n).template).toBe(`echo ${n}`)
      // Concurrent updates of one tool serialize: none is lost.
      yield* register({ name: "counter", description: "0", template: "echo", defaults: {} })
      yield* Effect.forEach(names, (name) => register({ name: "counter", update: true, description: name }), { concurrency: "unbounded", discard: true })
      expect(names).toContain(fileOf(r, "counter").description)
    }).pipe(Effect.provide(on(r)))
  })

  it("splitArgs keeps commas inside parentheses", () => {
    expect(splitArgs("a:int, mode:enum(x,y)=x ,b")).toEqual(["a:int", "mode:enum(x,y)=x", "b"])
    expect(splitArgs("")).toEqual([])
  })
})
