/**
 * Inspect views as data: the rendered view (`text` + `data`) and the compact text rules of
 * SPEC-messaging §6 (one leading newline, `key=value` pairs, spaces inside values as `_`).
 */
import { Schema } from "effect"
import type { StatusFilter } from "./Run.js"

/** Views of `run:<id>` that exist today (`diff`: worktree-isolated runs; `output` and `events`: agent runs). */
export const runViews = ["status", "tail", "messages", "inbox", "artifacts", "files", "mailbox", "communication", "tree", "recipe", "diff", "output", "events"] as const
/** Views of `branch:<run>/<label>`. */
export const branchViews = ["status", "inbox", "messages", "communication"] as const
/** Views of `room:<run>`. */
export const roomViews = ["status", "messages", "previews", "roster", "contacts"] as const
/** Views of `coordinator`, `session:<id>` and `session:all`. */
export const sessionViews = ["runs", "status"] as const

/** Views of `recipes` (the registry). */
export const recipesViews = ["status", "summary", "doctor"] as const
/** Views of `tool:<name>` (a user-root recipe). */
export const toolViews = ["status", "schema"] as const

/** Default number of lines / events in `tail`-like views. */
export const defaultLines = 40

/** One rendered view: compact `text` and the same content as JSON-safe `data`. */
export class InspectView extends Schema.Class<InspectView>("InspectView")({
  target: Schema.String,
  view: Schema.String,
  text: Schema.String,
  data: Schema.Unknown
}) {}

export interface InspectOptions {
  readonly lines?: number | undefined
  readonly status?: StatusFilter | undefined
  /** `recipes view=doctor` only: report the files of this recipe id (every root) alone. */
  readonly id?: string | undefined
}

/** `value` in compact text: empty for null/undefined, spaces as `_`. */
export const compact = (value: unknown): string =>
  value === undefined || value === null ? "" : String(value).replace(/\s+/g, "_")

