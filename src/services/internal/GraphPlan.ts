/**
 * Planning of command templates (SPEC-runtime §1): expands a template against its values into
 * a tree whose every leaf already has its argv — all validation happens here, before any
 * process starts. The JSON Schema of a template's arguments is in `ArgsSchema.ts`. Pure; every
 * failure is a thrown {@link TemplateError} (callers wrap it with `Text.attempt`).
 *
 * Corresponds to pi-actors 0.17's template expansion (`when`, `repeat`, `retry`, defaults and
 * their inheritance), with the divergences listed in docs/templates.md.
 */
import { Option } from "effect"
import type { NodeOptions, PlannedNode, PlannedParallel } from "../../domain/Plan.js"
import {
  type ArgDecl,
  type ArgsJsonSchema,
  type FailureScope,
  hostOnPattern,
  hostOnText,
  TemplateError,
  type TemplateInput,
  type TemplateNodeInput
} from "../../domain/Template.js"
import * as Text from "../../domain/TemplateText.js"

/** Parallel fan-out cap (SPEC-runtime §1.5): `parallel fanout 65 exceeds limit 64`. */
export const maxFanout = 64

/** Names the runtime injects; they are never arguments of a template's JSON Schema. */
export const injectedNames: ReadonlySet<string> = new Set([
  "run_id",
  "state_dir",
  "actor_address",
  "default_room",
  "communication_file",
  "recipe_dir",
  "index",
  "prev",
  "next",
  "repeat",
  ...["index", "prev", "next", "repeat"].flatMap((name) => [1, 2, 3, 4, 5, 6].map((n) => "_".repeat(n) + name))
])

/** Resolves an import node (`{ "name": "<alias>", values? }`) to the imported template. */
export type ImportResolver = (alias: string) => Option.Option<{
  readonly template: TemplateInput
  readonly args?: ReadonlyArray<string> | undefined
  readonly defaults?: Readonly<Record<string, unknown>> | undefined
}>

export interface PlanOptions {
  /** Runtime values (win over every default). */
  readonly values?: Readonly<Record<string, unknown>> | undefined
  /** Recipe-level `args` declarations (`"name:type=default"`). */
  readonly args?: ReadonlyArray<string> | undefined
  /** Recipe-level `defaults`. */
  readonly defaults?: Readonly<Record<string, unknown>> | undefined
  /** Absolute working directory of every leaf. */
  readonly cwd: string
  /** Import resolution for recipe import nodes; absent = every import is unknown. */
  readonly resolveImport?: ImportResolver | undefined
  /** Home directory for `~` in command position. */
  readonly home?: string | undefined
  /**
   * Where nodes without their own `on` run (default `"local"`): `spawn --on`, `run --on`. A
   * node's `on` (a recipe's included) still wins for its subtree.
   */
  readonly on?: string | undefined
}

interface Ctx {
  readonly scope: Text.Scope
  /** `failure` set by the nearest ancestor node, applied to steps without their own. */
  readonly failure: FailureScope | undefined
  readonly cwd: string
  readonly on: string
  readonly resolveImport: ImportResolver | undefined
  /** Import aliases being expanded (cycle guard). */
  readonly importing: ReadonlyArray<string>
  /** Absolute `{recipe_dir}` values of this scope and the scopes around it, outermost first. */
  readonly recipeDirs: ReadonlyArray<string>
}

/** `dirs` plus the scope's `{recipe_dir}` when it is an absolute path not listed yet. */
const withRecipeDir = (dirs: ReadonlyArray<string>, scope: Text.Scope, dir = Text.lookupRaw(scope, "recipe_dir")) =>
  typeof dir === "string" && dir.startsWith("/") && !dirs.includes(dir) ? [...dirs, dir] : dirs

const tfail = (reason: TemplateError["reason"], message: string): never => {
  throw new TemplateError({ reason, message })
}

const noSteps = "Tool template produced no command steps."

