/**
 * CommandGraph: parse, plan and execute command templates (SPEC-runtime §1).
 *
 * `plan` expands a template against its values into a tree whose every leaf already has its
 * argv — all validation happens there, before any process starts. `execute` runs a plan
 * through the {@link Host}: sequences pipe complete stdout, parallel nodes fan out with a soft
 * quorum, and failure scopes, timeouts, retries and repeats behave as the spec says.
 *
 * Corresponds to pi-actors' command-template runner, with the divergences of SPEC-runtime
 * (root failures interrupt running siblings; a failed last step fails its sequence).
 */
import { FileSystem, Path } from "@effect/platform"
import { Cause, Clock, Data, Duration, Effect, Either, Exit, Option, Ref, Schema, type Stream } from "effect"
import { describeParseError } from "../domain/Diagnostic.js"
import * as Output from "../domain/Output.js"
import type {
  DryRunLeaf,
  FailureRecord,
  GraphEvent,
  GraphResult,
  NodeOptions,
  NodeResult,
  PlannedLeaf,
  PlannedNode,
  PlannedParallel,
  PlannedSequence,
  SoftQuorum
} from "../domain/Plan.js"
import { argvRisks } from "../domain/Risk.js"
import {
  type ArgDecl,
  type ArgsJsonSchema,
  type FailureScope,
  strictParse,
  TemplateError,
  TemplateInput,
  type TemplateNodeInput
} from "../domain/Template.js"
import * as Text from "../domain/TemplateText.js"
import { Host, type LeafStdin } from "./Host.js"
import { homedir } from "node:os"

/** Parallel fan-out cap (SPEC-runtime §1.5): `parallel fanout 65 exceeds limit 64`. */
export const maxFanout = 64

/** Exit code of a node that hit its `timeout`. */
export const timeoutCode = 124

/** Exit code when a step's stdin (the previous step's spill) cannot be read. */
export const incompleteStdinCode = 74

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
  ...[1, 2, 3, 4, 5, 6].map((n) => "_".repeat(n) + "index")
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
}

export interface ExecuteOptions {
  /** Directory for spill files (created on demand). */
  readonly outputDir: string
  /** Environment added to every leaf. */
  readonly env?: Readonly<Record<string, string>> | undefined
  /** Receives `command.start` / `command.done` events. */
  readonly onEvent?: ((event: GraphEvent) => Effect.Effect<void>) | undefined
  /**
   * Live log files (a run's `stdout.log` / `stderr.log`). Every leaf's stderr is appended to
   * `stderr`; only the stdout of leaves whose output is the template's output (the last step
   * of a sequence, every branch of a parallel node) is appended to `stdout`, so intermediate
   * pipe data stays out of it. Branch outputs interleave there as they arrive.
   */
  readonly logs?: { readonly stdout: string; readonly stderr: string } | undefined
  /**
   * A live stdin for the leaf at `leafPath` (see {@link firstLeafPath}), used instead of "no
   * stdin" when that leaf gets none from a previous step: `stdin-jsonl` delivery.
   */
  readonly liveStdin?: { readonly leafPath: string; readonly source: Stream.Stream<Uint8Array> } | undefined
}

/**
 * The leaf that receives the template's own stdin first: the root leaf, the first step of a
 * sequence, the first branch of a parallel node (recursively); undefined for a skipped root.
 */
export const firstLeafPath = (node: PlannedNode): string | undefined => {
  switch (node._tag) {
    case "Leaf":
      return node.path
    case "Sequence":
      return node.steps[0] === undefined ? undefined : firstLeafPath(node.steps[0])
    case "Parallel":
      return node.children[0] === undefined ? undefined : firstLeafPath(node.children[0])
    case "Skip":
      return undefined
  }
}

/** Paths of the leaves whose stdout is the node's output (see {@link ExecuteOptions.logs}). */
export const outputLeaves = (node: PlannedNode, into: Set<string> = new Set()): Set<string> => {
  switch (node._tag) {
    case "Leaf":
      into.add(node.path)
      break
    case "Sequence": {
      for (let i = node.steps.length - 1; i >= 0; i--) {
        const step = node.steps[i]!
        if (step._tag === "Skip") continue
        outputLeaves(step, into)
        break
      }
      break
    }
    case "Parallel":
      for (const c of node.children) outputLeaves(c, into)
      break
    case "Skip":
      break
  }
  return into
}

