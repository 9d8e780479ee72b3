/**
 * Worktree isolation (issue 16 item 3): runs spawned with `isolation: "worktree"` execute in
 * their own git worktree on `troupe/<run>`, report their diff stat against the base commit
 * (terminal follow-up, `worktree.diff` event, `inspect run:<id> diff`), and prune removes the
 * worktrees and keeps the branches. Real git, temporary repositories.
 */
import { FileSystem } from "@effect/platform"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import type { DiffStat } from "../../src/domain/Worktree.js"
import { formatStat } from "../../src/domain/Worktree.js"
import { DiffFile } from "../../src/domain/Worktree.js"
import { Inspector } from "../../src/services/Inspector.js"
import { type Caller, SpawnRequest, Supervisor } from "../../src/services/Supervisor.js"
import { output } from "../support/exec.js"
import { testRuntime } from "../support/runtime.js"

const A: Caller = { session: "A", all: false }

/** Environment of the tests' own git calls (commits need an identity; no user config). */
const gitEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: "troupe test",
  GIT_AUTHOR_EMAIL: "test@troupe.invalid",
  GIT_COMMITTER_NAME: "troupe test",
  GIT_COMMITTER_EMAIL: "test@troupe.invalid",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null"
}
const git = (dir: string, ...args: ReadonlyArray<string>) => Effect.promise(() => output("git", ["-C", dir, ...args], { env: gitEnv }))

