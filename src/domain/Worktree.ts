/**
 * Worktree isolation of a run (issue 16 item 3; SPEC-vers §5 "Agent runs, local first"): a run
 * spawned with `isolation: "worktree"` executes in its own `git worktree` on the new branch
 * `troupe/<run>`, made under its state directory from the HEAD commit of the repository that
 * holds its `cwd`. Its diff stat against that base commit ends every generation. These shapes
 * cross the state directory (`worktree.json`), the run's events and `inspect --json`.
 *
 * Corresponds to pi-subagents' per-agent worktrees with diff stats and Claude Code's
 * `--worktree`; pi-actors and pi-vers had none.
 */
import { Schema } from "effect"

/**
 * How a run is isolated: `worktree` (its own git worktree; uncommitted changes of the base
 * are not copied: the worktree starts at the base commit) or `worktree-clean` (the same, and
 * a base with uncommitted changes or untracked files is refused).
 */
export const Isolation = Schema.Literal("worktree", "worktree-clean")
export type Isolation = typeof Isolation.Type

/**
 * A run's worktree as recorded in `<state dir>/worktree.json`: `repo` the top level of the
 * base repository, `base` the full commit id it started from, `branch` (`troupe/<run>`),
 * `path` the worktree directory (`<state dir>/worktree`), `cwd` where the run executes (the
 * spawn cwd's place inside the worktree).
 */
export class WorktreeRecord extends Schema.Class<WorktreeRecord>("WorktreeRecord")({
  repo: Schema.String,
  base: Schema.String,
  branch: Schema.String,
  path: Schema.String,
  cwd: Schema.String
}) {}

/** One changed file: lines added and deleted (null for a binary file). */
export class DiffFile extends Schema.Class<DiffFile>("DiffFile")({
  path: Schema.String,
  added: Schema.NullOr(Schema.Int),
  deleted: Schema.NullOr(Schema.Int)
}) {}

/**
 * A worktree's diff stat against its base commit: committed changes on the branch, changes
 * to tracked files not yet committed, and untracked files (not ignored ones), as
 * `git diff --stat <base>` would show after `git add -A`. `text` is the stat as git prints
 * it (` README.md | 1 +` lines and a summary line).
 */
export class DiffStat extends Schema.Class<DiffStat>("DiffStat")({
  base: Schema.String,
  branch: Schema.String,
  files: Schema.Array(DiffFile),
  insertions: Schema.Int,
  deletions: Schema.Int,
  text: Schema.String
}) {}

/** Widest `+`/`-` bar of a stat line. */
const barWidth = 40

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`

/** The summary line of a stat: `2 files changed, 3 insertions(+), 1 deletion(-)`. */
export const statSummary = (files: ReadonlyArray<DiffFile>): string => {
  if (files.length === 0) return "no changes"
  const ins = files.reduce((n, f) => n + (f.added ?? 0), 0)
  const del = files.reduce((n, f) => n + (f.deleted ?? 0), 0)
  return [
    plural(files.length, "file changed", "files changed"),
    ...(ins > 0 || del === 0 ? [`${plural(ins, "insertion(+)", "insertions(+)")}`] : []),
    ...(del > 0 ? [`${plural(del, "deletion(-)", "deletions(-)")}`] : [])
  ].join(", ")
}

/**
 * Renders files as `git diff --stat` does: ` <path padded> | <count> <bar>` per file (`Bin`
 * for binary files), bars scaled to at most 40 characters, then the summary line.
 */
export const formatStat = (files: ReadonlyArray<DiffFile>): string => {
  if (files.length === 0) return " no changes"
  const nameWidth = Math.max(...files.map((f) => f.path.length))
  const total = (f: DiffFile) => (f.added ?? 0) + (f.deleted ?? 0)
  const countWidth = Math.max(...files.map((f) => (f.added === null ? 3 : String(total(f)).length)))
  const most = Math.max(...files.map(total))
  const scale = (n: number) => (most <= barWidth ? n : Math.max(n > 0 ? 1 : 0, Math.round((n * barWidth) / most)))
  const lines = files.map((f) => {
    const name = f.path.padEnd(nameWidth)
    if (f.added === null) return ` ${name} | ${"Bin".padStart(countWidth)}`
    const bar = "+".repeat(scale(f.added)) + "-".repeat(scale(f.deleted ?? 0))
    return ` ${name} | ${String(total(f)).padStart(countWidth)}${bar === "" ? "" : ` ${bar}`}`
  })
  return [...lines, ` ${statSummary(files)}`].join("\n")
}

/** A diff stat of files against a base commit on a branch. */
export const diffStat = (base: string, branch: string, files: ReadonlyArray<DiffFile>): DiffStat =>
  new DiffStat({
    base,
    branch,
    files: [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
    insertions: files.reduce((n, f) => n + (f.added ?? 0), 0),
    deletions: files.reduce((n, f) => n + (f.deleted ?? 0), 0),
    text: formatStat([...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)))
  })