/** Internal control flow: a `failure: "root"` step aborts the whole run. */
class RootAbort extends Data.TaggedError("RootAbort")<{ readonly result: NodeResult }> {}

// ---------------------------------------------------------------------------------------------
// Planning (pure expansion)
// ---------------------------------------------------------------------------------------------

interface Ctx {
  readonly scope: Text.Scope
  /** `failure` set by the nearest ancestor node, applied to steps without their own. */
  readonly failure: FailureScope | undefined
  readonly cwd: string
  readonly on: string
  readonly resolveImport: ImportResolver | undefined
  /** Import aliases being expanded (cycle guard). */
  readonly importing: ReadonlyArray<string>
}

const tfail = (reason: TemplateError["reason"], message: string): never => {
  throw new TemplateError({ reason, message })
}

const noSteps = "Tool template produced no command steps."

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
  kind: "non-negative" | "positive-int" | "non-negative-int"
): number | undefined => {
  if (v === undefined) return undefined
  const text = typeof v === "number" ? String(v) : Text.substitute(scope, v).trim()
  const n = text === "" ? Number.NaN : Number(text)
  switch (kind) {
    case "non-negative":
      if (!Number.isFinite(n) || n < 0) tfail("validation", `Command template ${field} must be a non-negative number.`)
      return n
    case "non-negative-int":
      if (!Number.isInteger(n) || n < 0) tfail("validation", `Command template ${field} must be a non-negative integer.`)
      return n
    case "positive-int":
      if (!Number.isInteger(n) || n < 1) tfail("validation", `Command template ${field} must be a positive integer.`)
      return n
  }
}

const exactRef = /^\{([A-Za-z_][A-Za-z0-9_-]*)(?:\[(\d+|[A-Za-z_][A-Za-z0-9_-]*)\])?\}$/

/**
 * Merges child defaults over the parent's (child wins). A child default written exactly as
 * `{x}` or `{x[i]}` resolves against the parent defaults + runtime values (runtime winning).
 */
