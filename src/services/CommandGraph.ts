/**
 * CommandGraph: parse, plan and execute command templates (SPEC-runtime §1).
 *
 * `plan` expands a template against its values (internal/GraphPlan.ts) into a tree whose every
 * leaf already has its argv — all validation happens there, before any process starts — and
 * asks each leaf's host (`Hosts`, by the leaf's `on`) to resolve its command word. `execute`
 * runs each leaf on its host through LeafCapture: sequences pipe complete stdout, parallel
 * nodes fan out with a soft quorum, and failure scopes, timeouts, retries and repeats behave
 * as the spec says. A leaf whose host is not available fails when it runs, as that leaf.
 *
 * Corresponds to pi-actors' command-template runner, with the divergences of SPEC-runtime
 * (root failures interrupt running siblings; a failed last step fails its sequence).
 */
import { FileSystem, Path } from "@effect/platform"
import { Cause, Clock, Data, Duration, Effect, Either, Exit, Option, RcMap, Ref, Schema, Scope, type Stream } from "effect"
import { describeParseError } from "../domain/Diagnostic.js"
import { deeperThan, maxTemplateDepth } from "../domain/JsonDepth.js"
import * as Output from "../domain/Output.js"
import type {
  DryRunLeaf,
  FailureRecord,
  GraphEvent,
  GraphResult,
  NodeResult,
  PlannedLeaf,
  PlannedNode,
  PlannedParallel,
  PlannedSequence,
  SoftQuorum
} from "../domain/Plan.js"
import { provisionsVm, strictParse, TemplateError, TemplateInput } from "../domain/Template.js"
import * as Text from "../domain/TemplateText.js"
import type { HostShape } from "./Host.js"
import { Hosts } from "./Hosts.js"
import { type LogBudget, runLeaf as captureLeaf } from "./LeafCapture.js"
import { templateArgsSchema } from "./internal/ArgsSchema.js"
import { type PlanOptions, planTree } from "./internal/GraphPlan.js"
import { emptyResult, failureRecord, flattenPlan, isFailed, logOnlyLeaves, outputLeaves, stdinOf } from "./internal/GraphResults.js"
import { homedir } from "node:os"
import { privateFileMode } from "./TroupeConfig.js"

export {
  type ImportResolver,
  injectedNames,
  maxFanout,
  type PlanOptions,
  repeatValues
} from "./internal/GraphPlan.js"
export { templateArgsSchema } from "./internal/ArgsSchema.js"
export { failureText, firstLeafPath, flattenPlan, outputLeaves } from "./internal/GraphResults.js"

/** Exit code of a node that hit its `timeout`. */
export const timeoutCode = 124

/** Exit code when a step's stdin (the previous step's spill) cannot be read. */
export const incompleteStdinCode = 74

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
   * Size limit of each log file in bytes (default {@link Output.defaultMaxLogBytes}, 64 MiB),
   * counted from the file's size when this execution starts. At the limit the log gets one
   * notice line and no more output; a `log.truncated` event says so once per stream.
   */
  readonly maxLogBytes?: number | undefined
  /**
   * A live stdin for the leaf at `leafPath` (see {@link firstLeafPath}), used instead of "no
   * stdin" when that leaf gets none from a previous step: `stdin-jsonl` delivery.
   */
  readonly liveStdin?: { readonly leafPath: string; readonly source: Stream.Stream<Uint8Array> } | undefined
}


/** Internal control flow: a `failure: "root"` step aborts the whole run. */
class RootAbort extends Data.TaggedError("RootAbort")<{ readonly result: NodeResult }> {}

// ---------------------------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------------------------

/** Templates decode with the strict boundary schema (unknown node fields rejected). */
const decodeTemplate = Schema.decodeUnknownEither(TemplateInput)

