/**
 * The template acceptance table: every placeholder form and every divergence of SPEC-runtime
 * §1 as (template, values) → argv or error text. Each argv case is executed for real through
 * `printf [%s]`, so the test checks what a process actually receives, not only the parser —
 * on every host of test/support/hosts.ts (the shared host suite runs it).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { CommandGraph } from "../../src/services/CommandGraph.js"
import { graphLayerOn, runTemplate } from "./graph.js"
import type { TestHost } from "./hosts.js"

interface Case {
  readonly name: string
  /** Text after `printf [%s] ` (a leaf), or a whole template when `raw` is set. */
  readonly t: string
  readonly values?: Record<string, unknown>
  readonly defaults?: Record<string, unknown>
  readonly args?: ReadonlyArray<string>
  readonly argv?: ReadonlyArray<string>
  readonly error?: string
}

const cases: ReadonlyArray<Case> = [
  // --- splitting
  { name: "plain words", t: "a b c", argv: ["a", "b", "c"] },
  { name: "single quotes keep spaces", t: "'a b' c", argv: ["a b", "c"] },
  { name: "double quotes keep spaces", t: "\"a  b\"", argv: ["a  b"] },
  { name: "escaped quote inside double quotes", t: "\"say \\\"hi\\\"\"", argv: ["say \"hi\""] },
  { name: "escaped backslash inside double quotes", t: "\"a\\\\b\"", argv: ["a\\b"] },
  { name: "other escapes inside double quotes keep backslash", t: "\"a\\nb\"", argv: ["a\\nb"] },
  { name: "single quotes are fully literal", t: "'a\\\"b'", argv: ["a\\\"b"] },
  { name: "backslash-space outside quotes", t: "a\\ b", argv: ["a b"] },
  { name: "backslash-quote outside quotes", t: "it\\'s", argv: ["it's"] },
  { name: "windows-like path keeps backslashes", t: "C:\\tmp\\x", argv: ["C:\\tmp\\x"] },
  { name: "literal '' stays an empty argument (divergence)", t: "'' x", argv: ["", "x"] },
  { name: "literal \"\" stays an empty argument (divergence)", t: "\"\" x", argv: ["", "x"] },
  { name: "adjacent quoted parts join", t: "a'b c'\"d\"", argv: ["ab cd"] },
  { name: "tabs and newlines separate words", t: "a\tb\nc", argv: ["a", "b", "c"] },
  { name: "unterminated single quote", t: "'abc", error: "Unterminated ' quote in command template: printf [%s] 'abc" },
  { name: "unterminated double quote", t: "\"abc", error: "Unterminated \" quote in command template: printf [%s] \"abc" },
  // --- names and defaults
  { name: "value", t: "{a}", values: { a: "x" }, argv: ["x"] },
  { name: "value with spaces is one argument", t: "{a}", values: { a: "x y  z" }, argv: ["x y  z"] },
  { name: "semicolon stays data", t: "{a}", values: { a: "a; rm -rf /" }, argv: ["a; rm -rf /"] },
  { name: "command substitution stays data", t: "{a}", values: { a: "$(id)" }, argv: ["$(id)"] },
  { name: "backticks stay data", t: "{a}", values: { a: "`id`" }, argv: ["`id`"] },
  { name: "newline stays in one argument", t: "{a}", values: { a: "l1\nl2" }, argv: ["l1\nl2"] },
  { name: "quotes in a value do not split", t: "{a}", values: { a: "it's \"x\"" }, argv: ["it's \"x\""] },
  { name: "placeholder inside a word", t: "--name={a}.txt", values: { a: "v" }, argv: ["--name=v.txt"] },
  { name: "two placeholders in one word", t: "{a}{b}", values: { a: "1", b: "2" }, argv: ["12"] },
  { name: "placeholder inside double quotes", t: "\"Review {scope}. Be brief.\"", values: { scope: "README.md" }, argv: ["Review README.md. Be brief."] },
  { name: "inline default", t: "{b=two}", argv: ["two"] },
  { name: "value wins over inline default", t: "{b=two}", values: { b: "2" }, argv: ["2"] },
  { name: "defaults win over inline default", t: "{b=two}", defaults: { b: "deflt" }, argv: ["deflt"] },
  { name: "runtime wins over defaults", t: "{b}", defaults: { b: "deflt" }, values: { b: "rt" }, argv: ["rt"] },
  { name: "missing value", t: "{a}", error: "Missing command template value: a" },
  { name: "null value is missing", t: "{a}", values: { a: null }, error: "Missing command template value: a" },
  { name: "empty inline default drops the word", t: "x {a=} y", argv: ["x", "y"] },
  { name: "numbers print as text", t: "{n}", values: { n: 7 }, argv: ["7"] },
  { name: "objects print as JSON", t: "{o}", values: { o: { k: 1 } }, argv: ["{\"k\":1}"] },
  { name: "a name may contain dashes", t: "{dry-run}", values: { "dry-run": "yes" }, argv: ["yes"] },
  // --- typed values
  { name: "int accepts integer text", t: "{n:int}", values: { n: "7" }, argv: ["7"] },
  { name: "int rejects 1.5", t: "{n:int}", values: { n: "1.5" }, error: "Argument n must be an integer." },
  { name: "int rejects 7.5 as a number", t: "{a:int}", values: { a: 7.5 }, error: "Argument a must be an integer." },
  { name: "typed inline default", t: "{n:int=3}", argv: ["3"] },
  { name: "number accepts decimals", t: "{b:number}", values: { b: "2.5" }, argv: ["2.5"] },
  { name: "number rejects text", t: "{b:number}", values: { b: "abc" }, error: "Argument b must be a number." },
  { name: "bool yes → true", t: "{c:bool}", values: { c: "YES" }, argv: ["true"] },
  { name: "bool off → false", t: "{c:bool}", values: { c: "off" }, argv: ["false"] },
  { name: "bool 1 → true", t: "{c:bool}", values: { c: 1 }, argv: ["true"] },
  { name: "bool rejects maybe", t: "{c:bool}", values: { c: "maybe" }, error: "Argument c must be a boolean." },
  { name: "enum accepts a member", t: "{d:enum(x,y)}", values: { d: "y" }, argv: ["y"] },
  { name: "enum rejects others", t: "{d:enum(x,y)}", values: { d: "z" }, error: "Argument d must be one of: x, y." },
  { name: "array from JSON text prints as JSON", t: "{e:array}", values: { e: "[1, \"a\"]" }, argv: ["[1,\"a\"]"] },
  { name: "array rejects non-arrays", t: "{e:array}", values: { e: "nope" }, error: "Argument e must be an array." },
  { name: "path is text, no ~ expansion in arguments", t: "{p:path} ~/x", values: { p: "~/docs" }, argv: ["~/docs", "~/x"] },
  { name: "unknown type is an error (divergence)", t: "{n:integer}", values: { n: "1" }, error: "Unknown argument type for n: integer. Valid types: string, path, int, number, bool, array, enum." },
  { name: "args declaration types a plain placeholder", t: "{c}", args: ["c:bool"], values: { c: "on" }, argv: ["true"] },
  { name: "args declaration default", t: "{mode}", args: ["mode:enum(fast,slow)=slow"], argv: ["slow"] },
  { name: "explicit args win over inline type", t: "{n:int}", args: ["n:string"], values: { n: "x" }, argv: ["x"] },
  { name: "duplicate args", t: "{mode}", args: ["mode", "mode:int"], values: { mode: "1" }, error: "Duplicate argument name(s): mode" },
  { name: "conflicting inline types", t: "{mode:int} {mode:bool}", values: { mode: "1" }, error: "Conflicting argument type for mode" },
  { name: "typed default validated", t: "{n}", args: ["n:int"], defaults: { n: "x" }, error: "Argument n must be an integer." },
  { name: "unused typed value still validated", t: "x", args: ["n:int"], values: { n: "1.5" }, error: "Argument n must be an integer." },
  // --- fallback
  { name: "fallback when missing", t: "{name??anon}", argv: ["anon"] },
  { name: "fallback when empty", t: "{name??anon}", values: { name: "" }, argv: ["anon"] },
  { name: "fallback when null", t: "{name??anon}", values: { name: null }, argv: ["anon"] },
  { name: "0 is a value, not missing (divergence)", t: "{name??anon}", values: { name: "0" }, argv: ["0"] },
  { name: "false is a value, not missing (divergence)", t: "{name??anon}", values: { name: "false" }, argv: ["false"] },
  { name: "fallback uses the value when present", t: "{name??anon}", values: { name: "ann" }, argv: ["ann"] },
  { name: "empty fallback drops the word", t: "x {name??} y", argv: ["x", "y"] },
  // --- ternaries
  { name: "ternary true", t: "{all?--all:} x", values: { all: "yes" }, argv: ["--all", "x"] },
  { name: "ternary missing omits the flag", t: "{all?--all:} x", argv: ["x"] },
  { name: "ternary no is false", t: "{all?--all:} x", values: { all: "no" }, argv: ["x"] },
  { name: "ternary ' FALSE ' is false", t: "{all?--all:} x", values: { all: " FALSE " }, argv: ["x"] },
  { name: "ternary 0 is false", t: "{all?on:off}", values: { all: 0 }, argv: ["off"] },
  { name: "ternary else branch", t: "{fast?quick:slow}", values: { fast: "off" }, argv: ["slow"] },
  { name: "negated ternary", t: "{!quiet?--verbose:}", argv: ["--verbose"] },
  { name: "negated ternary with a true value", t: "{!quiet?--verbose:-q}", values: { quiet: true }, argv: ["-q"] },
  { name: "quoted empty ternary stays an argument", t: "\"{all?--all:}\" x", argv: ["", "x"] },
  // --- arrays
  { name: "array element", t: "{items[1]}", values: { items: ["a", "b", "c"] }, argv: ["b"] },
  { name: "array element by name", t: "{items[i]}", values: { items: ["a", "b"], i: "1" }, argv: ["b"] },
  { name: "array element out of range", t: "{items[5]}", values: { items: ["a"] }, error: "Missing command template value: items[5]" },
  { name: "array index name missing", t: "{items[i]}", values: { items: ["a"] }, error: "Missing command template value: i" },
  { name: "whole array is JSON", t: "{items}", values: { items: ["a", "b"] }, argv: ["[\"a\",\"b\"]"] },
  { name: "array length", t: "{items.length}", values: { items: ["a", "b", "c"] }, argv: ["3"] },
  // --- arithmetic and padding
  { name: "index+1", t: "{index+1}", values: { index: 2 }, argv: ["3"] },
  { name: "parenthesised arithmetic", t: "{(a*2)-1}", values: { a: "3" }, argv: ["5"] },
  { name: "division truncates", t: "{a/2} {(0-7)/2}", values: { a: 7 }, argv: ["3", "-3"] },
  { name: "modulo", t: "{a%3}", values: { a: 7 }, argv: ["1"] },
  { name: "division by zero", t: "{a/0}", values: { a: 7 }, error: "Command template arithmetic divides by zero." },
  { name: "arithmetic needs integers", t: "{a+1}", values: { a: "x" }, error: "Argument a must be an integer." },
  { name: "dash name falls back to arithmetic", t: "{index-1}", values: { index: 3 }, argv: ["2"] },
  { name: "zero-padded width 2", t: "{_(index)}", values: { index: 3 }, argv: ["03"] },
  { name: "zero-padded width 3 with arithmetic", t: "{__(index+1)}", values: { index: 9 }, argv: ["010"] },
  { name: "zero-padded width 7", t: "{______(n)}", values: { n: 42 }, argv: ["0000042"] },
  // --- braces
  { name: "{{ and }} are literal braces (divergence)", t: "{{a}}", values: { a: "x" }, argv: ["{a}"] },
  { name: "awk program braces stay literal", t: "'{print $1}'", argv: ["{print $1}"] },
  { name: "empty braces stay literal", t: "{} +", argv: ["{}", "+"] },
  { name: "innermost braces only", t: "{x{a}}", values: { a: "v" }, argv: ["{xv}"] },
  { name: "unmatched brace is literal", t: "a{b", argv: ["a{b"] },
  // --- empties
  { name: "word empty only because of placeholders is dropped", t: "x {a} y", values: { a: "" }, argv: ["x", "y"] },
  { name: "quoted empty placeholder is kept", t: "\"{a}\" y", values: { a: "" }, argv: ["", "y"] },
  { name: "literal text keeps the word", t: "x{a}", values: { a: "" }, argv: ["x"] },
  // --- recursion
  { name: "defaults expand placeholders", t: "{dir}", defaults: { dir: "{repo}/{docs}" }, values: { repo: "r", docs: "d" }, argv: ["r/d"] },
  { name: "recursion limit names the placeholder (pi-actors text)", t: "{a}", values: { a: "{b}", b: "{a}" }, error: "Command template value recursion exceeded: a" },
  { name: "JSON values stay verbatim", t: "{a}", values: { a: "{\"k\":1}" }, argv: ["{\"k\":1}"] },
  { name: "unknown names in values stay verbatim", t: "{a}", values: { a: "{zzz} {{x}}" }, argv: ["{zzz} {{x}}"] }
]

