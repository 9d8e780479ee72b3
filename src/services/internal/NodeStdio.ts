/**
 * LocalHost's private fast path behind the `LeafProcess` interface: the Node pipes of a local
 * child, under a symbol key. LeafCapture reads stdout/stderr straight off them with `data`
 * listeners — no Stream pipeline per stream, which cost tens of KB of heap per live actor —
 * and otherwise uses the `LeafProcess` streams, as it does for every other host. Same bytes,
 * same order, same collector either way.
 */
import type { Readable } from "node:stream"
import type { LeafProcess } from "../Host.js"

/** Key of a {@link NodeStdio} on a LocalHost `LeafProcess`. */
export const nodeStdio: unique symbol = Symbol.for("troupe/LeafProcess/nodeStdio")

/** The child's stdout and stderr pipes (consume these or the `LeafProcess` streams, not both). */
export interface NodeStdio {
  readonly stdout: Readable
  readonly stderr: Readable
}

/** The Node pipes of a LocalHost leaf, or undefined for any other host. */
export const nodeStdioOf = (process: LeafProcess): NodeStdio | undefined =>
  (process as LeafProcess & { readonly [nodeStdio]?: NodeStdio })[nodeStdio]
