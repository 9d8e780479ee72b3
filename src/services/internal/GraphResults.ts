/**
 * Results of executing a planned command template: the helpers that build node results and
 * failure records, the spec's failure text, which leaves feed the template's stdin and stdout,
 * and the flattened plan `troupe run --dry-run` prints. Pure.
 */
import * as Output from "../../domain/Output.js"
import type { DryRunLeaf, FailureRecord, NodeOptions, NodeResult, PlannedNode } from "../../domain/Plan.js"
import { argvRisks } from "../../domain/Risk.js"
import type { LeafStdin } from "../LeafCapture.js"

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

/**
 * The leaves whose stdout becomes `node`'s output: a leaf itself, the last step of a sequence
 * that is not skipped, and (with `parallel`) every branch of a parallel node — none under a
 * node for which `stop` holds.
 */
const finalLeaves = (
  node: PlannedNode,
  options: { readonly parallel: boolean; readonly stop: (node: PlannedNode) => boolean },
  into: Set<string>
): Set<string> => {
  if (options.stop(node)) return into
  switch (node._tag) {
    case "Leaf":
      into.add(node.path)
      break
    case "Sequence": {
      const last = [...node.steps].reverse().find((step) => step._tag !== "Skip")
      if (last !== undefined) finalLeaves(last, options, into)
      break
    }
    case "Parallel":
      if (options.parallel) for (const c of node.children) finalLeaves(c, options, into)
      break
    case "Skip":
      break
  }
  return into
}

/** Paths of the leaves whose stdout is the node's output (see {@link ExecuteOptions.logs}). */
export const outputLeaves = (node: PlannedNode, into: Set<string> = new Set()): Set<string> =>
  finalLeaves(node, { parallel: true, stop: () => false }, into)

/**
 * The output leaves whose complete stdout nothing reads: no parallel join, `output` file or
 * `recover` above them or on them. When a run log holds their stdout, a spill file would be a
 * second copy of it, so they keep only a tail past the capture limit.
 */
export const logOnlyLeaves = (node: PlannedNode, into: Set<string> = new Set()): Set<string> =>
  finalLeaves(node, { parallel: false, stop: (n) => n.output !== undefined || n.recover !== undefined }, into)

export const emptyResult = (status: NodeResult["status"], stdout: Output.CapturedOutput): NodeResult => ({
  status,
  code: 0,
  killed: false,
  stdout,
  stderr: Output.emptyOutput,
  failures: []
})

export const isFailed = (r: NodeResult) => r.status === "failed" || r.status === "timeout"

export const stdinOf = (o: Output.CapturedOutput | undefined): LeafStdin =>
  o === undefined ? { _tag: "None" } : o.spill !== undefined ? { _tag: "File", path: o.spill } : { _tag: "Bytes", bytes: o.bytes }

const tailChars = (s: string, n: number) => (s.length <= n ? s : s.slice(s.length - n))

export const failureRecord = (opts: NodeOptions, r: NodeResult, critical: boolean): FailureRecord => ({
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
    const full = o.spill ?? o.log
    return tail.truncated || full !== undefined ? `${Output.truncationNotice(tail, full)}\n${tail.text}` : tail.text
  }
  const stderr = r.message !== undefined ? r.message : show(r.stderr)
  return `Exit code ${r.code}${r.killed ? " (killed)" : ""}\n\nstderr:\n${stderr}\n\nstdout:\n${show(r.stdout)}`
}

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
          retry: node.attempts > 1 ? node.attempts : undefined,
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
    // recover reads the failed attempt's stdout.
    if (node.recover !== undefined) walk(node.recover, node.path, parallel, node.path, false)
  }
  walk(root, "none", undefined, undefined, false)
  return out
}