const mergeDefaults = (parent: Text.Scope, own: Readonly<Record<string, unknown>> | undefined): Record<string, unknown> => {
  if (own === undefined) return { ...parent.defaults }
  const out: Record<string, unknown> = { ...parent.defaults }
  for (const [k, v] of Object.entries(own)) {
    const ref = exactReference(parent, v)
    if (ref === undefined) out[k] = v
    else if (ref.found) out[k] = ref.value
    else delete out[k]
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
 * `{ "target": "{scope}/docs" }` reads the importing recipe's `scope`.
 */
const boundValues = (parent: Text.Scope, values: Readonly<Record<string, unknown>>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(values).map(([k, v]) => {
    const ref = exactReference(parent, v)
    if (ref?.found === true) return [k, ref.value]
    return [k, typeof v === "string" ? Text.expandValue(parent, v, 0) : v]
  }))

/** Inline declarations of every leaf string in a template tree (import nodes excluded). */
const collectInline = (t: TemplateInput, acc: Array<ArgDecl>, seen = new Set<unknown>()): Array<ArgDecl> => {
  if (typeof t === "string") acc.push(...Text.inlineInfo(t).decls)
  else if (Array.isArray(t)) for (const c of t) collectInline(c, acc, seen)
  else if (typeof t === "object" && t !== null && !seen.has(t)) {
    seen.add(t)
    const n = t as TemplateNodeInput
    if (n.template !== undefined) collectInline(n.template, acc, seen)
    if (n.recover !== undefined) collectInline(n.recover, acc, seen)
  }
  return acc
}

const leafOptions = (path: string, failure: FailureScope): NodeOptions => ({ path, failure, retry: 0 })

const expand = (input: TemplateInput, ctx: Ctx, path: string, failure: FailureScope): PlannedNode => {
  if (typeof input === "string") {
    const argv = Text.renderArgv(ctx.scope, input)
    if (argv.length === 0) tfail("validation", noSteps)
    return { _tag: "Leaf", ...leafOptions(path, failure), argv, cwd: ctx.cwd, on: ctx.on }
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
  for (const [k, v] of Object.entries(node.defaults ?? {})) {
    const d = decls.get(k)
    if (d !== undefined && v !== null && v !== undefined) Text.normalizeTyped(k, d.type, v)
  }
  const on = node.on === undefined ? parent.on : Text.substitute(scope, node.on).trim()
  if (on !== "local" && !/^vm:[A-Za-z0-9_.-]+$/.test(on)) tfail("validation", `Invalid host for on: ${on}. Use "local" or "vm:<id>".`)
  if (on !== "local") tfail("validation", `Host ${on} is not available: no VM host is configured.`)
  const ctx: Ctx = { ...parent, scope, failure: ownFailure ?? parent.failure, on }

  const base = (p: string, sc: Text.Scope): NodeOptions => {
    const timeoutMs = numericField(sc, "timeout", node.timeout, "non-negative")
    const delayMs = numericField(sc, "delay", node.delay, "non-negative")
    const retry = numericField(sc, "retry", node.retry, "non-negative-int") ?? 0
    const label = node.label === undefined || node.repeat !== undefined ? undefined : Text.substitute(sc, node.label)
    const output = node.output === undefined ? undefined : resolveFrom(ctx.cwd, Text.substitute(sc, node.output))
    const recover = node.recover === undefined ? undefined : expand(node.recover, { ...ctx, scope: sc }, `${p}.recover`, "continue")
    return {
      path: p,
      label,
      failure,
      timeoutMs: timeoutMs === 0 ? undefined : timeoutMs,
      delayMs: delayMs === 0 ? undefined : delayMs,
      retry,
      recover,
      output
    }
  }

  if (node.when !== undefined && !evalWhen(scope, node.when)) {
    return { _tag: "Skip", reason: "when", path, label: node.label, failure, retry: 0 }
  }

  if (node.repeat !== undefined) {
    const n = numericField(scope, "repeat", node.repeat, "non-negative-int")!
    if (n === 0) return { _tag: "Skip", reason: "repeat", path, label: node.label, failure, retry: 0 }
    const parallel = node.parallel === true
    if (parallel && n > maxFanout) tfail("validation", `parallel fanout ${n} exceeds limit ${maxFanout}`)
    const { repeat: _r, parallel: _p, concurrency, min_successful, ...single } = node
    const copies: Array<PlannedNode> = []
    for (let i = 0; i < n; i++) {
      const values = { ...scope.values, ...repeatValues(i, n) }
      const sc: Text.Scope = { ...scope, values }
      const copyLabel = node.label === undefined ? (parallel ? `branch ${i + 1}` : undefined) : Text.substitute(sc, node.label)
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
    if (!parallel) return { _tag: "Sequence", ...opts, timeoutMs: undefined, delayMs: undefined, retry: 0, recover: undefined, steps: copies }
    return parallelNode(opts, copies, scope, concurrency, min_successful)
  }

  const opts = base(path, scope)
  if (node.parallel === true) {
    const items = Array.isArray(node.template) ? (node.template as ReadonlyArray<TemplateInput>) : [node.template]
    if (items.length === 0) tfail("validation", noSteps)
    if (items.length > maxFanout) tfail("validation", `parallel fanout ${items.length} exceeds limit ${maxFanout}`)
    const children = items.map((c, i) => {
      const child = expand(c, ctx, `${path}.${i}`, ctx.failure ?? "continue")
      return child.label === undefined ? { ...child, label: `branch ${i + 1}` } : child
    })
    return parallelNode(opts, children, scope, node.concurrency, node.min_successful)
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

const parallelNode = (
  opts: NodeOptions,
  children: ReadonlyArray<PlannedNode>,
  scope: Text.Scope,
  concurrencyField: number | string | undefined,
  minField: number | string | undefined
): PlannedParallel => {
  const concurrency = numericField(scope, "concurrency", concurrencyField, "positive-int")
  const minSuccessful = numericField(scope, "min_successful", minField, "positive-int")
  if (minSuccessful !== undefined && minSuccessful > children.length) {
    tfail("validation", `min_successful ${minSuccessful} exceeds branch count ${children.length}`)
  }
  return { _tag: "Parallel", ...opts, children, concurrency, minSuccessful }
}

/** Values a `repeat` copy sees: `index`, `_index` … `______index` (zero-padded), `prev`, `next`, `repeat`. */
export const repeatValues = (i: number, n: number): Record<string, unknown> => {
  const out: Record<string, unknown> = { index: i, prev: (i - 1 + n) % n, next: (i + 1) % n, repeat: n }
  for (let w = 1; w <= 6; w++) out["_".repeat(w) + "index"] = String(i).padStart(w + 1, "0")
  return out
}

const evalWhen = (scope: Text.Scope, when: boolean | string): boolean => {
  if (typeof when === "boolean") return when
  const single = exactRef.exec(when.trim())
  if (single !== null && single[2] === undefined) return Text.truthy(Text.lookup(scope, single[1]!))
  return Text.truthy(Text.substitute(scope, when))
}

const resolveFrom = (cwd: string, p: string) => (p.startsWith("/") ? p : `${cwd.replace(/\/$/, "")}/${p}`)

// ---------------------------------------------------------------------------------------------
// Results helpers
// ---------------------------------------------------------------------------------------------

const emptyResult = (status: NodeResult["status"], stdout: Output.CapturedOutput): NodeResult => ({
  status,
  code: 0,
  killed: false,
  stdout,
  stderr: Output.emptyOutput,
  failures: []
})

const isFailed = (r: NodeResult) => r.status === "failed" || r.status === "timeout"

const stdinOf = (o: Output.CapturedOutput | undefined): LeafStdin =>
  o === undefined ? { _tag: "None" } : o.spill !== undefined ? { _tag: "File", path: o.spill } : { _tag: "Bytes", bytes: o.bytes }

const tailChars = (s: string, n: number) => (s.length <= n ? s : s.slice(s.length - n))

const failureRecord = (opts: NodeOptions, r: NodeResult, critical: boolean): FailureRecord => ({
  path: opts.path,
  label: opts.label,
  status: r.status === "timeout" ? "timeout" : "failed",
  code: r.code,
  killed: r.killed,
  critical,
  stderr_tail: tailChars(r.message ?? Output.decodeUtf8(r.stderr.bytes), 1000)
})

/**
 * The spec's failure text: `Exit code N[ (killed)]\n\nstderr:\n…\n\nstdout:\n…`, each stream
 * as a bounded tail; empty output is `(no output)`.
 */
export const failureText = (r: NodeResult): string => {
  const show = (o: Output.CapturedOutput) => {
    const text = Output.decodeUtf8(o.bytes)
    if (text.trim() === "") return "(no output)"
    const tail = Output.boundedTail(text, Output.tailMaxBytes, Output.tailMaxLines, o.size)
    return tail.truncated || o.spill !== undefined ? `${Output.truncationNotice(tail, o.spill)}\n${tail.text}` : tail.text
  }
  const stderr = r.message !== undefined ? r.message : show(r.stderr)
  return `Exit code ${r.code}${r.killed ? " (killed)" : ""}\n\nstderr:\n${stderr}\n\nstdout:\n${show(r.stdout)}`
}

// ---------------------------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------------------------

/** Templates decode with the strict boundary schema (unknown node fields rejected). */
const decodeTemplate = Schema.decodeUnknownEither(TemplateInput)

export class CommandGraph extends Effect.Service<CommandGraph>()("troupe/CommandGraph", {
  effect: Effect.gen(function* () {
    const host = yield* Host
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path

    const parseTemplate = (input: unknown): Either.Either<TemplateInput, TemplateError> =>
      Either.mapLeft(
        decodeTemplate(input, strictParse),
        (e) => new TemplateError({ reason: "syntax", message: `Command template: ${describeParseError(e, input)}` })
      )

    /** Resolves a command-position word (SPEC-runtime §1.2 step 4). */
    const resolveCommand = (argv: ReadonlyArray<string>, cwd: string, home: string) =>
      Effect.gen(function* () {
        let cmd = argv[0]!
        if (cmd === "~" || cmd.startsWith("~/")) cmd = home + cmd.slice(1)
        else if (!path.isAbsolute(cmd) && cmd.includes("/")) cmd = path.resolve(cwd, cmd)
        if (!cmd.includes("/")) return [cmd, ...argv.slice(1)]
        const ext = path.extname(cmd)
        if (ext !== ".js" && ext !== ".mjs" && ext !== ".cjs" && ext !== ".sh") return [cmd, ...argv.slice(1)]
        const direct = yield* Effect.gen(function* () {
          const info = yield* fs.stat(cmd)
          if (info.type !== "File" || (info.mode & 0o111) === 0) return false
          const head = yield* Effect.scoped(
            Effect.flatMap(fs.open(cmd, { flag: "r" }), (f) => f.readAlloc(2))
          )
          return Option.match(head, { onNone: () => false, onSome: (b) => b[0] === 0x23 && b[1] === 0x21 })
        }).pipe(Effect.orElseSucceed(() => false))
        if (direct) return [cmd, ...argv.slice(1)]
        return [ext === ".sh" ? "bash" : process.execPath, cmd, ...argv.slice(1)]
      })

    const resolveLeaves = (node: PlannedNode, home: string): Effect.Effect<PlannedNode> =>
      Effect.gen(function* () {
        const recover = node.recover === undefined ? undefined : yield* resolveLeaves(node.recover, home)
        switch (node._tag) {
          case "Leaf":
            return { ...node, recover, argv: yield* resolveCommand(node.argv, node.cwd, home) }
          case "Sequence":
            return { ...node, recover, steps: yield* Effect.forEach(node.steps, (s) => resolveLeaves(s, home)) }
          case "Parallel":
            return { ...node, recover, children: yield* Effect.forEach(node.children, (s) => resolveLeaves(s, home)) }
          case "Skip":
            return node
        }
      })

    /**
     * Expands and validates a template against its values. Fails with TemplateError (every
     * text of SPEC-runtime §1) before any process starts.
     */
    const plan = Effect.fn("CommandGraph.plan")(function* (input: unknown, options: PlanOptions) {
      const template = yield* parseTemplate(input)
      const home = options.home ?? homedir()
      const root = yield* Text.attempt(() => {
        const explicit = Text.parseArgDecls(options.args ?? [])
        const decls = Text.mergeDecls(explicit, collectInline(template, []))
        const defaults: Record<string, unknown> = {}
        for (const d of explicit) if (d.default !== undefined) defaults[d.name] = d.default
        Object.assign(defaults, options.defaults ?? {})
        const scope: Text.Scope = { values: options.values ?? {}, defaults, decls }
        // Typed runtime values and defaults are validated up front, even if unused.
        for (const [k, d] of decls) {
          const v = Text.lookupRaw(scope, k)
          if (v !== undefined) Text.normalizeTyped(k, d.type, v)
        }
        const ctx: Ctx = { scope, failure: undefined, cwd: options.cwd, on: "local", resolveImport: options.resolveImport, importing: [] }
        return expand(template, ctx, "root", "root")
      })
      return yield* resolveLeaves(root, home)
    })

    /** JSON Schema of a template's arguments (required = no default anywhere). */
    const argsSchema = (input: unknown, args?: ReadonlyArray<string>, defaults?: Readonly<Record<string, unknown>>) =>
      Either.flatMap(parseTemplate(input), (template) => Text.attempt(() => templateArgsSchema(template, args ?? [], defaults ?? {})))

    // --- execution ---------------------------------------------------------------------------

    const readAll = (o: Output.CapturedOutput) =>
      o.spill === undefined ? Effect.succeed(o.bytes) : fs.readFile(o.spill)

    const writeOutputFile = (target: string, o: Output.CapturedOutput) =>
      Effect.gen(function* () {
        yield* fs.makeDirectory(path.dirname(target), { recursive: true })
        const tmp = `${target}.tmp-${process.pid}`
        if (o.spill !== undefined) yield* fs.copyFile(o.spill, tmp)
        else yield* fs.writeFile(tmp, o.bytes)
        yield* fs.rename(tmp, target)
      })

    const captureJoined = (bytes: Uint8Array, outputDir: string, name: string) =>
      Effect.gen(function* () {
        if (bytes.length <= Output.captureLimitBytes) return Output.outputFromBytes(bytes)
        yield* fs.makeDirectory(outputDir, { recursive: true })
        const spill = path.join(outputDir, `${name}.stdout.log`)
        yield* fs.writeFile(spill, bytes)
        return { size: bytes.length, bytes: Output.utf8SafeTail(bytes, Output.spilledTailBytes), spill } satisfies Output.CapturedOutput
      })

    const execute = Effect.fn("CommandGraph.execute")(function* (root: PlannedNode, options: ExecuteOptions) {
      const started = yield* Clock.currentTimeMillis
      const attempts = yield* Ref.make(0)
      const emit = (e: GraphEvent) => (options.onEvent === undefined ? Effect.void : options.onEvent(e))
      const logs = options.logs
      const finals = logs === undefined ? new Set<string>() : outputLeaves(root)

      const runLeaf = (leaf: PlannedLeaf, stdin: Output.CapturedOutput | undefined): Effect.Effect<NodeResult, RootAbort> =>
        Effect.gen(function* () {
          const n = yield* Ref.updateAndGet(attempts, (x) => x + 1)
          const name = `${leaf.path}-${n}`
          const result = yield* host
            .run({
              argv: leaf.argv,
              cwd: leaf.cwd,
              env: options.env,
              stdin: stdin === undefined && options.liveStdin !== undefined && options.liveStdin.leafPath === leaf.path
                ? { _tag: "Live", source: options.liveStdin.source }
                : stdinOf(stdin),
              outputDir: options.outputDir,
              name,
              logs: logs === undefined ? undefined : { stderr: logs.stderr, stdout: finals.has(leaf.path) ? logs.stdout : undefined },
              onSpawn: (id) => emit({ type: "command.start", path: leaf.path, label: leaf.label, argv: leaf.argv, pid: id.pid, pgid: id.pgid, startTime: id.startTime, marker: id.marker, attempt: n })
            })
            .pipe(Effect.either)
          if (Either.isLeft(result)) {
            const err = result.left
            if (err.reason === "io") {
              const r: NodeResult = { ...emptyResult("failed", Output.emptyOutput), code: incompleteStdinCode, message: `incomplete pipeline stdin: ${err.message}` }
              return yield* new RootAbort({ result: { ...r, failures: [failureRecord(leaf, r, true)] } })
            }
            const r: NodeResult = { ...emptyResult("failed", Output.emptyOutput), code: err.code, message: err.message }
            yield* emit({ type: "command.done", path: leaf.path, label: leaf.label, code: err.code, killed: false, duration_ms: 0, status: "failed" })
            return r
          }
          const res = result.right
          const status = res.code === 0 ? "done" : "failed"
          yield* emit({ type: "command.done", path: leaf.path, label: leaf.label, code: res.code, killed: res.signal !== undefined, duration_ms: res.durationMs, status })
          return { status, code: res.code, killed: res.signal !== undefined, stdout: res.stdout, stderr: res.stderr, failures: [] }
        })

      const runSequence = (seq: PlannedSequence, stdin: Output.CapturedOutput | undefined): Effect.Effect<NodeResult, RootAbort> =>
        Effect.gen(function* () {
          let input = stdin
          const failures: Array<FailureRecord> = []
          let last: NodeResult = emptyResult("done", stdin ?? Output.emptyOutput)
          for (let i = 0; i < seq.steps.length; i++) {
            const step = seq.steps[i]!
            const isLast = i === seq.steps.length - 1
            const r = yield* runNode(step, input)
            failures.push(...r.failures)
            if (isFailed(r)) {
              const critical = step.failure === "branch" || isLast
              if (!r.failures.some((f) => f.path.startsWith(step.path))) failures.push(failureRecord(step, r, critical))
              if (critical) return { ...r, failures }
              input = undefined
              last = r
              continue
            }
            input = r.stdout
            last = r
          }
          return { ...last, failures }
        })

      const runParallel = (par: PlannedParallel, stdin: Output.CapturedOutput | undefined): Effect.Effect<NodeResult, RootAbort> =>
        Effect.gen(function* () {
          const results = yield* Effect.forEach(par.children, (c) => runNode(c, stdin), {
            concurrency: par.concurrency ?? "unbounded"
          })
          const expected = results.length
          const usable = results.filter((r) => !isFailed(r)).length
          const failed = expected - usable
          const quorum: SoftQuorum = {
            expected,
            done: usable,
            failed,
            usable,
            coverage: Math.round((usable / expected) * 100) / 100,
            degraded: failed > 0
          }
          const ok = usable >= (par.minSuccessful ?? 1)
          const parts: Array<Uint8Array> = []
          const enc = new TextEncoder()
          for (let i = 0; i < results.length; i++) {
            const r = results[i]!
            const child = par.children[i]!
            const status = r.status === "skipped" ? "done" : r.status
            let header = `--- branch: ${child.label ?? `branch ${i + 1}`} status: ${status} ---\n`
            if (isFailed(r)) {
              header += `exit: ${r.code}\nstderr: ${tailChars(r.message ?? Output.decodeUtf8(r.stderr.bytes), 1000)}\n`
            }
            parts.push(enc.encode(header))
            const body = yield* readAll(r.stdout).pipe(Effect.orElseSucceed(() => r.stdout.bytes))
            parts.push(body)
            if (body.length > 0 && body[body.length - 1] !== 0x0a) parts.push(enc.encode("\n"))
          }
          const joined = Buffer.concat(parts)
          const stdout = yield* captureJoined(joined, options.outputDir, `${par.path}-joined`).pipe(
            Effect.orElseSucceed(() => Output.outputFromBytes(Output.utf8SafeTail(joined, Output.captureLimitBytes)))
          )
          const failures = results.flatMap((r, i) => {
            const child = par.children[i]!
            const own = r.failures.some((f) => f.path.startsWith(child.path)) ? [] : isFailed(r) ? [failureRecord(child, r, !ok)] : []
            return [...r.failures.map((f) => (ok ? { ...f, critical: false } : f)), ...own]
          })
          const firstFailed = results.find(isFailed)
          return {
            status: ok ? "done" : "failed",
            code: ok ? 0 : (firstFailed?.code || 1),
            killed: false,
            stdout,
            stderr: firstFailed?.stderr ?? Output.emptyOutput,
            failures,
            softQuorum: quorum,
            message: ok ? undefined : `soft quorum not met: ${usable} of ${expected} branches usable, ${par.minSuccessful ?? 1} required`
          } satisfies NodeResult
        })

      const runOnce = (node: PlannedNode, stdin: Output.CapturedOutput | undefined): Effect.Effect<NodeResult, RootAbort> => {
        switch (node._tag) {
          case "Leaf":
            return runLeaf(node, stdin)
          case "Sequence":
            return runSequence(node, stdin)
          case "Parallel":
            return runParallel(node, stdin)
          case "Skip":
            return Effect.succeed(emptyResult("skipped", stdin ?? Output.emptyOutput))
        }
      }

      const withTimeout = (node: PlannedNode, eff: Effect.Effect<NodeResult, RootAbort>) =>
        node.timeoutMs === undefined
          ? eff
          : eff.pipe(
              Effect.timeoutTo({
                duration: Duration.millis(node.timeoutMs),
                onSuccess: (r): NodeResult => r,
                onTimeout: (): NodeResult => ({
                  ...emptyResult("timeout", Output.emptyOutput),
                  code: timeoutCode,
                  killed: true,
                  message: `timeout after ${node.timeoutMs} ms`
                })
              })
            )

      const runNode = (node: PlannedNode, stdin: Output.CapturedOutput | undefined): Effect.Effect<NodeResult, RootAbort> =>
        Effect.gen(function* () {
          if (node.delayMs !== undefined) yield* Effect.sleep(Duration.millis(node.delayMs))
          let r = yield* withTimeout(node, runOnce(node, stdin))
          const earlier: Array<FailureRecord> = []
          for (let attempt = 0; isFailed(r) && attempt < node.retry; attempt++) {
            earlier.push(failureRecord(node, r, false))
            if (node.recover !== undefined) {
              const rec = yield* runNode(node.recover, undefined)
              if (isFailed(rec)) {
                r = { ...rec, failures: [...rec.failures, failureRecord(node.recover, rec, true)] }
                break
              }
            }
            r = yield* withTimeout(node, runOnce(node, stdin))
          }
          if (earlier.length > 0) r = { ...r, failures: [...earlier, ...r.failures] }
          if (!isFailed(r) && node.output !== undefined) {
            const done = r
            const target = node.output
            r = yield* writeOutputFile(target, done.stdout).pipe(
              Effect.as(done),
              Effect.catchAll((e) =>
                Effect.succeed<NodeResult>({ ...done, status: "failed", code: 1, message: `cannot write output ${target}: ${e.message}` })
              )
            )
          }
          if (isFailed(r) && node.failure === "root") {
            const failures = r.failures.some((f) => f.path === node.path) ? r.failures : [...r.failures, failureRecord(node, r, true)]
            return yield* new RootAbort({ result: { ...r, failures } })
          }
          return r
        })

      const exit = yield* runNode(root, undefined).pipe(Effect.exit)
      const ended = yield* Clock.currentTimeMillis
      const result: NodeResult = Exit.isSuccess(exit)
        ? exit.value
        : yield* Option.match(Cause.failureOption(exit.cause), {
            onSome: (abort) => Effect.succeed(abort.result),
            onNone: () => Effect.failCause(exit.cause as Cause.Cause<never>)
          })
      return { ...result, durationMs: ended - started } satisfies GraphResult
    })

    /** The planned leaves as `troupe run --dry-run` prints them. */
    const dryRun = (root: PlannedNode): ReadonlyArray<DryRunLeaf> => flattenPlan(root)

    return { plan, execute, dryRun, argsSchema, readAll } as const
  })
}) {}

/** Flattens a plan to its leaves with where each one's stdin comes from. */
export const flattenPlan = (root: PlannedNode): ReadonlyArray<DryRunLeaf> => {
  const out: Array<DryRunLeaf> = []
  const walk = (node: PlannedNode, stdinFrom: string, parallel: string | undefined, recoverOf: string | undefined, timed: boolean) => {
    const isTimed = timed || node.timeoutMs !== undefined
    switch (node._tag) {
      case "Leaf": {
        const risks = argvRisks(node.argv, isTimed)
        out.push({
          path: node.path,
          label: node.label,
          argv: node.argv,
          cwd: node.cwd,
          on: node.on,
          stdin_from: stdinFrom,
          timeout_ms: node.timeoutMs,
          delay_ms: node.delayMs,
          retry: node.retry > 0 ? node.retry : undefined,
          failure: node.failure,
          parallel,
          recover_of: recoverOf,
          risks: risks.length > 0 ? risks : undefined
        })
        break
      }
      case "Sequence": {
        let from = stdinFrom
        for (const s of node.steps) {
          walk(s, from, parallel, recoverOf, isTimed)
          from = s.path
        }
        break
      }
      case "Parallel":
        for (const c of node.children) walk(c, stdinFrom, node.path, recoverOf, isTimed)
        break
      case "Skip":
        break
    }
    if (node.recover !== undefined) walk(node.recover, "none", parallel, node.path, false)
  }
  walk(root, "none", undefined, undefined, false)
  return out
}

/**
 * JSON Schema of a template's args: explicit `args` win over inline declarations; a name is
 * required when it has no default anywhere (args, defaults, inline) and is not only read
 * optionally (`??`, ternary). Injected runtime names are excluded.
 *
 * @throws TemplateError (use through `CommandGraph.argsSchema` for an Either).
 */
export const templateArgsSchema = (
  template: TemplateInput,
  args: ReadonlyArray<string>,
  defaults: Readonly<Record<string, unknown>>
): ArgsJsonSchema => {
  const explicit = Text.parseArgDecls(args)
  const decls = Text.mergeDecls(explicit, collectInline(template, []))
  const required = new Set<string>()
  const optional = new Set<string>()
  const withDefault = new Set<string>(Object.keys(defaults))
  const order: Array<string> = explicit.map((d) => d.name)
  const visit = (t: TemplateInput) => {
    if (typeof t === "string") {
      const info = Text.inlineInfo(t)
      for (const n of info.required) required.add(n)
      for (const n of info.optional) optional.add(n)
      for (const n of info.withDefault) withDefault.add(n)
      for (const n of [...info.required, ...info.optional]) if (!order.includes(n)) order.push(n)
    } else if (Array.isArray(t)) t.forEach(visit)
    else if (typeof t === "object" && t !== null) {
      const n = t as TemplateNodeInput
      for (const k of Object.keys(n.defaults ?? {})) withDefault.add(k)
      if (n.template !== undefined) visit(n.template)
      if (n.recover !== undefined) visit(n.recover)
      for (const f of [n.timeout, n.delay, n.retry, n.repeat, n.concurrency, n.min_successful, n.when, n.label, n.output]) {
        if (typeof f === "string") visit(f)
      }
    }
  }
  visit(template)
  const properties: Record<string, ArgsJsonSchema["properties"][string]> = {}
  const req: Array<string> = []
  for (const name of order) {
    if (injectedNames.has(name)) continue
    const d = decls.get(name)
    const t = d?.type ?? { _tag: "string" as const }
    const def = d?.default ?? defaults[name]
    const jsonType =
      t._tag === "int" ? "integer" : t._tag === "number" ? "number" : t._tag === "bool" ? "boolean" : t._tag === "array" ? "array" : "string"
    properties[name] = {
      type: jsonType,
      ...(t._tag === "enum" ? { enum: t.options } : {}),
      ...(def !== undefined ? { default: def } : {}),
      ...(t._tag === "path" ? { description: "path" } : {})
    }
    const hasDefault = def !== undefined || withDefault.has(name)
    if (!hasDefault && (required.has(name) || d?.source === "args") && !(optional.has(name) && !required.has(name))) req.push(name)
  }
  return { type: "object", properties, required: req, additionalProperties: true }
}
