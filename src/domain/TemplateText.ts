/**
 * Evaluation of command template text (SPEC-runtime §1.3–1.4): scopes and lookup, typed
 * values, truthiness, values that expand to further placeholders, and rendering a leaf to argv.
 * Pure and synchronous; every failure is a {@link TemplateError}, never a defect. Re-exports
 * the syntax layer (TemplateSyntax.ts) so callers import one module.
 *
 * Corresponds to pi-actors 0.17's substitution, with the divergences docs/templates.md lists
 * (`{name??fallback}` keeps `name` optional and only falls back on missing/null/empty, `off`
 * is false, values keep their JSON type).
 */
import { type ArgDecl, type ArgType, TemplateError } from "./Template.js"
import { type Expr, parseLenient, type Placeholder, segmentText, splitWords } from "./TemplateSyntax.js"

export * from "./TemplateSyntax.js"

const fail = (reason: TemplateError["reason"], message: string): never => {
  throw new TemplateError({ reason, message })
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/** Maximum nesting of values that expand to further placeholders. */
export const maxValueDepth = 5

/** Values visible to a leaf: runtime values win over node/recipe defaults. */
export interface Scope {
  readonly values: Readonly<Record<string, unknown>>
  readonly defaults: Readonly<Record<string, unknown>>
  /** Declared argument types by name (explicit `args` win over inline declarations). */
  readonly decls: ReadonlyMap<string, ArgDecl>
}

export const emptyScope: Scope = { values: {}, defaults: {}, decls: new Map() }

const has = (o: Readonly<Record<string, unknown>>, k: string) => Object.prototype.hasOwnProperty.call(o, k)

/** The raw value of `name` (runtime values, then defaults); `undefined` when missing or null. */
export const lookupRaw = (scope: Scope, name: string): unknown => {
  if (has(scope.values, name) && scope.values[name] !== undefined && scope.values[name] !== null) return scope.values[name]
  if (has(scope.defaults, name) && scope.defaults[name] !== undefined && scope.defaults[name] !== null) return scope.defaults[name]
  return undefined
}

/** Truthiness for ternaries and `when`: false for missing, null, false, "", "0", "false", "no", "off". */
export const truthy = (v: unknown): boolean => {
  if (v === undefined || v === null || v === false) return false
  if (Array.isArray(v)) return true
  const t = String(v).trim().toLowerCase()
  return !(t === "" || t === "0" || t === "false" || t === "no" || t === "off")
}

/** An array value, or text holding a JSON array. @throws TemplateError `argument`. */
const asArray = (name: string, v: unknown): ReadonlyArray<unknown> => {
  if (Array.isArray(v)) return v
  if (typeof v === "string") {
    try {
      const parsed: unknown = JSON.parse(v)
      if (Array.isArray(parsed)) return parsed
    } catch {
      // not JSON: fall through
    }
  }
  return fail("argument", `Argument ${name} must be an array.`)
}

const intText = /^-?\d+$/
/** pi-actors 0.17's number form: no exponent, no leading `+` (`"1e3"` is not a number). */
const numberText = /^-?(\d+(\.\d+)?|\.\d+)$/

/**
 * Validates a value by its declared type (SPEC-runtime §1.4) and returns the value to
 * substitute. A valid `int`/`number` keeps the text the caller gave, trimmed (`"07"` stays
 * `07`, `"2.50"` stays `2.50`; a JSON number prints as JavaScript prints it), as pi-actors 0.17
 * does; `bool` normalizes to `"true"`/`"false"`; `array` → array; `enum`/`string`/`path` → text.
 *
 * @throws TemplateError `argument` with the spec's texts (`Argument a must be an integer.`, …).
 */
export const normalizeTyped = (name: string, type: ArgType, v: unknown): unknown => {
  switch (type._tag) {
    case "int": {
      if (typeof v === "number" && Number.isInteger(v)) return String(v)
      if (typeof v === "string" && intText.test(v.trim())) return v.trim()
      return fail("argument", `Argument ${name} must be an integer.`)
    }
    case "number": {
      if (typeof v === "number" && Number.isFinite(v)) return String(v)
      if (typeof v === "string" && numberText.test(v.trim())) return v.trim()
      return fail("argument", `Argument ${name} must be a number.`)
    }
    case "bool": {
      if (typeof v === "boolean") return v ? "true" : "false"
      if (typeof v === "number" && (v === 0 || v === 1)) return v === 1 ? "true" : "false"
      if (typeof v === "string") {
        const t = v.trim().toLowerCase()
        if (t === "true" || t === "yes" || t === "1" || t === "on") return "true"
        if (t === "false" || t === "no" || t === "0" || t === "off") return "false"
      }
      return fail("argument", `Argument ${name} must be a boolean.`)
    }
    case "enum": {
      const t = typeof v === "string" ? v : typeof v === "number" || typeof v === "boolean" ? String(v) : undefined
      if (t !== undefined && type.options.includes(t)) return t
      return fail("argument", `Argument ${name} must be one of: ${type.options.join(", ")}.`)
    }
    case "array":
      return asArray(name, v)
    case "string":
    case "path":
      if (typeof v === "string") return v
      if (typeof v === "number" || typeof v === "boolean") return String(v)
      return JSON.stringify(v)
  }
}

/** Text of a value: strings as-is, numbers/booleans printed, arrays/objects as JSON. */
export const valueText = (v: unknown): string =>
  typeof v === "string" ? v : typeof v === "number" || typeof v === "boolean" ? String(v) : JSON.stringify(v)

/**
 * Validates `v` as the value of `name` declared with `type`. A text value of a checked type
 * (`int`, `number`, `bool`, `enum`, `array`) that holds placeholders — a derived value such as
 * `"{count}"` — is expanded first, so the check sees what will be substituted.
 *
 * @throws TemplateError `argument` (`Argument a must be an integer.`, …).
 */
export const checkTyped = (scope: Scope, name: string, type: ArgType, v: unknown): unknown =>
  normalizeTyped(name, type, type._tag !== "string" && type._tag !== "path" && typeof v === "string" ? expandValue(scope, v, 0) : v)

/** The value of `name` validated by its declaration (if any); `undefined` when missing. */
export const lookup = (scope: Scope, name: string): unknown => {
  const raw = lookupRaw(scope, name)
  if (raw === undefined) return undefined
  const decl = scope.decls.get(name)
  return decl === undefined ? raw : checkTyped(scope, name, decl.type, raw)
}

const missing = (what: string): never => fail("missing_value", `Missing command template value: ${what}`)

const asInt = (scope: Scope, name: string, depth: number): number => {
  const v = lookup(scope, name)
  if (v === undefined) return missing(name)
  const t = typeof v === "string" ? expandValue(scope, v, depth) : v
  if (typeof t === "number" && Number.isInteger(t)) return t
  if (typeof t === "string" && intText.test(t.trim())) return Number(t.trim())
  return fail("argument", `Argument ${name} must be an integer.`)
}

const evalExpr = (scope: Scope, e: Expr, depth: number): number => {
  switch (e._tag) {
    case "Lit":
      return e.value
    case "Ref":
      return asInt(scope, e.name, depth)
    case "Neg":
      return -evalExpr(scope, e.expr, depth)
    case "Bin": {
      const a = evalExpr(scope, e.left, depth)
      const b = evalExpr(scope, e.right, depth)
      switch (e.op) {
        case "+":
          return a + b
        case "-":
          return a - b
        case "*":
          return a * b
        case "/":
        case "%":
          if (b === 0) return fail("argument", "Command template arithmetic divides by zero.")
          return e.op === "/" ? Math.trunc(a / b) : a % b
      }
    }
  }
}

const padInt = (n: number, width: number) => (n < 0 ? "-" + String(-n).padStart(width, "0") : String(n).padStart(width, "0"))

/** Innermost brace groups of a value, as pi-actors 0.17 finds them. */
const braceGroup = /\{([^{}]+)\}/g

const succeeds = (f: () => unknown): boolean => {
  try {
    f()
    return true
  } catch {
    return false
  }
}

/**
 * Whether a placeholder inside a value can be resolved: `??` and ternaries always can; a name
 * (plain, typed or indexed) when it has a value or an inline default; arithmetic when it
 * evaluates. pi-actors 0.17's rule for expanding a value.
 */
const resolvable = (scope: Scope, ph: Placeholder): boolean => {
  const has = (n: string) => lookupRaw(scope, n) !== undefined
  switch (ph._tag) {
    case "Fallback":
    case "Ternary":
      return true
    case "Name":
      return has(ph.name) || ph.inlineDefault !== undefined || (ph.arith !== undefined && succeeds(() => evalExpr(scope, ph.arith!, 0)))
    case "Typed":
      return has(ph.name) || ph.inlineDefault !== undefined
    case "Index":
    case "Length":
      return has(ph.name)
    case "Arith":
    case "Pad":
      return succeeds(() => evalExpr(scope, ph.expr, 0))
  }
}

/**
 * Expands a string value that itself contains placeholders (SPEC-runtime §1.3), as pi-actors
 * 0.17 does: when every brace group of the value is a placeholder that can be resolved, all of
 * them are evaluated with every form (`{a??none}`, `{a?x:y}`, `{n+1}`, …); otherwise the value
 * stays literal, so JSON, awk programs and names nobody defines are never mangled. Nested
 * expansion stops past depth 5.
 *
 * @throws TemplateError `recursion` (`Command template value recursion exceeded: a`), or any
 *   error of evaluating a resolvable placeholder (a bad typed value, an index out of range).
 */
export const expandValue = (scope: Scope, text: string, depth: number): string => {
  if (!text.includes("{")) return text
  const groups = [...text.matchAll(braceGroup)].map((m) => parseLenient(m[1]!))
  if (groups.length === 0 || !groups.every((ph) => ph !== undefined && resolvable(scope, ph))) return text
  return text.replace(braceGroup, (_m, inner: string) => {
    if (depth + 1 > maxValueDepth) fail("recursion", `Command template value recursion exceeded: ${inner}`)
    return evalPlaceholder(scope, parseLenient(inner)!, depth + 1)
  })
}

const textOf = (scope: Scope, v: unknown, depth: number): string =>
  typeof v === "string" ? expandValue(scope, v, depth) : valueText(v)

/**
 * Evaluates one placeholder to text.
 * @throws TemplateError `missing_value`, `argument` or `recursion`.
 */
export const evalPlaceholder = (scope: Scope, ph: Placeholder, depth = 0): string => {
  switch (ph._tag) {
    case "Name": {
      const v = lookup(scope, ph.name)
      if (v !== undefined) return textOf(scope, v, depth)
      if (ph.inlineDefault !== undefined) {
        const decl = scope.decls.get(ph.name)
        return decl === undefined ? ph.inlineDefault : valueText(normalizeTyped(ph.name, decl.type, ph.inlineDefault))
      }
      if (ph.arith !== undefined) return String(evalExpr(scope, ph.arith, depth))
      return missing(ph.name)
    }
    case "Typed": {
      const raw = lookupRaw(scope, ph.name)
      const decl = scope.decls.get(ph.name)
      const type = decl?.type ?? ph.type
      if (raw !== undefined) {
        const v = checkTyped(scope, ph.name, type, raw)
        return textOf(scope, v, depth)
      }
      if (ph.inlineDefault !== undefined) return valueText(normalizeTyped(ph.name, type, ph.inlineDefault))
      return missing(ph.name)
    }
    case "Fallback": {
      const v = lookup(scope, ph.name)
      if (v === undefined) return ph.fallback
      const t = textOf(scope, v, depth)
      return t === "" ? ph.fallback : t
    }
    case "Ternary": {
      const t = truthy(lookup(scope, ph.name))
      return t !== ph.negated ? ph.then : ph.otherwise
    }
    case "Index": {
      const v = lookup(scope, ph.name)
      if (v === undefined) return missing(ph.name)
      const arr = asArray(ph.name, v)
      const i = typeof ph.index === "number" ? ph.index : asInt(scope, ph.index, depth)
      if (!Number.isInteger(i) || i < 0 || i >= arr.length) return missing(`${ph.name}[${i}]`)
      return textOf(scope, arr[i], depth)
    }
    case "Length": {
      const v = lookup(scope, ph.name)
      if (v === undefined) return missing(ph.name)
      return String(asArray(ph.name, v).length)
    }
    case "Arith":
      return String(evalExpr(scope, ph.expr, depth))
    case "Pad":
      return padInt(evalExpr(scope, ph.expr, depth), ph.width)
  }
}

/**
 * Substitutes every placeholder of `text` (a word or a field value).
 * @throws TemplateError on a missing value, bad typed value or recursion.
 */
export const substitute = (scope: Scope, text: string): string => {
  let out = ""
  for (const seg of segmentText(text)) out += seg._tag === "Text" ? seg.text : evalPlaceholder(scope, seg.ph)
  return out
}

/**
 * Builds argv from a leaf command: split into words, substitute inside each word, then drop a
 * word only when it is empty because its placeholders resolved to empty text (how
 * `{all?--all:}` omits a flag). A quoted word (`''`, `""`, `"{x}"`) is kept even when empty.
 *
 * @throws TemplateError on syntax errors, missing values or bad typed values.
 */
export const renderArgv = (scope: Scope, command: string): Array<string> => {
  const argv: Array<string> = []
  for (const word of splitWords(command)) {
    const segs = segmentText(word.text)
    let text = ""
    let hadPlaceholder = false
    for (const seg of segs) {
      if (seg._tag === "Text") text += seg.text
      else {
        hadPlaceholder = true
        text += evalPlaceholder(scope, seg.ph)
      }
    }
    if (text === "" && hadPlaceholder && !word.quoted) continue
    if (text.includes("\0")) fail("argument", "Command arguments cannot contain NUL characters.")
    argv.push(text)
  }
  return argv
}