/** `output: "stdout"` names the result channel (pi-actors), not a file. */
const stdoutChannel = "stdout"

const failureScopes: ReadonlyArray<FailureScope> = ["continue", "branch", "root"]

const parseFailure = (v: string | undefined): FailureScope | undefined => {
  if (v === undefined) return undefined
  if ((failureScopes as ReadonlyArray<string>).includes(v)) return v as FailureScope
  return tfail("validation", `Unknown failure scope: ${v}. Valid scopes: continue, branch, root.`)
}

/** A numeric field after substitution (`"timeout": "{timeout_ms}"`). */
const numericField = (
  scope: Text.Scope,
  field: string,
  v: number | string | undefined,
  kind: "non-negative" | "positive-int"
): number | undefined => {
  if (v === undefined) return undefined
  const text = typeof v === "number" ? String(v) : Text.substitute(scope, v).trim()
  // A placeholder that substitutes to nothing leaves the field unset, as in pi-actors 0.17.
  if (text === "") return undefined
  const n = Number(text)
  switch (kind) {
    case "non-negative":
      if (!Number.isFinite(n) || n < 0) tfail("validation", `Command template ${field} must be a non-negative number.`)
      return n
    case "positive-int":
      if (!Number.isInteger(n) || n < 1) tfail("validation", `Command template ${field} must be a positive integer.`)
      return n
  }
}

/**
 * `retry: n` — n attempts in total, the first included (pi-actors 0.17): default 1; a value
 * that is not a non-negative number fails with `Command template retry must be a non-negative
 * number.`, and 0 or a fraction with `Command template retry must be a positive integer.`
 */
const attemptsField = (scope: Text.Scope, v: number | string | undefined): number => {
  const n = numericField(scope, "retry", v, "non-negative")
  if (n === undefined) return 1
  if (!Number.isInteger(n) || n < 1) return tfail("validation", "Command template retry must be a positive integer.")
  return n
}

const lengthRef = /^\{?([A-Za-z_][A-Za-z0-9_-]*)\.length\}?$/

/**
 * `repeat`: a non-negative integer, a placeholder that substitutes to one, or
 * `"{items.length}"` / the bare `"items.length"` (the length of an array value). Anything else
 * fails with `Command template repeat must be a non-negative integer or {array.length}.`
 */
const repeatField = (scope: Text.Scope, v: number | string): number => {
  const bad = () => tfail("validation", "Command template repeat must be a non-negative integer or {array.length}.")
  if (typeof v === "number") return Number.isInteger(v) && v >= 0 ? v : bad()
  const m = lengthRef.exec(v.trim())
  if (m !== null) return Number(Text.evalPlaceholder(scope, { _tag: "Length", name: m[1]! }))
  const text = Text.substitute(scope, v).trim()
  return /^\d+$/.test(text) ? Number(text) : bad()
}

const exactRef = /^\{([A-Za-z_][A-Za-z0-9_-]*)(?:\[(\d+|[A-Za-z_][A-Za-z0-9_-]*)\])?\}$/

/**
 * Merges child defaults over the parent's (child wins). A child default written exactly as
 * `{x}` or `{x[i]}` resolves against the parent defaults + runtime values (runtime winning);
 * when the parent has no `x`, the default stays as written and resolves later like any value
 * (so `"model": "{default_model}"` beside `"default_model": "gpt"` is `gpt`).
 */
const mergeDefaults = (parent: Text.Scope, own: Readonly<Record<string, unknown>> | undefined): Record<string, unknown> => {
  if (own === undefined) return { ...parent.defaults }
  const out: Record<string, unknown> = { ...parent.defaults }
  for (const [k, v] of Object.entries(own)) {
    const ref = exactReference(parent, v)
    out[k] = ref?.found === true ? ref.value : v
  }
  return out
}

