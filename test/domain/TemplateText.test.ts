/**
 * Property tests of the template text layer: splitting and substitution never throw a defect,
 * and values with shell metacharacters always land as exactly one argv element (checked by
 * running them).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as fc from "fast-check"
import { TemplateError } from "../../src/domain/Template.js"
import * as Text from "../../src/domain/TemplateText.js"
import { CommandGraph } from "../../src/services/CommandGraph.js"
import { graphLayer, runTemplate } from "../support/graph.js"

const templateChars = fc.constantFrom(..."ab {}[]()=?:!_-+*/%'\"\\ \t\n$;`|&<>0123456789.,".split(""))
const templateText = fc.array(templateChars, { maxLength: 60 }).map((cs) => cs.join(""))
const anyValue = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }))
const values = fc.dictionary(fc.constantFrom("a", "b", "items", "index", "n", "x-y"), anyValue)

const metaValue = fc
  .array(fc.oneof(fc.constantFrom(";", "$(id)", "`id`", "\n", "'", "\"", "\\", " ", "|", "&&", "*", "{a}", "{{", "$HOME", "#"), fc.string({ minLength: 1, maxLength: 4 })), {
    minLength: 1,
    maxLength: 8
  })
  .map((parts) => parts.join("").replace(/\0/g, ""))
  .filter((s) => s.length > 0)

describe("template text properties", () => {
  it.prop("renderArgv returns argv or a TemplateError, never a defect", [templateText, values], ([text, vals]) => {
    const scope: Text.Scope = { values: vals, defaults: {}, decls: new Map() }
    const r = Text.attempt(() => Text.renderArgv(scope, text))
    if (Either.isLeft(r)) expect(r.left).toBeInstanceOf(TemplateError)
    else for (const a of r.right) expect(typeof a).toBe("string")
  })

  it.prop("arbitrary unicode never escapes as a defect", [fc.string({ unit: "grapheme", maxLength: 40 }), values], ([text, vals]) => {
    const scope: Text.Scope = { values: vals, defaults: {}, decls: new Map() }
    const r = Text.attempt(() => Text.renderArgv(scope, text))
    expect(Either.isLeft(r) ? r.left._tag : "ok").toMatch(/^(ok|TemplateError)$/)
  })

  it.prop("a value with metacharacters is exactly one argv element", [metaValue], ([v]) => {
    const scope: Text.Scope = { values: { v }, defaults: {}, decls: new Map() }
    expect(Text.renderArgv(scope, "printf [%s] {v}")).toEqual(["printf", "[%s]", v])
  })

  it.effect.prop(
    "plan never dies on arbitrary JSON templates",
    [fc.jsonValue({ maxDepth: 4 }), values],
    ([template, vals]) =>
      Effect.gen(function* () {
        const graph = yield* CommandGraph
        const exit = yield* graph.plan(template, { cwd: "/", values: vals }).pipe(Effect.exit)
        if (exit._tag === "Failure") expect(exit.cause._tag).toBe("Fail")
      }).pipe(Effect.provide(graphLayer)),
    { fastCheck: { numRuns: 300 } }
  )

  it.live("metacharacter values reach a real process unchanged", () =>
    Effect.gen(function* () {
      const samples = fc.sample(metaValue, { numRuns: 25, seed: 42 })
      for (const v of samples) {
        const { stdout, result } = yield* runTemplate("printf %s {v}", { values: { v } })
        expect(result.code).toBe(0)
        expect(stdout).toBe(v)
      }
    }).pipe(Effect.provide(graphLayer))
  )
})
