/**
 * `describeParseError`: a Schema decode failure as one sentence — the most specific issue of
 * the tree (deepest path; unknown/missing field before a wrong type), union members' expected
 * types joined, refinements read as "must be …", the actual value previewed.
 */
import { Either, ParseResult, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { describeParseError, pathText, valuePreview } from "../../src/domain/Diagnostic.js"
import { RecipeFile } from "../../src/domain/Recipe.js"
import { strictParse, TemplateInput } from "../../src/domain/Template.js"

const sentence = <A, I>(schema: Schema.Schema<A, I>, input: unknown): string => {
  const r = Schema.decodeUnknownEither(schema)(input, strictParse)
  if (Either.isRight(r)) throw new Error(`decoded: ${JSON.stringify(input)}`)
  return describeParseError(r.left as ParseResult.ParseError, input)
}

describe("describeParseError", () => {
  it.each([
    [{ template: "echo", tmeout: 5 }, `unknown field "tmeout"`],
    // (`template` is optional in the schema since agent recipes; a template recipe without one is
    // reported by Recipes as `Recipe <id>: missing field "template"`, test/cli/ErrorMessages.test.ts.)
    [{ template: "echo", imports: { a: { defaults: {} } } }, `missing field "from" in imports.a`],
    [{ template: "echo", async: "yes" }, `field "async" must be a boolean (got "yes")`],
    [{ template: 5 }, `field "template" must be a string, an array or an object (got 5)`],
    [{ template: ["echo", { template: "x", parallel: "yes" }] }, `field "template[1].parallel" must be a boolean (got "yes")`],
    [{ template: { template: "echo", tmeout: 5 } }, `unknown field "tmeout" in template`],
    [{ template: "echo", args: "a:int" }, `field "args" must be an array of strings (got "a:int")`],
    [{ template: "echo", mailbox: { accepts: [1] } }, `field "mailbox.accepts[0]" must be a string (got 1)`],
    [{ template: "echo", mailbox: { delivery: "pigeon" } }, `field "mailbox.delivery" must be "fifo", "stdin-jsonl" or "pi-rpc" (got "pigeon")`],
    [{ template: "echo", timeout: true }, `field "timeout" must be a number or a string (got true)`],
    [{ template: "echo", imports: { a: { values: {} } } }, `missing field "from" in imports.a`]
  ])("recipe %j → %s", (input, expected) => {
    const text = sentence(RecipeFile, input)
    expect(text).toBe(expected)
    expect(text).not.toContain("\n")
  })

  it("templates: the root value and nested nodes", () => {
    expect(sentence(TemplateInput, 5)).toBe("the value must be a string, an array or an object (got 5)")
    expect(sentence(TemplateInput, { template: "x", retries: 1 })).toBe(`unknown field "retries"`)
  })

  it("refinements read as a requirement", () => {
    const S = Schema.Struct({ n: Schema.optional(Schema.Int.pipe(Schema.between(0, 10))) })
    expect(sentence(S, { n: -3 })).toBe(`field "n" must be a number between 0 and 10 (got -3)`)
  })

  it("paths and previews", () => {
    expect(pathText(["template", 1, "parallel"])).toBe("template[1].parallel")
    expect(pathText([0, "a"])).toBe("[0].a")
    expect(valuePreview("x".repeat(100))).toHaveLength(40)
    expect(valuePreview(undefined)).toBe("nothing")
  })
})
