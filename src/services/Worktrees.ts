/**
 * `Worktrees`: git worktrees for isolated runs (`domain/Worktree.ts`), through the `git`
 * program. A spawn with `isolation` is checked here before anything is written (`plan`), the
 * worktree is made once the run's state directory exists (`create`), its diff stat is taken
 * at the end of every generation (`diff`), and prune / archive remove it and keep its branch
 * (`remove`). Every git call is a child process killed when its fiber is interrupted.
 *
 * Corresponds to pi-subagents' per-agent `git worktree add` and diff stats; pi-actors and
 * pi-vers ran every agent in the caller's checkout.
 */
import { FileSystem, Path } from "@effect/platform"
import { Data, Effect, Option, Schema } from "effect"
import { execFile } from "node:child_process"
import { describeParseError } from "../domain/Diagnostic.js"
import { ActorsError } from "../domain/Run.js"
import { DiffFile, type DiffStat, diffStat, type Isolation, WorktreeRecord } from "../domain/Worktree.js"

/** The file in a run's state directory that records its worktree. */
export const worktreeFile = "worktree.json"

/** Output bound of one git call: 64 MiB. */
const maxGitOutputBytes = 64 * 1024 * 1024

/** Untracked files larger than this are counted as binary (not read for lines): 8 MiB. */
const maxCountedBytes = 8 * 1024 * 1024

/** A git call that did not exit 0. `missing`: git is not installed (not on PATH). */
class GitError extends Data.TaggedError("GitError")<{ readonly code: number | null; readonly stderr: string; readonly missing: boolean }> {}

/** Runs `git -C <dir> <args>`; stdout on exit 0. Interrupting it kills git. */
const git = (dir: string, args: ReadonlyArray<string>) =>
  Effect.async<string, GitError>((resume, signal) => {
    execFile("git", ["-C", dir, ...args], { signal, maxBuffer: maxGitOutputBytes, encoding: "utf8" }, (error, stdout, stderr) => {
      if (error === null) return resume(Effect.succeed(stdout))
      const e = error as NodeJS.ErrnoException & { code?: unknown }
      resume(Effect.fail(new GitError({ code: typeof e.code === "number" ? e.code : null, stderr: String(stderr).trim(), missing: e.code === "ENOENT" })))
    })
  })

const firstLine = (text: string) => text.split("\n").find((l) => l.trim() !== "")?.trim() ?? ""

const decodeRecord = Schema.decodeUnknown(Schema.parseJson(WorktreeRecord))

/** What `plan` checked: the worktree to make for one run. */
export interface WorktreePlan {
  readonly run: string
  readonly record: WorktreeRecord
}

