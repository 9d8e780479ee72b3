/**
 * The syntax of command templates (SPEC-runtime §1.2–1.4): splitting a leaf into words,
 * parsing placeholders and arithmetic, and argument declarations (`args` entries and inline
 * typed placeholders). Pure and synchronous; every failure is a {@link TemplateError}.
 * Evaluation against values lives in TemplateText.ts, which re-exports this module.
 *
 * Corresponds to pi-actors 0.17's splitting and placeholder forms, with the divergences
 * docs/templates.md lists: literal `''` words are kept, `\x` keeps its backslash unless `x` is
 * a space, quote or backslash, `{{`/`}}` escape braces, unknown types are errors.
 */
import { Either } from "effect"
import { type ArgDecl, type ArgType, TemplateError } from "./Template.js"

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

const fail = (reason: TemplateError["reason"], message: string): never => {
  throw new TemplateError({ reason, message })
}

/**
 * Runs a throwing computation of this module and returns its result or its TemplateError.
 * Anything else thrown (a bug) is turned into a `syntax` error rather than escaping as a defect.
 */
export const attempt = <A>(f: () => A): Either.Either<A, TemplateError> => {
  try {
    return Either.right(f())
  } catch (e) {
    if (e instanceof TemplateError) return Either.left(e)
    if (e instanceof RangeError) return Either.left(new TemplateError({ reason: "recursion", message: "Command template value recursion exceeded" }))
    return Either.left(new TemplateError({ reason: "syntax", message: `Invalid command template: ${String(e)}` }))
  }
}

// ---------------------------------------------------------------------------------------------
// Splitting
// ---------------------------------------------------------------------------------------------

/** A word of a leaf after splitting: its text with quotes removed, and whether it was quoted. */
export interface Word {
  readonly text: string
  /** The word contained a quoted part; such a word is kept even when it substitutes to "". */
  readonly quoted: boolean
}

const isSpace = (c: string) => c === " " || c === "\t" || c === "\n" || c === "\r"
const escapableOutside = new Set([" ", "\t", "\n", "'", "\"", "\\"])

/**
 * Splits a leaf command into words on whitespace, honouring `'…'` (fully literal), `"…"`
 * (literal except `\"` and `\\`) and backslash escapes outside quotes (`\ `, `\'`, `\"`, `\\`);
 * any other `\x` keeps its backslash so Windows-like paths survive.
 *
 * @throws TemplateError `syntax` on an unterminated quote.
 */
export const splitWords = (input: string): ReadonlyArray<Word> => {
  const words: Array<Word> = []
  let text = ""
  let quoted = false
  let inWord = false
  const end = () => {
    if (inWord) words.push({ text, quoted })
    text = ""
    quoted = false
    inWord = false
  }
  let i = 0
  while (i < input.length) {
    const c = input[i]!
    if (isSpace(c)) {
      end()
      i++
      continue
    }
    inWord = true
    if (c === "'") {
      const close = input.indexOf("'", i + 1)
      if (close < 0) fail("syntax", `Unterminated ' quote in command template: ${input}`)
      text += input.slice(i + 1, close)
      quoted = true
      i = close + 1
    } else if (c === "\"") {
      quoted = true
      i++
      let closed = false
      while (i < input.length) {
        const d = input[i]!
        if (d === "\"") {
          closed = true
          i++
          break
        }
        if (d === "\\" && (input[i + 1] === "\"" || input[i + 1] === "\\")) {
          text += input[i + 1]
          i += 2
          continue
        }
        text += d
        i++
      }
      if (!closed) fail("syntax", `Unterminated " quote in command template: ${input}`)
    } else if (c === "\\") {
      const next = input[i + 1]
      if (next !== undefined && escapableOutside.has(next)) {
        text += next
        i += 2
      } else {
        text += "\\"
        i++
      }
    } else {
      text += c
      i++
    }
  }
  end()
  return words
}

// ---------------------------------------------------------------------------------------------
// Placeholders
// ---------------------------------------------------------------------------------------------

const identStart = /^[A-Za-z_][A-Za-z0-9_-]*/
const identExact = /^[A-Za-z_][A-Za-z0-9_-]*$/
const typedRest = /^:([A-Za-z]+)(?:\(([^()]*)\))?(?:=([\s\S]*))?$/
const indexRest = /^\[(-?\d+|[A-Za-z_][A-Za-z0-9_-]*)\]$/
const padForm = /^(_{1,6})\(([\s\S]+)\)$/

/** Arithmetic expression over integer literals and integer-valued names. */
export type Expr =
  | { readonly _tag: "Lit"; readonly value: number }
  | { readonly _tag: "Ref"; readonly name: string }
  | { readonly _tag: "Neg"; readonly expr: Expr }
  | { readonly _tag: "Bin"; readonly op: "+" | "-" | "*" | "/" | "%"; readonly left: Expr; readonly right: Expr }