/**
 * A value written exactly `{x}` / `{x[i]}`: its raw value in `scope` (an array stays an array),
 * `found: false` when a name is not in scope; undefined for any other value.
 */
const exactReference = (scope: Text.Scope, v: unknown): { readonly found: boolean; readonly value?: unknown } | undefined => {
  if (typeof v !== "string" || !exactRef.test(v)) return undefined
  const seg = Text.segmentText(v)[0]
  if (seg === undefined || seg._tag !== "Ph") return undefined
  if (!Text.placeholderNames(seg.ph).every((n) => Text.lookupRaw(scope, n) !== undefined)) return { found: false }
  return { found: true, value: seg.ph._tag === "Name" ? Text.lookup(scope, seg.ph.name) : Text.evalPlaceholder(scope, seg.ph) }
}

/**
 * A node's `values` (set by an inlined recipe import): they win over the caller's runtime
 * values inside the node. Text values are expanded in the parent's scope first, so
 * `{ "target": "{scope}/docs" }` reads the importing recipe's `scope`. A value written exactly
 * `{x}` when the parent has no `x` binds nothing: inside, the name is missing (or takes the
 * imported recipe's default) rather than referring to itself.
 */
const boundValues = (parent: Text.Scope, values: Readonly<Record<string, unknown>>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(values)) {
    const ref = exactReference(parent, v)
    if (ref === undefined) out[k] = typeof v === "string" ? Text.expandValue(parent, v, 0) : v
    else if (ref.found) out[k] = ref.value
  }
  return out
}

/**
 * Inline declarations of every leaf string in a template tree (import nodes excluded), and
 * `flag:bool=false` for each bare `when` name (`"flag"`, `"!flag"`), as pi-actors derives them.
 */
export const collectInline = (template: TemplateInput, acc: Array<ArgDecl>): Array<ArgDecl> => {
  const flags: Array<ArgDecl> = []
  const seen = new Set<unknown>()
  const walk = (t: TemplateInput): void => {
    if (typeof t === "string") acc.push(...Text.inlineInfo(t).decls)
    else if (Array.isArray(t)) t.forEach(walk)
    else if (typeof t === "object" && t !== null && !seen.has(t)) {
      seen.add(t)
      const n = t as TemplateNodeInput
      const flag = whenFlag(n.when)
      if (flag !== undefined) flags.push({ name: flag, type: { _tag: "bool" }, default: "false", source: "inline" })
      if (n.template !== undefined) walk(n.template)
      if (n.recover !== undefined) walk(n.recover)
    }
  }
  walk(template)
  // As in pi-actors 0.17, a bare `when` name is a bool even where a placeholder types it.
  const flagNames = new Set(flags.map((f) => f.name))
  const typed = acc.filter((d) => !flagNames.has(d.name))
  acc.length = 0
  acc.push(...typed, ...flags)
  return acc
}

const leafOptions = (path: string, failure: FailureScope): NodeOptions => ({ path, failure, attempts: 1 })

const expand = (input: TemplateInput, ctx: Ctx, path: string, failure: FailureScope): PlannedNode => {
  if (typeof input === "string") {
    const argv = Text.renderArgv(ctx.scope, input)
    if (argv.length === 0) tfail("validation", noSteps)
    const recipeDirs = ctx.recipeDirs.length === 0 ? {} : { recipeDirs: ctx.recipeDirs }
    return { _tag: "Leaf", ...leafOptions(path, failure), argv, cwd: ctx.cwd, on: ctx.on, ...recipeDirs }
  }
  if (Array.isArray(input)) {
    if (input.length === 0) tfail("validation", noSteps)
    const steps = input.map((c, i) => expand(c, ctx, `${path}.${i}`, ctx.failure ?? "continue"))
    return { _tag: "Sequence", ...leafOptions(path, failure), steps }
  }
  return expandNode(input as TemplateNodeInput, ctx, path, failure)
}