export class CommandGraph extends Effect.Service<CommandGraph>()("troupe/CommandGraph", {
  effect: Effect.gen(function* () {
    const hosts = yield* Hosts
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path

    // Decoding, planning and resolving walk the template recursively: bound its depth first
    // (without recursion), so a deep one is a sentence, not a RangeError.
    const parseTemplate = (input: unknown): Either.Either<TemplateInput, TemplateError> =>
      deeperThan(input, maxTemplateDepth)
        ? Either.left(new TemplateError({ reason: "syntax", message: `Command template is nested deeper than ${maxTemplateDepth} levels` }))
        : Either.mapLeft(
        decodeTemplate(input, strictParse),
        (e) => new TemplateError({ reason: "syntax", message: `Command template: ${describeParseError(e, input)}` })
      )

    /**
     * Resolves a leaf's command word on the host that will run it (`Host.resolve`). A host that
     * is not available now (a `vm:` leaf without a VM host) leaves the argv as written and marked
     * unresolved: the leaf fails, or resolves, when it runs — not the plan.
     */
    const resolveLeaf = (leaf: PlannedLeaf, home: string) =>
      // A host that provisions a VM (`commit:<id>`, `golden`) is never acquired just to plan.
      // A host that stages recipe folders resolves after staging, when the leaf runs: the
      // command word may be a file of a folder not on that host yet.
      provisionsVm(leaf.on) ? Effect.succeed<PlannedLeaf>({ ...leaf, unresolved: { home } }) : Effect.scoped(Effect.flatMap(hosts.acquire(leaf.on), (host) =>
        host.stage !== undefined && leaf.recipeDirs !== undefined ? Effect.succeed(Option.none()) : Effect.map(host.resolve(leaf.argv, leaf.cwd, home), Option.some)
      )).pipe(
        Effect.match({
          onFailure: (): PlannedLeaf => ({ ...leaf, unresolved: { home } }),
          onSuccess: (argv): PlannedLeaf => Option.match(argv, { onNone: () => ({ ...leaf, unresolved: { home } }), onSome: (a) => ({ ...leaf, argv: a }) })
        })
      )

    const resolveLeaves = (node: PlannedNode, home: string): Effect.Effect<PlannedNode> =>
      Effect.gen(function* () {
        const recover = node.recover === undefined ? undefined : yield* resolveLeaves(node.recover, home)
        switch (node._tag) {
          case "Leaf":
            return { ...(yield* resolveLeaf(node, home)), recover }
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
      const root = yield* Text.attempt(() => planTree(template, options))
      return yield* resolveLeaves(root, home)
    })

    /** JSON Schema of a template's arguments (required = no default anywhere). */
    const argsSchema = (input: unknown, args?: ReadonlyArray<string>, defaults?: Readonly<Record<string, unknown>>) =>
      Either.flatMap(parseTemplate(input), (template) => Text.attempt(() => templateArgsSchema(template, args ?? [], defaults ?? {})))

    // --- execution ---------------------------------------------------------------------------

    /** The budget of a log file: its current size (0 when it does not exist yet) against `limitBytes`. */
    const logBudget = (file: string, limitBytes: number) =>
      fs.stat(file).pipe(
        Effect.map((info): LogBudget => ({ limitBytes, size: Number(info.size), truncated: Number(info.size) >= limitBytes })),
        Effect.orElseSucceed((): LogBudget => ({ limitBytes, size: 0, truncated: false }))
      )

    const readAll = (o: Output.CapturedOutput) =>
      o.spill === undefined ? Effect.succeed(o.bytes) : fs.readFile(o.spill)

    const writeOutputFile = (target: string, o: Output.CapturedOutput) =>
      Effect.gen(function* () {
        yield* fs.makeDirectory(path.dirname(target), { recursive: true })
        const tmp = `${target}.tmp-${process.pid}`
        if (o.spill !== undefined) yield* fs.copyFile(o.spill, tmp)
        else yield* fs.writeFile(tmp, o.bytes, { mode: privateFileMode })
        yield* fs.rename(tmp, target)
      })

    const captureJoined = (bytes: Uint8Array, outputDir: string, name: string) =>
      Effect.gen(function* () {
        if (bytes.length <= Output.captureLimitBytes) return Output.outputFromBytes(bytes)
        yield* fs.makeDirectory(outputDir, { recursive: true })
        const spill = path.join(outputDir, `${name}.stdout.log`)
        yield* fs.writeFile(spill, bytes, { mode: privateFileMode })
        return { size: bytes.length, bytes: Output.utf8SafeTail(bytes, Output.spilledTailBytes), spill } satisfies Output.CapturedOutput
      })

    const execute = Effect.fn("CommandGraph.execute")(function* (root: PlannedNode, options: ExecuteOptions) {
      const started = yield* Clock.currentTimeMillis
      const attempts = yield* Ref.make(0)
      // Hosts are acquired once per execution and held until it ends: every leaf `on` one
      // `commit:<id>` shares the one VM restored for the run, and a VM host keeps its connection.
      const hostScope = yield* Scope.make()
      const runHosts = yield* RcMap.make({ lookup: (on: string) => hosts.acquire(on), idleTimeToLive: Duration.infinity }).pipe(
        Scope.extend(hostScope)
      )
      // Recipe folders staged on a host (`Host.stage`), `<on>\0<dir>`: once per execution,
      // one staging at a time per host so parallel leaves on one VM wait for the same copy.
      const staged = new Set<string>()
      const stageLocks = new Map<string, Effect.Semaphore>()
      const stageFor = (leaf: PlannedLeaf, host: HostShape) => {
        const stage = host.stage
        const dirs = leaf.recipeDirs
        if (stage === undefined || dirs === undefined || dirs.every((d) => staged.has(`${leaf.on}\0${d}`))) return Effect.void
        const lock = stageLocks.get(leaf.on) ?? Effect.unsafeMakeSemaphore(1)
        stageLocks.set(leaf.on, lock)
        return lock.withPermits(1)(Effect.forEach(dirs, (dir) => {
          const key = `${leaf.on}\0${dir}`
          return staged.has(key) ? Effect.void : Effect.tap(stage(dir), () => Effect.sync(() => void staged.add(key)))
        }, { discard: true }))
      }
      const emit = (e: GraphEvent) => (options.onEvent === undefined ? Effect.void : options.onEvent(e))
      const logs = options.logs
      const finals = logs === undefined ? new Set<string>() : outputLeaves(root)
      const logOnly = logs === undefined ? new Set<string>() : logOnlyLeaves(root)
      const limitBytes = options.maxLogBytes ?? Output.defaultMaxLogBytes
      const budgets = logs === undefined ? undefined : {
        stdout: yield* logBudget(logs.stdout, limitBytes),
        stderr: yield* logBudget(logs.stderr, limitBytes)
      }

      const runLeaf = (leaf: PlannedLeaf, stdin: Output.CapturedOutput | undefined): Effect.Effect<NodeResult, RootAbort> =>
        Effect.gen(function* () {
          const n = yield* Ref.updateAndGet(attempts, (x) => x + 1)
          const name = `${leaf.path}-${n}`
          const result = yield* Effect.scoped(
            Effect.gen(function* () {
              const host = yield* RcMap.get(runHosts, leaf.on)
              yield* stageFor(leaf, host)
              const argv = leaf.unresolved === undefined ? leaf.argv : yield* host.resolve(leaf.argv, leaf.cwd, leaf.unresolved.home)
              return yield* captureLeaf(host, {
                argv,
                cwd: leaf.cwd,
                env: options.env,
                stdin: stdin === undefined && options.liveStdin !== undefined && options.liveStdin.leafPath === leaf.path
                  ? { _tag: "Live", source: options.liveStdin.source }
                  : stdinOf(stdin),
                outputDir: options.outputDir,
                name,
                logs: logs === undefined || budgets === undefined
                  ? undefined
                  : {
                    stderr: { path: logs.stderr, budget: budgets.stderr },
                    stdout: finals.has(leaf.path) ? { path: logs.stdout, budget: budgets.stdout } : undefined
                  },
                spill: !logOnly.has(leaf.path),
                onLogLimit: (stream) => logs === undefined ? Effect.void : emit({ type: "log.truncated", stream, file: logs[stream], limit_bytes: limitBytes }),
                onSpawn: (id) => emit({ type: "command.start", path: leaf.path, label: leaf.label, argv, host: id.host, pid: id.pid, pgid: id.pgid, startTime: id.startTime, marker: id.marker, attempt: n })
              })
            })
          ).pipe(Effect.either)
          if (Either.isLeft(result)) {
            const err = result.left
            if (err.reason === "output") {
              const r: NodeResult = { ...emptyResult("failed", Output.emptyOutput), code: 1, message: `cannot store the run's output: ${err.message}` }
              return yield* new RootAbort({ result: { ...r, failures: [failureRecord(leaf, r, true)] } })
            }
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
          // The joined output, byte for byte as pi-actors 0.17 joins it (SPEC-runtime §1.5).
          const parts: Array<Uint8Array> = []
          const enc = new TextEncoder()
          for (let i = 0; i < results.length; i++) {
            const r = results[i]!
            const child = par.children[i]!
            const status = r.status === "skipped" ? "done" : r.status
            if (i > 0) parts.push(enc.encode("\n"))
            parts.push(enc.encode(`--- branch: ${child.label ?? `branch ${i + 1}`} status: ${status} ---\n`))
            if (!isFailed(r)) {
              parts.push(yield* readAll(r.stdout).pipe(Effect.orElseSucceed(() => r.stdout.bytes)))
              continue
            }
            const stderr = Output.decodeUtf8(yield* readAll(r.stderr).pipe(Effect.orElseSucceed(() => r.stderr.bytes)))
            parts.push(enc.encode(`exit: ${r.code}${stderr === "" ? "" : `\nstderr: ${stderr.slice(0, 1000)}`}`))
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
          for (let attempt = 1; isFailed(r) && attempt < node.attempts; attempt++) {
            earlier.push(failureRecord(node, r, false))
            if (node.recover !== undefined) {
              const rec = yield* runNode(node.recover, r.stdout)
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

      const exit = yield* runNode(root, undefined).pipe(Effect.exit, Effect.ensuring(Scope.close(hostScope, Exit.void)))
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