/** A parsed placeholder (the text between one pair of innermost braces). */
export type Placeholder =
  | { readonly _tag: "Name"; readonly name: string; readonly inlineDefault?: string | undefined; readonly arith?: Expr | undefined }
  | { readonly _tag: "Typed"; readonly name: string; readonly type: ArgType; readonly inlineDefault?: string | undefined }
  | { readonly _tag: "Fallback"; readonly name: string; readonly fallback: string }
  | { readonly _tag: "Ternary"; readonly name: string; readonly negated: boolean; readonly then: string; readonly otherwise: string }
  | { readonly _tag: "Index"; readonly name: string; readonly index: number | string }
  | { readonly _tag: "Length"; readonly name: string }
  | { readonly _tag: "Arith"; readonly expr: Expr; readonly text: string }
  | { readonly _tag: "Pad"; readonly width: number; readonly expr: Expr; readonly text: string }

/** Every argument type name the spec allows. */
export const argTypeNames = ["string", "path", "int", "number", "bool", "array", "enum"] as const

/**
 * Parses a type name and optional parameter list (`enum(a,b)`).
 * @throws TemplateError `syntax` for an unknown type (divergence: pi-actors used string).
 */
export const parseArgType = (name: string, params: string | undefined, argName: string): ArgType => {
  switch (name) {
    case "string":
    case "path":
    case "int":
    case "number":
    case "bool":
    case "array":
      if (params !== undefined) fail("syntax", `Argument type ${name} of ${argName} takes no parameters.`)
      return { _tag: name }
    case "enum": {
      const options = (params ?? "").split(",").map((s) => s.trim()).filter((s) => s.length > 0)
      if (options.length === 0) fail("syntax", `Argument ${argName} declares enum() without options.`)
      return { _tag: "enum", options }
    }
    default:
      return fail("syntax", `Unknown argument type for ${argName}: ${name}. Valid types: ${argTypeNames.join(", ")}.`)
  }
}

/** Renders an ArgType back to its declaration text (`int`, `enum(a,b)`). */
export const argTypeText = (t: ArgType): string => (t._tag === "enum" ? `enum(${t.options.join(",")})` : t._tag)

// Arithmetic: a small precedence-climbing parser. Returns undefined when the text is not an
// expression, so brace text such as `{print $1}` in an awk program stays literal.
const tokenizeExpr = (s: string): Array<string> | undefined => {
  const tokens: Array<string> = []
  let i = 0
  while (i < s.length) {
    const c = s[i]!
    if (c === " ") {
      i++
      continue
    }
    if ("+-*/%()".includes(c)) {
      tokens.push(c)
      i++
      continue
    }
    const m = /^(\d+|[A-Za-z_][A-Za-z0-9_]*)/.exec(s.slice(i))
    if (m === null) return undefined
    tokens.push(m[1]!)
    i += m[1]!.length
  }
  return tokens
}

const parseExprText = (s: string): Expr | undefined => {
  const tokens = tokenizeExpr(s)
  if (tokens === undefined || tokens.length === 0) return undefined
  let pos = 0
  const peek = () => tokens[pos]
  const primary = (): Expr | undefined => {
    const t = tokens[pos++]
    if (t === undefined) return undefined
    if (t === "(") {
      const e = additive()
      if (e === undefined || tokens[pos++] !== ")") return undefined
      return e
    }
    if (t === "-") {
      const e = primary()
      return e === undefined ? undefined : { _tag: "Neg", expr: e }
    }
    if (/^\d+$/.test(t)) return { _tag: "Lit", value: Number(t) }
    if (/^[A-Za-z_]/.test(t)) return { _tag: "Ref", name: t }
    return undefined
  }
  const multiplicative = (): Expr | undefined => {
    let left = primary()
    while (left !== undefined && (peek() === "*" || peek() === "/" || peek() === "%")) {
      const op = tokens[pos++] as "*" | "/" | "%"
      const right = primary()
      if (right === undefined) return undefined
      left = { _tag: "Bin", op, left, right }
    }
    return left
  }
  const additive = (): Expr | undefined => {
    let left = multiplicative()
    while (left !== undefined && (peek() === "+" || peek() === "-")) {
      const op = tokens[pos++] as "+" | "-"
      const right = multiplicative()
      if (right === undefined) return undefined
      left = { _tag: "Bin", op, left, right }
    }
    return left
  }
  const e = additive()
  return e !== undefined && pos === tokens.length ? e : undefined
}