const prefix = "printf [%s] "

/** The case table, executed on `entry`'s host. */
export const templateCasesSuite = (entry: TestHost) => {
  const layer = graphLayerOn(entry.hosts({ graceMs: 300 }))
  describe("command template cases (executed through printf)", () => {
    it("has at least 80 cases", () => {
      expect(cases.length).toBeGreaterThanOrEqual(80)
    })

    for (const c of cases) {
      it.effect(c.name, () =>
        Effect.gen(function* () {
          const template = prefix + c.t
          const opts = { values: c.values, defaults: c.defaults, args: c.args }
          if (c.error !== undefined) {
            const graph = yield* CommandGraph
            const res = yield* graph.plan(template, { cwd: process.cwd(), ...opts }).pipe(Effect.either)
            expect(Either.isLeft(res)).toBe(true)
            if (Either.isLeft(res)) {
              expect(res.left._tag).toBe("TemplateError")
              expect(res.left.message).toBe(c.error)
            }
            return
          }
          const { plan, result, stdout } = yield* runTemplate(template, opts)
          expect(plan._tag).toBe("Leaf")
          if (plan._tag === "Leaf") expect(plan.argv.slice(2)).toEqual(c.argv)
          expect(result.code).toBe(0)
          expect(stdout).toBe(c.argv!.map((a) => `[${a}]`).join(""))
        }).pipe(Effect.provide(layer))
      )
    }
  })
}