const expandNode = (node: TemplateNodeInput, parent: Ctx, path: string, inherited: FailureScope): PlannedNode => {
  // Import node: embed the imported recipe's template with its defaults.
  if (node.template === undefined) {
    if (node.name === undefined) return tfail("validation", "Command template node needs a `template` (or an import `name`).")
    const alias = node.name
    if (parent.importing.includes(alias)) {
      return tfail("import", `Cyclic recipe import: ${[...parent.importing, alias].join(" -> ")}`)
    }
    const resolved = parent.resolveImport === undefined ? Option.none() : parent.resolveImport(alias)
    if (Option.isNone(resolved)) return tfail("import", `Unknown recipe import: ${alias}`)
    const imported = resolved.value
    const { name: _name, values, ...flags } = node
    const defaults = { ...imported.defaults, ...values }
    return expandNode(
      { ...flags, template: imported.template, args: node.args ?? imported.args, defaults },
      { ...parent, importing: [...parent.importing, alias] },
      path,
      inherited
    )
  }

  const ownFailure = parseFailure(node.failure)
  const failure = ownFailure ?? inherited
  const decls = node.args === undefined ? parent.scope.decls : Text.mergeDecls(Text.parseArgDecls(node.args), collectInline(node.template, []))
  const declDefaults: Record<string, unknown> = {}
  if (node.args !== undefined) for (const d of decls.values()) if (d.source === "args" && d.default !== undefined) declDefaults[d.name] = d.default
  const scope: Text.Scope = {
    values: node.values === undefined ? parent.scope.values : { ...parent.scope.values, ...boundValues(parent.scope, node.values) },
    defaults: mergeDefaults(parent.scope, { ...declDefaults, ...node.defaults }),
    decls
  }
  // Typed defaults are checked as resolved (a `{x}` reference already taken from the parent).
  for (const k of Object.keys(node.defaults ?? {})) {
    const d = decls.get(k)
    const v = scope.defaults[k]
    if (d !== undefined && v !== null && v !== undefined) Text.checkTyped(scope, k, d.type, v)
  }
  const on = node.on === undefined ? parent.on : Text.substitute(scope, hostOnText(node.on)).trim()
  // Whether the host exists is asked when the leaf runs (Hosts), not here.
  if (!hostOnPattern.test(on)) {
    tfail("validation", `Invalid host for on: ${on}. Use "local", "broker", "vm:<id>", {"commit": "<id>"} or {"golden": true}.`)
  }
  const ctx: Ctx = { ...parent, scope, failure: ownFailure ?? parent.failure, on, recipeDirs: withRecipeDir(parent.recipeDirs, scope) }

  // pi-actors names the result channel with `output`; `"stdout"` (its default, written out in
  // its own packaged recipes) is that channel, not a file called `stdout`.
  const outputFile = (text: string | undefined) =>
    text === undefined || text === "" || text === stdoutChannel ? undefined : resolveFrom(ctx.cwd, text)
  const base = (p: string, sc: Text.Scope): NodeOptions => {
    const timeoutMs = numericField(sc, "timeout", node.timeout, "non-negative")
    const delayMs = numericField(sc, "delay", node.delay, "non-negative")
    const attempts = attemptsField(sc, node.retry)
    const label = node.label === undefined || node.repeat !== undefined ? undefined : Text.substitute(sc, node.label)
    const output = outputFile(node.output === undefined ? undefined : Text.substitute(sc, node.output))
    const recover = node.recover === undefined ? undefined : expand(node.recover, { ...ctx, scope: sc }, `${p}.recover`, "continue")
    return {
      path: p,
      label,
      failure,
      timeoutMs: timeoutMs === 0 ? undefined : timeoutMs,
      delayMs: delayMs === 0 ? undefined : delayMs,
      attempts,
      recover,
      output
    }
  }

  if (node.when !== undefined && !evalWhen(scope, node.when)) {
    return { _tag: "Skip", reason: "when", path, label: node.label, failure, attempts: 1 }
  }

  if (node.repeat !== undefined) {
    const n = repeatField(scope, node.repeat)
    if (n === 0) return { _tag: "Skip", reason: "repeat", path, label: node.label, failure, attempts: 1 }
    const parallel = node.parallel === true
    if (parallel && n > maxFanout) tfail("validation", `parallel fanout ${n} exceeds limit ${maxFanout}`)
    const { repeat: _r, parallel: _p, concurrency, min_successful, ...single } = node
    const copies: Array<PlannedNode> = []
    for (let i = 0; i < n; i++) {
      const values = { ...scope.values, ...repeatValues(i, n) }
      const sc: Text.Scope = { ...scope, values }
      const copyLabel = node.label === undefined ? undefined : Text.substitute(sc, node.label)
      copies.push(
        expandNode(
          { ...single, label: copyLabel, failure: undefined, defaults: undefined, args: undefined },
          { ...ctx, scope: sc },
          `${path}.${i}`,
          ctx.failure ?? "continue"
        )
      )
    }
    // The label template names each copy; the repeat node itself keeps no label.
    const opts = { ...base(path, scope), label: undefined }
    if (!parallel) return { _tag: "Sequence", ...opts, timeoutMs: undefined, delayMs: undefined, attempts: 1, recover: undefined, steps: copies }
    return parallelNode(opts, copies, scope, concurrency, min_successful, ctx.failure === "branch")
  }

  const opts = base(path, scope)
  if (node.parallel === true) {
    const items = Array.isArray(node.template) ? (node.template as ReadonlyArray<TemplateInput>) : [node.template]
    if (items.length === 0) tfail("validation", noSteps)
    if (items.length > maxFanout) tfail("validation", `parallel fanout ${items.length} exceeds limit ${maxFanout}`)
    const children = items.map((c, i) => expand(c, ctx, `${path}.${i}`, ctx.failure ?? "continue"))
    return parallelNode(opts, children, scope, node.concurrency, node.min_successful, ctx.failure === "branch")
  }
  if (node.concurrency !== undefined || node.min_successful !== undefined) {
    numericField(scope, "concurrency", node.concurrency, "positive-int")
    numericField(scope, "min_successful", node.min_successful, "positive-int")
  }
  const inner = expand(node.template, ctx, path, failure)
  // The node's options wrap its template: a leaf or sequence takes them directly.
  if (inner._tag === "Leaf" || inner._tag === "Sequence") return { ...inner, ...opts } as PlannedNode
  return { _tag: "Sequence", ...opts, steps: [{ ...inner, path: `${path}.0`, failure: "branch" }] }
}