/** An arithmetic placeholder needs at least one operator or parenthesis. */
const parseArith = (s: string): Expr | undefined => (/[-+*/%()]/.test(s) ? parseExprText(s) : undefined)

/**
 * Parses the text between braces. Returns `undefined` when the text is not a placeholder form,
 * in which case the braces and text are kept literally (so `awk '{print $1}'` and
 * `find -exec {} ;` work unchanged).
 *
 * @throws TemplateError `syntax` for a typed placeholder with an unknown type.
 */
export const parsePlaceholder = (s: string): Placeholder | undefined => {
  const pad = padForm.exec(s)
  if (pad !== null) {
    const expr = parseExprText(pad[2]!)
    return expr === undefined ? undefined : { _tag: "Pad", width: pad[1]!.length + 1, expr, text: s }
  }
  if (s.startsWith("!")) {
    const m = identStart.exec(s.slice(1))
    if (m === null) return undefined
    const rest = s.slice(1 + m[0].length)
    if (!rest.startsWith("?") || rest.startsWith("??")) return undefined
    const colon = rest.indexOf(":")
    if (colon < 0) return undefined
    return { _tag: "Ternary", name: m[0], negated: true, then: rest.slice(1, colon), otherwise: rest.slice(colon + 1) }
  }
  const m = identStart.exec(s)
  if (m === null) {
    const expr = parseArith(s)
    return expr === undefined ? undefined : { _tag: "Arith", expr, text: s }
  }
  const name = m[0]
  const rest = s.slice(name.length)
  if (rest === "") {
    // `{index-1}` is both a valid name and an expression: the name wins when it has a value.
    const arith = name.includes("-") ? parseArith(name) : undefined
    return { _tag: "Name", name, arith }
  }
  switch (rest[0]) {
    case "=":
      return { _tag: "Name", name, inlineDefault: rest.slice(1) }
    case ":": {
      const t = typedRest.exec(rest)
      if (t === null) return undefined
      return { _tag: "Typed", name, type: parseArgType(t[1]!, t[2], name), inlineDefault: t[3] }
    }
    case "?": {
      if (rest.startsWith("??")) return { _tag: "Fallback", name, fallback: rest.slice(2) }
      const colon = rest.indexOf(":")
      if (colon < 0) return undefined
      return { _tag: "Ternary", name, negated: false, then: rest.slice(1, colon), otherwise: rest.slice(colon + 1) }
    }
    case "[": {
      const ix = indexRest.exec(rest)
      if (ix === null) return undefined
      const raw = ix[1]!
      return { _tag: "Index", name, index: /^-?\d+$/.test(raw) ? Number(raw) : raw }
    }
    case ".":
      return rest === ".length" ? { _tag: "Length", name } : undefined
    default: {
      const expr = parseArith(s)
      return expr === undefined ? undefined : { _tag: "Arith", expr, text: s }
    }
  }
}

/** A piece of a word: literal text or a parsed placeholder (with its original brace text). */
export type Segment =
  | { readonly _tag: "Text"; readonly text: string }
  | { readonly _tag: "Ph"; readonly ph: Placeholder; readonly raw: string }

/**
 * Cuts text into literal and placeholder segments. Innermost braces only: a `{` whose
 * closing `}` comes after another `{` is literal. With `escapes` (template text), `{{` and `}}`
 * are literal braces; without (value text), braces are kept verbatim and malformed typed
 * placeholders are treated as text.
 */
export const segmentText = (text: string, escapes = true): ReadonlyArray<Segment> => {
  const out: Array<Segment> = []
  let lit = ""
  let i = 0
  while (i < text.length) {
    const c = text[i]!
    if (escapes && c === "{" && text[i + 1] === "{") {
      lit += "{"
      i += 2
      continue
    }
    if (escapes && c === "}" && text[i + 1] === "}") {
      lit += "}"
      i += 2
      continue
    }
    if (c === "{") {
      const close = text.indexOf("}", i + 1)
      const open = text.indexOf("{", i + 1)
      if (close > i && (open < 0 || open > close)) {
        const inner = text.slice(i + 1, close)
        const ph = inner.length === 0 ? undefined : escapes ? parsePlaceholder(inner) : parseLenient(inner)
        if (ph !== undefined) {
          if (lit !== "") out.push({ _tag: "Text", text: lit })
          lit = ""
          out.push({ _tag: "Ph", ph, raw: text.slice(i, close + 1) })
          i = close + 1
          continue
        }
      }
    }
    lit += c
    i++
  }
  if (lit !== "") out.push({ _tag: "Text", text: lit })
  return out
}

/** `parsePlaceholder`, with any syntax error read as "not a placeholder" (value text). */
export const parseLenient = (inner: string): Placeholder | undefined => {
  try {
    return parsePlaceholder(inner)
  } catch {
    return undefined
  }
}

