/**
 * One-sentence diagnostics for values that failed a Schema decode (issue 12 item 5): a recipe
 * file, a command template, `register_tool` parameters. A Schema `ParseError` is a tree — a
 * union reports one branch per member, a struct one per field — and its default rendering is a
 * multi-line dump. `describeParseError` walks the issues, keeps the most specific one (the
 * deepest path; an unknown or missing field before a wrong type) and says in one line which
 * field is wrong and how: `unknown field "tmeout"`, `missing field "template"`,
 * `field "parallel" must be a boolean (got "yes")`, `field "template[1]" must be a string, an
 * array or an object (got 5)`. The caller prefixes what was decoded (`Recipe x: …`,
 * `Command template: …`). pi-actors 0.17 reported such problems as one `Error` message line;
 * troupe keeps that form.
 */
import { ParseResult } from "effect"

/** `template[1].parallel`: object keys joined by dots, array indexes in brackets. */
export const pathText = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>((acc, k) => (typeof k === "number" ? `${acc}[${k}]` : acc === "" ? String(k) : `${acc}.${String(k)}`), "")

/** A value as a person reads it in a message: JSON, cut to 40 characters. */
export const valuePreview = (v: unknown): string => {
  let text: string
  try {
    text = v === undefined ? "nothing" : (JSON.stringify(v) ?? String(v))
  } catch {
    text = String(v)
  }
  return text.length > 40 ? `${text.slice(0, 37)}...` : text
}

/** What a Schema `Expected …` names, in words (`boolean` → `a boolean`); undefined to drop it. */
const expectationText = (expected: string): string | undefined => {
  const e = expected.trim()
  if (e === "undefined") return undefined
  if (e === "string") return "a string"
  if (e === "number") return "a number"
  if (e === "boolean") return "a boolean"
  if (e === "null") return "null"
  if (e.startsWith("ReadonlyArray<string>")) return "an array of strings"
  if (e.startsWith("ReadonlyArray<") || e.startsWith("readonly [")) return "an array"
  if (e.startsWith("{")) return "an object"
  const literals = e.split(" | ").map((s) => s.trim())
  if (literals.length > 0 && literals.every((s) => /^"[^"]*"$|^-?\d+(\.\d+)?$|^true$|^false$/.test(s))) {
    return literals.length === 1 ? literals[0]! : `one of ${literals.join(", ")}`
  }
  return e.length > 60 ? undefined : e
}

const joinOr = (items: ReadonlyArray<string>): string =>
  items.length <= 1 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} or ${items[items.length - 1]}`

const rank = (i: ParseResult.ArrayFormatterIssue): number =>
  i._tag === "Unexpected" ? 3 : i._tag === "Missing" ? 2 : i._tag === "Type" ? (/^Expected undefined,/.test(i.message) ? 0 : 1) : 1

/** The most specific issue of a decode failure: deepest path, then unknown > missing > type. */
const bestIssue = (issues: ReadonlyArray<ParseResult.ArrayFormatterIssue>): ParseResult.ArrayFormatterIssue | undefined =>
  issues.reduce<ParseResult.ArrayFormatterIssue | undefined>((best, i) => {
    if (best === undefined) return i
    if (i.path.length !== best.path.length) return i.path.length > best.path.length ? i : best
    return rank(i) > rank(best) ? i : best
  }, undefined)

const typeMessage = /^Expected ([\s\S]*), actual ([\s\S]*)$/

/**
 * One sentence (no trailing period) for a decode failure: which field and what is wrong.
 * `actual` of a wrong type is read from `input` at the issue's path when given.
 */
export const describeIssues = (issues: ReadonlyArray<ParseResult.ArrayFormatterIssue>, input?: unknown): string => {
  const issue = bestIssue(issues)
  if (issue === undefined) return "invalid value"
  const path = issue.path
  const field = pathText(path)
  if (issue._tag === "Unexpected") {
    const parent = pathText(path.slice(0, -1))
    return `unknown field "${String(path[path.length - 1])}"${parent === "" ? "" : ` in ${parent}`}`
  }
  if (issue._tag === "Missing") {
    const parent = pathText(path.slice(0, -1))
    return `missing field "${String(path[path.length - 1])}"${parent === "" ? "" : ` in ${parent}`}`
  }
  const here = field === "" ? "the value" : `field "${field}"`
  // A wrong type, or a refinement (`Expected a number between 0 and 1000, actual -3`).
  if (typeMessage.test(issue.message)) {
    const same = issues.filter((i) => typeMessage.test(i.message) && pathText(i.path) === field)
    const wanted = [...new Set(same.map((i) => typeMessage.exec(i.message)?.[1]).filter((s): s is string => s !== undefined).map(expectationText).filter((s): s is string => s !== undefined))]
    const actual = input === undefined ? typeMessage.exec(issue.message)?.[2] : valuePreview(valueAt(input, path))
    if (wanted.length > 0) return `${here} must be ${joinOr(wanted)}${actual === undefined ? "" : ` (got ${actual.length > 40 ? `${actual.slice(0, 37)}...` : actual})`}`
  }
  const first = issue.message.split("\n")[0]!.trim()
  return `${here} is invalid: ${first.length > 120 ? `${first.slice(0, 117)}...` : first}`
}

const valueAt = (input: unknown, path: ReadonlyArray<PropertyKey>): unknown => {
  let v: unknown = input
  for (const k of path) {
    if (typeof v !== "object" || v === null) return undefined
    v = (v as Record<PropertyKey, unknown>)[k]
  }
  return v
}

/** One sentence for a Schema `ParseError` of decoding `input` (see the module docs). */
export const describeParseError = (error: ParseResult.ParseError, input?: unknown): string =>
  describeIssues(ParseResult.ArrayFormatter.formatErrorSync(error), input)

/** `Unexpected token } in JSON at position 12` → one line, without the stack. */
export const jsonProblem = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split("\n")[0]!

/**
 * Any failure as one line for a message: a Schema `ParseError` as {@link describeParseError}
 * (its own `message` is the multi-line tree), an `Error` as the first non-empty line of its
 * message (never its stack), anything else as its first line of text.
 */
export const errorDetail = (e: unknown): string => {
  const text = ParseResult.isParseError(e)
    ? describeParseError(e)
    : typeof e === "object" && e !== null && "message" in e && typeof e.message === "string" && e.message.trim() !== ""
      ? e.message
      : typeof e === "object" && e !== null && typeof (e as { _tag?: unknown })._tag === "string"
        ? `${(e as { _tag: string })._tag} (no message)`
        : typeof e === "object" && e !== null && String(e) === "[object Object]"
          ? valuePreview(e)
          : String(e)
  return text.split("\n").map((l) => l.trim()).find((l) => l !== "") ?? "no details"
}