export class Worktrees extends Effect.Service<Worktrees>()("troupe/Worktrees", {
  effect: Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path

    const invalid = (message: string) => new ActorsError({ reason: "invalid", message })
    const internal = (message: string) => new ActorsError({ reason: "internal", message })
    const gitMissing = invalid("--worktree needs git, which was not found on PATH")

    /**
     * Checks that a run may get a worktree, before anything is written: `cwd` is inside a git
     * repository with a commit, `troupe/<run>` is a valid branch name that does not exist yet,
     * and (`worktree-clean`) the repository has no uncommitted change or untracked file.
     * @param dir the worktree directory to use (`<state dir>/worktree`).
     * @returns the record the run will have: base = HEAD's commit, cwd = the same relative
     *   place inside the worktree.
     * @fails ActorsError `invalid` with one sentence: not a repository, no commit, bad or
     *   existing branch, dirty base (with the number of changed files), git missing.
     */
    const plan = Effect.fn("Worktrees.plan")(function* (input: { readonly run: string; readonly cwd: string; readonly dir: string; readonly isolation: Isolation }) {
      const { cwd, dir, run } = input
      const orMissing = (other: (e: GitError) => ActorsError) => (e: GitError) => (e.missing ? gitMissing : other(e))
      const top = yield* git(cwd, ["rev-parse", "--show-toplevel"]).pipe(
        Effect.mapError(orMissing(() => invalid(`--worktree needs a git repository; ${cwd} is not inside one`)))
      )
      const repo = top.trim()
      if (repo === "") return yield* invalid(`--worktree needs a git repository with a working tree; ${cwd} is not inside one`)
      const prefix = (yield* git(cwd, ["rev-parse", "--show-prefix"]).pipe(Effect.mapError(orMissing((e) => invalid(`cannot read ${cwd} as a git repository: ${firstLine(e.stderr)}`))))).trim()
      const base = (yield* git(repo, ["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]).pipe(
        Effect.mapError(orMissing(() => invalid(`--worktree starts from HEAD, and ${repo} has no commit yet; commit once first`)))
      )).trim()
      const branch = `troupe/${run}`
      yield* git(repo, ["check-ref-format", "--branch", branch]).pipe(
        Effect.mapError(orMissing(() => invalid(`run id ${run} cannot name a git branch (${branch}); choose another id with --as`)))
      )
      const exists = yield* git(repo, ["show-ref", "--verify", "--quiet", `refs/heads/${branch}`]).pipe(Effect.as(true), Effect.orElseSucceed(() => false))
      if (exists) return yield* invalid(`branch ${branch} already exists in ${repo}; delete it (git branch -D ${branch}) or choose another run id`)
      if (input.isolation === "worktree-clean") {
        const status = yield* git(repo, ["status", "--porcelain", "-z", "--untracked-files=all"]).pipe(
          Effect.mapError(orMissing((e) => invalid(`cannot read the status of ${repo}: ${firstLine(e.stderr)}`)))
        )
        // `-z` entries are `XY path`, NUL-separated; a rename or copy (X or Y = R/C) is followed
        // by its source path as one more entry.
        const entries = status.split("\0")
        let changed = 0
        for (let i = 0; i < entries.length; i++) {
          const entry = entries[i]!
          if (entry === "") continue
          changed++
          if (/[RC]/.test(entry.slice(0, 2))) i++
        }
        if (changed > 0) {
          return yield* invalid(`--clean refused: ${repo} has ${changed} changed ${changed === 1 ? "file" : "files"} (uncommitted or untracked); commit or stash them, or drop --clean`)
        }
      }
      const record = new WorktreeRecord({ repo, base, branch, path: dir, cwd: prefix === "" ? dir : path.resolve(dir, prefix) })
      return { run, record } satisfies WorktreePlan
    })

    /**
     * Makes the planned worktree (`git worktree add -b troupe/<run> <dir> <base>`) and records
     * it in `<state dir>/worktree.json` (kept across daemon restarts).
     * @fails ActorsError `internal` when git refuses (the sentence names git's reason).
     */
    const create = Effect.fn("Worktrees.create")(function* (planned: WorktreePlan, stateDir: string) {
      const r = planned.record
      yield* git(r.repo, ["worktree", "add", "--quiet", "-b", r.branch, r.path, r.base]).pipe(
        Effect.mapError((e) => internal(e.missing ? gitMissing.message : `git worktree add of ${r.branch} failed: ${firstLine(e.stderr) || `exit code ${e.code}`}`))
      )
      yield* fs.makeDirectory(r.cwd, { recursive: true }).pipe(Effect.ignore)
      yield* fs.writeFileString(path.join(stateDir, worktreeFile), JSON.stringify(r, null, 2) + "\n", { mode: 0o600 }).pipe(
        Effect.mapError((e) => internal(`cannot record the worktree of run ${planned.run}: ${e.message}`))
      )
      return r
    })

    /**
     * The worktree recorded in a run's state directory; none when the run has no worktree.
     * @fails ActorsError `internal` when `worktree.json` exists but cannot be read as one.
     */
    const recorded = Effect.fn("Worktrees.recorded")(function* (stateDir: string) {
      const file = path.join(stateDir, worktreeFile)
      const text = yield* fs.readFileString(file).pipe(Effect.option)
      if (Option.isNone(text)) return Option.none<WorktreeRecord>()
      return Option.some(yield* decodeRecord(text.value).pipe(Effect.mapError((e) => internal(`${file} is damaged: ${describeParseError(e, text.value)}`))))
    })

    /** Lines added by an untracked file (null when binary or over 8 MiB). */
    const untrackedLines = (file: string) =>
      Effect.gen(function* () {
        const info = yield* fs.stat(file).pipe(Effect.option)
        if (Option.isNone(info) || info.value.type !== "File" || Number(info.value.size) > maxCountedBytes) return null
        const bytes = yield* fs.readFile(file).pipe(Effect.option)
        if (Option.isNone(bytes)) return null
        if (bytes.value.includes(0)) return null
        let lines = 0
        for (const b of bytes.value) if (b === 10) lines++
        return bytes.value.length > 0 && bytes.value[bytes.value.length - 1] !== 10 ? lines + 1 : lines
      })

    /**
     * The worktree's diff stat against its base: `git diff --numstat <base>` (committed and
     * uncommitted changes of tracked files) plus untracked, non-ignored files as added. The
     * worktree's own index is not touched.
     * @fails ActorsError `internal` when git fails (e.g. the worktree was removed).
     */
    const diff = Effect.fn("Worktrees.diff")(function* (record: WorktreeRecord) {
      const fail = (e: GitError) => internal(e.missing ? gitMissing.message : `cannot diff ${record.branch} against its base: ${firstLine(e.stderr) || `exit code ${e.code}`}`)
      const numstat = yield* git(record.path, ["diff", "--numstat", "-z", "--no-renames", "--no-ext-diff", record.base, "--"]).pipe(Effect.mapError(fail))
      const files: Array<DiffFile> = []
      for (const entry of numstat.split("\0")) {
        const m = /^(-|\d+)\t(-|\d+)\t(.+)$/s.exec(entry)
        if (m === null) continue
        files.push(new DiffFile({ path: m[3]!, added: m[1] === "-" ? null : Number(m[1]), deleted: m[2] === "-" ? null : Number(m[2]) }))
      }
      const untracked = yield* git(record.path, ["ls-files", "--others", "--exclude-standard", "-z"]).pipe(Effect.mapError(fail))
      for (const name of untracked.split("\0").filter((s) => s !== "")) {
        const added = yield* untrackedLines(path.join(record.path, name))
        files.push(new DiffFile({ path: name, added, deleted: added === null ? null : 0 }))
      }
      return diffStat(record.base, record.branch, files) satisfies DiffStat
    })

    /**
     * Removes a run's worktree (`git worktree remove --force`: its uncommitted changes go) and
     * keeps its branch `troupe/<run>` with every commit made on it. When git cannot (the base
     * repository moved or is gone) the directory is deleted and git's record pruned. Never
     * fails: what is left is logged.
     */
    const remove = Effect.fn("Worktrees.remove")(function* (record: WorktreeRecord) {
      const removed = yield* git(record.repo, ["worktree", "remove", "--force", record.path]).pipe(Effect.as(true), Effect.orElseSucceed(() => false))
      if (removed) return
      yield* fs.remove(record.path, { recursive: true }).pipe(Effect.ignore)
      yield* git(record.repo, ["worktree", "prune"]).pipe(
        Effect.catchAll((e) => Effect.logWarning(`worktree ${record.path} deleted; git worktree prune in ${record.repo} failed: ${firstLine(e.stderr)}`))
      )
    })

    /** Removes the worktree recorded in a run's state directory, if any (prune, archive). */
    const removeRecorded = (stateDir: string) =>
      recorded(stateDir).pipe(
        Effect.flatMap(Option.match({ onNone: () => Effect.void, onSome: remove })),
        Effect.catchAll((e) => Effect.logWarning(`worktree of ${stateDir} not removed: ${e.message}`))
      )

    return { plan, create, recorded, diff, remove, removeRecorded } as const
  })
}) {}