/** Names a placeholder reads (for argument discovery and JSON Schema). */
export const placeholderNames = (ph: Placeholder): ReadonlyArray<string> => {
  const refs = (e: Expr): Array<string> =>
    e._tag === "Ref" ? [e.name] : e._tag === "Neg" ? refs(e.expr) : e._tag === "Bin" ? [...refs(e.left), ...refs(e.right)] : []
  switch (ph._tag) {
    case "Arith":
    case "Pad":
      return refs(ph.expr)
    case "Index":
      return typeof ph.index === "string" ? [ph.name, ph.index] : [ph.name]
    default:
      return [ph.name]
  }
}

// ---------------------------------------------------------------------------------------------
// Declarations
// ---------------------------------------------------------------------------------------------

const argDeclForm = /^([A-Za-z_][A-Za-z0-9_-]*)(?::([A-Za-z]+)(?:\(([^()]*)\))?)?(?:=([\s\S]*))?$/

/**
 * Parses `args` entries (`"name"`, `"name:type"`, `"name:type=default"`, `"name=default"`).
 * @throws TemplateError `syntax` for malformed entries or unknown types, `argument` for
 *   duplicates (`Duplicate argument name(s): mode`).
 */
export const parseArgDecls = (args: ReadonlyArray<string>): ReadonlyArray<ArgDecl> => {
  const out: Array<ArgDecl> = []
  const seen = new Set<string>()
  const dups: Array<string> = []
  for (const entry of args) {
    const m = argDeclForm.exec(entry.trim())
    if (m === null) return fail("syntax", `Invalid argument declaration: ${entry}`)
    const name = m[1]!
    if (seen.has(name) && !dups.includes(name)) dups.push(name)
    seen.add(name)
    const type = m[2] === undefined ? ({ _tag: "string" } as const) : parseArgType(m[2], m[3], name)
    out.push({ name, type, default: m[4], source: "args" })
  }
  if (dups.length > 0) fail("argument", `Duplicate argument name(s): ${dups.join(", ")}`)
  return out
}

/** Inline declarations and every referenced name found in a leaf command's placeholders. */
export interface InlineInfo {
  readonly decls: ReadonlyArray<ArgDecl>
  /** Names read by `{name}` / `{name=d}` / typed / index / arithmetic forms. */
  readonly required: ReadonlyArray<string>
  /** Names only read optionally (`??`, ternaries). */
  readonly optional: ReadonlyArray<string>
  /** Names that have an inline default. */
  readonly withDefault: ReadonlyArray<string>
}

/** Collects placeholders of a text (word split is irrelevant for discovery). */
export const inlineInfo = (text: string): InlineInfo => {
  const decls: Array<ArgDecl> = []
  const required: Array<string> = []
  const optional: Array<string> = []
  const withDefault: Array<string> = []
  for (const word of splitWords(text)) {
    for (const seg of segmentText(word.text)) {
      if (seg._tag !== "Ph") continue
      const ph = seg.ph
      switch (ph._tag) {
        case "Typed":
          decls.push({ name: ph.name, type: ph.type, default: ph.inlineDefault, source: "inline" })
          required.push(ph.name)
          if (ph.inlineDefault !== undefined) withDefault.push(ph.name)
          break
        case "Name":
          required.push(ph.name)
          if (ph.inlineDefault !== undefined) withDefault.push(ph.name)
          break
        case "Fallback":
        case "Ternary":
          optional.push(ph.name)
          break
        default:
          required.push(...placeholderNames(ph))
      }
    }
  }
  return { decls, required, optional, withDefault }
}

/**
 * Merges explicit and inline declarations: explicit `args` win; two inline declarations of
 * one name with different types fail with `Conflicting argument type for mode`.
 */
export const mergeDecls = (explicit: ReadonlyArray<ArgDecl>, inline: ReadonlyArray<ArgDecl>): Map<string, ArgDecl> => {
  const out = new Map<string, ArgDecl>()
  const conflicts: Array<string> = []
  for (const d of inline) {
    const prev = out.get(d.name)
    if (prev !== undefined && argTypeText(prev.type) !== argTypeText(d.type)) {
      if (!conflicts.includes(d.name)) conflicts.push(d.name)
    }
    if (prev === undefined || (prev.default === undefined && d.default !== undefined)) out.set(d.name, d)
  }
  for (const d of explicit) out.set(d.name, d)
  const unresolved = conflicts.filter((n) => !explicit.some((d) => d.name === n))
  if (unresolved.length > 0) fail("argument", `Conflicting argument type for ${unresolved.join(", ")}`)
  return out
}

export const isIdentifier = (s: string) => identExact.test(s)
