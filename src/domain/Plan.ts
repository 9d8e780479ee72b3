import type { CapturedOutput } from "./Output.js"
import type { FailureScope } from "./Template.js"

/** A risk label shown at spawn and registration (SPEC-runtime §1.7). */
export interface RiskWarning {
  readonly label:
    | "risk.shell"
    | "risk.eval"
    | "risk.destructive_fs"
    | "risk.broad_fs_write"
    | "risk.network"
    | "risk.external_side_effect"
    | "risk.secret_touching"
    | "risk.long_running"
  /** Path of the leaf that carries the risk. */
  readonly path: string
  /** How to narrow the template. */
  readonly hint: string
}

/** Options every planned node carries (none is inherited except `failure`). */
export interface NodeOptions {
  /** Position in the template tree: `root`, `root.0`, `root.1.2`, `root.0.recover`, … */
  readonly path: string
  readonly label?: string | undefined
  /** Effective failure scope of this node as a step of its parent. */
  readonly failure: FailureScope
  readonly timeoutMs?: number | undefined
  readonly delayMs?: number | undefined
  /**
   * Attempts in total, the first included: `retry: 3` means at most 3 attempts (pi-actors
   * 0.17); 1 when `retry` is not set.
   */
  readonly attempts: number
  readonly recover?: PlannedNode | undefined
  /** Absolute file the node's complete stdout is written to when it succeeds. */
  readonly output?: string | undefined
}

export interface PlannedLeaf extends NodeOptions {
  readonly _tag: "Leaf"
  /**
   * Fully substituted argv; `argv[0]` resolved per SPEC-runtime §1.2 step 4 by the host that
   * runs the leaf (`Host.resolve`), unless {@link unresolved}.
   */
  readonly argv: ReadonlyArray<string>
  readonly cwd: string
  /** Where the leaf runs, as `Hosts` names it: `local`, `broker` or `vm:<id>`. */
  readonly on: string
  /**
   * Set when the leaf's host was not available at plan time: `argv` is as written, and is
   * resolved (with this `home`) on the host when the leaf runs — or the leaf fails there.
   */
  readonly unresolved?: { readonly home: string } | undefined
  /**
   * Recipe folders the leaf can see (absolute `{recipe_dir}` values of its scope and of the
   * scopes around it: an imported recipe's own folder and its importer's), outermost first;
   * absent when none. A host with `stage` (a VM) gets each before the leaf runs there.
   */
  readonly recipeDirs?: ReadonlyArray<string> | undefined
}

export interface PlannedSequence extends NodeOptions {
  readonly _tag: "Sequence"
  readonly steps: ReadonlyArray<PlannedNode>
}

export interface PlannedParallel extends NodeOptions {
  readonly _tag: "Parallel"
  readonly children: ReadonlyArray<PlannedNode>
  /** Maximum concurrently running children; undefined = all (≤ 64). */
  readonly concurrency?: number | undefined
  readonly minSuccessful?: number | undefined
}

/** A node skipped by `when: false` or `repeat: 0`: passes its stdin through with code 0. */
export interface PlannedSkip extends NodeOptions {
  readonly _tag: "Skip"
  readonly reason: "when" | "repeat"
}

/** A fully expanded, validated template: every leaf has its argv before any process starts. */
export type PlannedNode = PlannedLeaf | PlannedSequence | PlannedParallel | PlannedSkip

/** One planned leaf as printed by `troupe run --dry-run`. */
export interface DryRunLeaf {
  readonly path: string
  readonly label?: string | undefined
  readonly argv: ReadonlyArray<string>
  readonly cwd: string
  readonly on: string
  /** `none`, or the path of the step that feeds it (for a `recover` leaf: the node it recovers, whose failed attempt's stdout it reads). */
  readonly stdin_from: string
  readonly timeout_ms?: number | undefined
  readonly delay_ms?: number | undefined
  /** `retry` as written (attempts in total), shown when above 1. */
  readonly retry?: number | undefined
  readonly failure: FailureScope
  readonly parallel?: string | undefined
  readonly recover_of?: string | undefined
  readonly risks?: ReadonlyArray<string> | undefined
}

/** Soft quorum of a parallel node (SPEC-runtime §1.5). */
export interface SoftQuorum {
  readonly expected: number
  readonly done: number
  readonly failed: number
  readonly usable: number
  /** usable / expected, rounded to 2 decimals. */
  readonly coverage: number
  readonly degraded: boolean
}

export type NodeStatus = "done" | "failed" | "timeout" | "skipped"

/** A recorded step failure. `critical: false` = a `continue` failure the run went past. */
export interface FailureRecord {
  readonly path: string
  readonly label?: string | undefined
  readonly status: "failed" | "timeout"
  readonly code: number
  readonly killed: boolean
  readonly critical: boolean
  /** Last 1,000 characters of the failing leaf's stderr. */
  readonly stderr_tail: string
}

/** Result of executing one planned node. */
export interface NodeResult {
  readonly status: NodeStatus
  readonly code: number
  readonly killed: boolean
  readonly stdout: CapturedOutput
  /** stderr of the last leaf that ran (of the failing leaf on failure). */
  readonly stderr: CapturedOutput
  readonly failures: ReadonlyArray<FailureRecord>
  readonly softQuorum?: SoftQuorum | undefined
  /** Set when the failure is not a process exit (e.g. `incomplete pipeline stdin`). */
  readonly message?: string | undefined
}

/** Result of a whole template run. */
export interface GraphResult extends NodeResult {
  readonly durationMs: number
}

/** Lifecycle events emitted while a graph executes (SPEC-runtime §3 lifecycle events). */
export type GraphEvent =
  | {
    readonly type: "command.start"
    readonly path: string
    readonly label?: string | undefined
    readonly argv: ReadonlyArray<string>
    /** The host the leaf started on (its identity's `host`: `local`, `broker`, `vm:<id>`). */
    readonly host: string
    readonly pid: number
    readonly pgid: number
    readonly startTime: number
    readonly marker?: string | undefined
    readonly attempt: number
  }
  | { readonly type: "command.done"; readonly path: string; readonly label?: string | undefined; readonly code: number; readonly killed: boolean; readonly duration_ms: number; readonly status: NodeStatus }
  /** A run log reached its size limit (`max_log_bytes`); later output is not kept in it. */
  | { readonly type: "log.truncated"; readonly stream: "stdout" | "stderr"; readonly file: string; readonly limit_bytes: number }