const scratch = mkdtempSync(join(tmpdir(), "troupe-worktrees-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))
let repos = 0

/** A repository with one commit: `README.md` = "hello\n", and `sub/` with a file. */
const makeRepo = Effect.gen(function* () {
  const dir = join(scratch, `repo-${++repos}`)
  yield* Effect.promise(() => output("git", ["init", "-q", "-b", "main", dir], { env: gitEnv }))
  writeFileSync(join(dir, "README.md"), "hello\n")
  yield* Effect.promise(() => output("mkdir", ["-p", join(dir, "sub")]))
  writeFileSync(join(dir, "sub", "keep.txt"), "k\n")
  yield* git(dir, "add", "-A")
  yield* git(dir, "commit", "-q", "-m", "base")
  return dir
})

const events = (caller: Caller) =>
  Effect.flatMap(Supervisor, (s) => Stream.runCollect(s.sessionEvents(caller, 0, false))).pipe(Effect.map(Chunk.toReadonlyArray))

describe("formatStat", () => {
  it("renders git's stat lines and summary", () => {
    expect(formatStat([new DiffFile({ path: "README.md", added: 1, deleted: 0 })])).toBe(" README.md | 1 +\n 1 file changed, 1 insertion(+)")
    expect(formatStat([new DiffFile({ path: "a", added: 2, deleted: 1 }), new DiffFile({ path: "logo.png", added: null, deleted: null })])).toBe(
      " a        |   3 ++-\n logo.png | Bin\n 2 files changed, 2 insertions(+), 1 deletion(-)"
    )
    expect(formatStat([])).toBe(" no changes")
  })
})

describe("worktree isolation", () => {
  it.live("two runs editing one file in parallel do not see each other; each reports its own diff; prune removes both worktrees and keeps both branches", () =>
    Effect.gen(function* () {
      const sup = yield* Supervisor
      const inspector = yield* Inspector
      const fs = yield* FileSystem.FileSystem
      const repo = yield* makeRepo
      const sync = join(scratch, `sync-${repos}`)
      yield* fs.makeDirectory(sync)
      // Each appends its line, then waits until the other has appended too, then prints the
      // file it sees: in parallel, and each must see only its own line.
      const script = (me: string, other: string, extra: string) =>
        `sh -c 'echo from-${me} >> ../README.md; ${extra} touch ${sync}/${me}; i=0; while [ ! -f ${sync}/${other} ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; cat ../README.md'`
      const a = yield* sup.spawn(A, SpawnRequest.make({ template: script("a", "b", "printf \"x\\ny\\n\" > new.txt;"), as: "wa", cwd: join(repo, "sub"), isolation: "worktree" }))
      const b = yield* sup.spawn(A, SpawnRequest.make({ template: script("b", "a", ""), as: "wb", cwd: join(repo, "sub"), isolation: "worktree" }))
      // The run executes at the same relative place inside its worktree.
      expect(a.cwd).toBe(join(a.state_dir, "worktree", "sub"))
      const [oa, ob] = yield* Effect.all([sup.wait(A, a.id, 30_000), sup.wait(A, b.id, 30_000)], { concurrency: 2 })
      expect(oa.run.state).toBe("done")
      expect(ob.run.state).toBe("done")
      expect(oa.stdout).toBe("hello\nfrom-a\n")
      expect(ob.stdout).toBe("hello\nfrom-b\n")
      // The base checkout is untouched.
      expect(yield* fs.readFileString(join(repo, "README.md"))).toBe("hello\n")

      // Follow-ups carry each run's own stat.
      const followUps = (yield* events(A)).filter((e) => e.type === "run.done")
      const textOf = (id: string) => followUps.find((e) => e.run_id === id)?.text ?? ""
      expect(textOf("wa")).toContain("README.md   | 1 +")
      expect(textOf("wa")).toContain("sub/new.txt | 2 ++")
      expect(textOf("wa")).toContain("2 files changed, 3 insertions(+)")
      expect(textOf("wb")).toContain(" README.md | 1 +\n 1 file changed, 1 insertion(+)")
      expect(textOf("wb")).toContain("branch troupe/wb")

      // inspect run:<id> diff: text and per-file numbers.
      const va = yield* inspector.inspect(A, "run:wa", "diff")
      expect(va.text).toContain(" README.md   | 1 +")
      const stat = va.data as DiffStat
      expect(stat.files.map((f) => ({ ...f }))).toEqual([{ path: "README.md", added: 1, deleted: 0 }, { path: "sub/new.txt", added: 2, deleted: 0 }])
      expect(stat.base).toBe((yield* git(repo, "rev-parse", "HEAD")).trim())
      const vb = yield* inspector.inspect(A, "run:wb", "diff")
      expect((vb.data as DiffStat).files.map((f) => f.path)).toEqual(["README.md"])
      // The diff stat is also a lifecycle event of the run.
      expect((yield* sup.runEvents(A, "wb", 100)).map((e) => e.type)).toContain("worktree.diff")

      // Prune: the worktrees exist first, then are gone; the branches stay.
      const listed = () => git(repo, "worktree", "list", "--porcelain")
      expect(yield* listed()).toContain(join(a.state_dir, "worktree"))
      expect(yield* listed()).toContain(join(b.state_dir, "worktree"))
      const removed = yield* sup.prune(A, ["wa", "wb"], 0)
      expect([...removed].sort()).toEqual(["wa", "wb"])
      expect(yield* listed()).not.toContain("worktree\n")
      expect((yield* listed()).split("\n").filter((l) => l.startsWith("worktree "))).toEqual([`worktree ${repo}`])
      expect(yield* fs.exists(join(a.state_dir, "worktree"))).toBe(false)
      expect((yield* git(repo, "branch", "--list", "troupe/*")).split("\n").map((l) => l.trim()).filter((l) => l !== "")).toEqual(["troupe/wa", "troupe/wb"])
    }).pipe(Effect.provide(testRuntime())))

  it.live("refusals: not a repository, a dirty base with worktree-clean, an existing branch — nothing started", () =>
    Effect.gen(function* () {
      const sup = yield* Supervisor
      const fs = yield* FileSystem.FileSystem
      const plain = join(scratch, "not-a-repo")
      yield* fs.makeDirectory(plain, { recursive: true })
      const notRepo = yield* Effect.flip(sup.spawn(A, SpawnRequest.make({ template: "true", as: "n1", cwd: plain, isolation: "worktree" })))
      expect(notRepo).toMatchObject({ reason: "invalid", message: `--worktree needs a git repository; ${plain} is not inside one` })

      const repo = yield* makeRepo
      writeFileSync(join(repo, "README.md"), "changed\n")
      writeFileSync(join(repo, "untracked.txt"), "u\n")
      // A staged rename counts once (git lists its source as one more entry).
      yield* git(repo, "mv", "sub/keep.txt", "sub/moved.txt")
      const dirty = yield* Effect.flip(sup.spawn(A, SpawnRequest.make({ template: "true", as: "d1", cwd: repo, isolation: "worktree-clean" })))
      expect(dirty).toMatchObject({
        reason: "invalid",
        message: `--clean refused: ${repo} has 3 changed files (uncommitted or untracked); commit or stash them, or drop --clean`
      })
      // Without the clean option a dirty base is fine, and its changes are not copied.
      const ok = yield* sup.spawn(A, SpawnRequest.make({ template: "cat README.md", as: "d2", cwd: repo, isolation: "worktree" }))
      expect((yield* sup.wait(A, ok.id, 30_000)).stdout).toBe("hello\n")

      yield* git(repo, "branch", "troupe/taken")
      const taken = yield* Effect.flip(sup.spawn(A, SpawnRequest.make({ template: "true", as: "taken", cwd: repo, isolation: "worktree" })))
      expect(taken).toMatchObject({
        reason: "invalid",
        message: `branch troupe/taken already exists in ${repo}; delete it (git branch -D troupe/taken) or choose another run id`
      })
      // Nothing was recorded for the refused spawns.
      for (const id of ["n1", "d1", "taken"]) expect((yield* Effect.flip(sup.get(A, id))).reason).toBe("not_found")
      // A run without a worktree has no diff view.
      const bare = yield* sup.spawn(A, SpawnRequest.make({ template: "true", as: "bare", cwd: repo }))
      yield* sup.wait(A, bare.id, 30_000)
      expect(yield* Effect.flip(sup.diff(A, "bare"))).toMatchObject({ reason: "invalid", message: "run:bare has no worktree; spawn it with --worktree to get a diff" })
    }).pipe(Effect.provide(testRuntime())))

  it.live("a recipe's isolation field; the record survives a restart of the runtime, whose prune removes the worktree", () =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const repo = yield* makeRepo
      const home = join(scratch, `home-${repos}`)
      const recipe = join(scratch, `isolated-${repos}.json`)
      writeFileSync(recipe, JSON.stringify({ isolation: "worktree", template: "sh -c 'echo r >> README.md'" }))
      const run = yield* Effect.gen(function* () {
        const sup = yield* Supervisor
        const run = yield* sup.spawn(A, SpawnRequest.make({ recipe, as: "rec", cwd: repo }))
        expect((yield* sup.wait(A, run.id, 30_000)).run.state).toBe("done")
        return run
      }).pipe(Effect.provide(testRuntime({ home })))
      expect(yield* fs.exists(join(run.state_dir, "worktree", "README.md"))).toBe(true)
      // A new runtime over the same home (a daemon restart) still knows the worktree.
      yield* Effect.gen(function* () {
        const sup = yield* Supervisor
        expect((yield* sup.diff(A, "rec")).files.map((f) => f.path)).toEqual(["README.md"])
        expect(yield* sup.prune(A, ["rec"], 0)).toEqual(["rec"])
      }).pipe(Effect.provide(testRuntime({ home })))
      expect(yield* fs.exists(join(run.state_dir, "worktree"))).toBe(false)
      expect((yield* git(repo, "worktree", "list", "--porcelain")).split("\n").filter((l) => l.startsWith("worktree "))).toEqual([`worktree ${repo}`])
      expect((yield* git(repo, "branch", "--list", "troupe/rec")).trim()).toBe("troupe/rec")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.live("archive removes the worktree, keeps the branch and the record", () =>
    Effect.gen(function* () {
      const sup = yield* Supervisor
      const fs = yield* FileSystem.FileSystem
      const repo = yield* makeRepo
      const run = yield* sup.spawn(A, SpawnRequest.make({ template: "sh -c 'echo more >> README.md && git add -A && git -c user.name=t -c user.email=t@t commit -qm edit'", as: "arch", cwd: repo, isolation: "worktree" }))
      expect((yield* sup.wait(A, run.id, 30_000)).run.state).toBe("done")
      expect(yield* fs.exists(join(run.state_dir, "worktree", "README.md"))).toBe(true)
      const [target] = yield* sup.archive(A, ["arch"])
      expect(yield* fs.exists(join(target!, "worktree"))).toBe(false)
      expect(yield* fs.exists(join(target!, "worktree.json"))).toBe(true)
      // The branch keeps the run's commit.
      expect(yield* git(repo, "show", "troupe/arch:README.md")).toBe("hello\nmore\n")
      expect((yield* git(repo, "worktree", "list", "--porcelain")).split("\n").filter((l) => l.startsWith("worktree "))).toEqual([`worktree ${repo}`])
    }).pipe(Effect.provide(testRuntime())))
})