/**
 * A parallel node over its planned branches. A branch without a label, or with an empty one,
 * is `branch N` (1-based), as in pi-actors. `failure: "branch"` on the node (set there or
 * inherited) makes every branch required — the node fails when any branch fails, as pi-actors
 * 0.17 does — unless `min_successful` is given explicitly.
 */
const parallelNode = (
  opts: NodeOptions,
  branches: ReadonlyArray<PlannedNode>,
  scope: Text.Scope,
  concurrencyField: number | string | undefined,
  minField: number | string | undefined,
  failBranch: boolean
): PlannedParallel => {
  const concurrency = numericField(scope, "concurrency", concurrencyField, "positive-int")
  const explicitMin = numericField(scope, "min_successful", minField, "positive-int")
  if (explicitMin !== undefined && explicitMin > branches.length) {
    tfail("validation", `min_successful ${explicitMin} exceeds branch count ${branches.length}`)
  }
  const minSuccessful = explicitMin ?? (failBranch ? branches.length : undefined)
  const children = branches.map((c, i) => (c.label === undefined || c.label === "" ? { ...c, label: `branch ${i + 1}` } : c))
  return { _tag: "Parallel", ...opts, children, concurrency, minSuccessful }
}

/**
 * Values a `repeat` copy sees, as in pi-actors 0.17: `index`, `prev`, `next` (cyclic) and
 * `repeat`, each also zero-padded as `_index` (width 2) … `______index` (width 7).
 */
