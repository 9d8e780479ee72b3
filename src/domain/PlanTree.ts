/**
 * A planned template as a compact tree for people (`troupe run --dry-run`): one line per node,
 * leaves as their quoted argv, with what changes how a node runs — label, host (`on`) when not
 * local, timeout, delay, attempts, failure scope, output file — and recover branches. The JSON
 * form (`--dry-run --json`, `flattenPlan`) stays the machine-readable one.
 *
 * ```text
 * sequence
 * ├─ git log --oneline -n 5
 * ├─ parallel (2 branches, at most 1 at a time)
 * │  ├─ [a] wc -l README.md
 * │  └─ [b] wc -l CHANGELOG.md  (on vm:v1, timeout 5000 ms)
 * └─ skipped (when)
 * ```
 */
import type { PlannedNode } from "./Plan.js"
import { shellQuote } from "./ShellQuote.js"

const annotations = (node: PlannedNode): string => {
  const notes: Array<string> = []
  if (node._tag === "Leaf" && node.on !== "local") notes.push(`on ${node.on}`)
  if (node.timeoutMs !== undefined) notes.push(`timeout ${node.timeoutMs} ms`)
  if (node.delayMs !== undefined) notes.push(`delay ${node.delayMs} ms`)
  if (node.attempts > 1) notes.push(`${node.attempts} attempts`)
  // The root is no step of anything: its failure scope says nothing.
  if (node.failure !== "continue" && node.path !== "root") notes.push(`failure: ${node.failure}`)
  if (node.output !== undefined) notes.push(`output → ${node.output}`)
  return notes.length === 0 ? "" : `  (${notes.join(", ")})`
}

const headline = (node: PlannedNode): string => {
  const label = node.label === undefined ? "" : `[${node.label}] `
  switch (node._tag) {
    case "Leaf":
      return `${label}${shellQuote(node.argv)}`
    case "Sequence":
      return `${label}sequence`
    case "Parallel": {
      const limits = [
        `${node.children.length} branch${node.children.length === 1 ? "" : "es"}`,
        ...(node.concurrency === undefined ? [] : [`at most ${node.concurrency} at a time`]),
        ...(node.minSuccessful === undefined ? [] : [`${node.minSuccessful} must succeed`])
      ]
      return `${label}parallel (${limits.join(", ")})`
    }
    case "Skip":
      return `${label}skipped (${node.reason})`
  }
}

const childrenOf = (node: PlannedNode): ReadonlyArray<{ readonly prefix: string; readonly node: PlannedNode }> => [
  ...(node._tag === "Sequence" ? node.steps : node._tag === "Parallel" ? node.children : []).map((child) => ({ prefix: "", node: child })),
  ...(node.recover === undefined ? [] : [{ prefix: "recover: ", node: node.recover }])
]

/** The plan as text lines (no trailing newline). */
export const planTree = (root: PlannedNode): string => {
  const lines: Array<string> = []
  // `lead` starts this node's line; `childIndent` starts its children's.
  const visit = (node: PlannedNode, lead: string, prefix: string, childIndent: string) => {
    lines.push(`${lead}${prefix}${headline(node)}${annotations(node)}`)
    const children = childrenOf(node)
    children.forEach((child, i) => {
      const last = i === children.length - 1
      visit(child.node, `${childIndent}${last ? "└─ " : "├─ "}`, child.prefix, `${childIndent}${last ? "   " : "│  "}`)
    })
  }
  visit(root, "", "", "")
  return lines.join("\n")
}
