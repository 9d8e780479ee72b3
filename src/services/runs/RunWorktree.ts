/**
 * A run's git worktree as the Supervisor uses it (worktree isolation, `domain/Worktree.ts`):
 * the diff-stat report that ends every generation (event `worktree.diff`, the terminal
 * follow-up) and the `diff` query behind `inspect run:<id> diff`. Making and removing the
 * worktree is `Worktrees`' job.
 */
import type { RunStore } from "./RunEntry.js"
import type { FileSystem } from "@effect/platform"
import { Effect, Option, Schema } from "effect"
import { ActorsError, type Caller } from "../../domain/Run.js"
import { DiffStat, type WorktreeRecord } from "../../domain/Worktree.js"
import type { StoredRun } from "../Store.js"
import type { Worktrees } from "../Worktrees.js"
import type { GenerationReport } from "./RunLifecycle.js"

/** The lifecycle event type of a generation's diff stat. */
export const diffEventType = "worktree.diff"

const decodeStat = Schema.decodeUnknownOption(DiffStat)

/** A diff stat as event data (plain JSON). */
const statData = (stat: DiffStat): Record<string, unknown> => ({
  base: stat.base,
  branch: stat.branch,
  files: stat.files.map((f) => ({ path: f.path, added: f.added, deleted: f.deleted })),
  insertions: stat.insertions,
  deletions: stat.deletions,
  text: stat.text
})

export interface RunWorktreeDeps {
  readonly worktrees: Worktrees
  readonly store: RunStore
  readonly fs: FileSystem.FileSystem
  readonly get: (caller: Caller, ref: string) => Effect.Effect<StoredRun, ActorsError>
}

export const makeRunWorktree = ({ worktrees, store, fs, get }: RunWorktreeDeps) => {
  /**
   * The report of a generation's end: the worktree's diff stat against its base. A failed
   * diff is logged and reported as nothing (the run's result stands).
   */
  const report = (run: string, record: WorktreeRecord): Effect.Effect<GenerationReport | undefined> =>
    worktrees.diff(record).pipe(
      Effect.map((stat): GenerationReport => ({
        type: diffEventType,
        key: "worktree",
        data: statData(stat),
        text: `Worktree ${record.path} (branch ${record.branch}, base ${record.base.slice(0, 12)}):\n${stat.text}`
      })),
      Effect.catchAll((e) => Effect.as(Effect.logWarning(`run:${run}: ${e.message}`), undefined))
    )

  /**
   * The run's diff stat against its base commit: taken now while its worktree exists, else
   * the last one recorded (`worktree.diff` event).
   * @fails ActorsError `invalid` (the run has no worktree), `not_found`, `forbidden`,
   *   `internal` (git failed and nothing was recorded).
   */
  const diff = Effect.fn("Supervisor.diff")(function* (caller: Caller, ref: string) {
    const run = yield* get(caller, ref)
    const record = yield* worktrees.recorded(run.info.state_dir)
    if (Option.isNone(record)) {
      return yield* new ActorsError({ reason: "invalid", message: `run:${run.info.id} has no worktree; spawn it with --worktree to get a diff` })
    }
    if (yield* fs.exists(record.value.path).pipe(Effect.orElseSucceed(() => false))) return yield* worktrees.diff(record.value)
    const events = yield* store.runEvents(run.info.id, 10_000)
    const last = events.filter((e) => e.type === diffEventType).pop()
    const stat = last === undefined ? Option.none() : decodeStat(last.data)
    if (Option.isNone(stat)) {
      return yield* new ActorsError({ reason: "internal", message: `run:${run.info.id}: its worktree ${record.value.path} is gone and no diff stat was recorded` })
    }
    return stat.value
  })

  return { report, diff } as const
}