export const repeatValues = (i: number, n: number): Record<string, unknown> => {
  const plain: Record<string, number> = { index: i, prev: (i - 1 + n) % n, next: (i + 1) % n, repeat: n }
  const out: Record<string, unknown> = { ...plain }
  for (const [name, v] of Object.entries(plain)) {
    for (let w = 1; w <= 6; w++) out["_".repeat(w) + name] = String(v).padStart(w + 1, "0")
  }
  return out
}

const bareWhen = /^(!?)\s*([A-Za-z_][A-Za-z0-9_-]*)$/
const singleWhen = /^(!?)\s*(\{[^{}]+\})$/

/**
 * `when` (SPEC-runtime §1.5, pi-actors forms): a boolean; a bare name `"flag"` or `"!flag"`;
 * one placeholder `"{flag}"` / `"!{flag}"` (a missing plain name is false); or text that is
 * substituted and tested for truthiness. An empty string is false.
 */
const evalWhen = (scope: Text.Scope, when: boolean | string): boolean => {
  if (typeof when === "boolean") return when
  const text = when.trim()
  if (text === "") return false
  const bare = bareWhen.exec(text)
  if (bare !== null) return Text.truthy(Text.lookup(scope, bare[2]!)) !== (bare[1] === "!")
  const single = singleWhen.exec(text)
  if (single !== null) {
    const seg = Text.segmentText(single[2]!)[0]
    if (seg !== undefined && seg._tag === "Ph") {
      const ph = seg.ph
      const value = ph._tag === "Name" && ph.inlineDefault === undefined && ph.arith === undefined
        ? Text.lookup(scope, ph.name)
        : Text.evalPlaceholder(scope, ph)
      return Text.truthy(value) !== (single[1] === "!")
    }
  }
  return Text.truthy(Text.substitute(scope, text))
}

/** Names a bare `when` (`"flag"`, `"!flag"`) reads; each is declared `flag:bool=false`. */
export const whenFlag = (when: boolean | string | undefined): string | undefined => {
  if (typeof when !== "string") return undefined
  return bareWhen.exec(when.trim())?.[2]
}

const resolveFrom = (cwd: string, p: string) => (p.startsWith("/") ? p : `${cwd.replace(/\/$/, "")}/${p}`)

/**
 * Expands a decoded template against its options into the planned tree (leaves' command words
 * not yet resolved against the filesystem). Recipe-level `args` defaults sit under `defaults`;
 * typed runtime values and defaults are validated up front, even if unused.
 *
 * @throws TemplateError with the texts of SPEC-runtime §1.
 */
export const planTree = (template: TemplateInput, options: PlanOptions): PlannedNode => {
  const explicit = Text.parseArgDecls(options.args ?? [])
  const decls = Text.mergeDecls(explicit, collectInline(template, []))
  const defaults: Record<string, unknown> = {}
  for (const d of explicit) if (d.default !== undefined) defaults[d.name] = d.default
  Object.assign(defaults, options.defaults ?? {})
  const scope: Text.Scope = { values: options.values ?? {}, defaults, decls }
  for (const [k, d] of decls) {
    const v = Text.lookupRaw(scope, k)
    if (v !== undefined) Text.checkTyped(scope, k, d.type, v)
  }
  const on = options.on ?? "local"
  if (!hostOnPattern.test(on)) tfail("validation", `Invalid host for on: ${on}. Use "local", "broker", "vm:<id>", commit:<id> or golden.`)
  const ctx: Ctx = { scope, failure: undefined, cwd: options.cwd, on, resolveImport: options.resolveImport, importing: [], recipeDirs: withRecipeDir([], scope) }
  return expand(template, ctx, "root", "root")
}
