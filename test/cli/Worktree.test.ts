/**
 * Worktree isolation through the built CLI (issue 16 item 3): `troupe spawn --worktree` in a
 * temporary repository, `wait`, then `inspect run:<id> diff` (text and `--json`), and the
 * one-line refusals of `--worktree` outside a repository and `--clean` without `--worktree`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { output, troupeBin } from "../support/exec.js"

describe("troupe spawn --worktree", () => {
  const dir = mkdtempSync(join(tmpdir(), "troupe-cli-worktree-"))
  const repo = join(dir, "repo")
  const env = {
    ...process.env,
    TROUPE_HOME: join(dir, "home"),
    TROUPE_SESSION: "worktree",
    NO_COLOR: "1",
    GIT_AUTHOR_NAME: "troupe test",
    GIT_AUTHOR_EMAIL: "test@troupe.invalid",
    GIT_COMMITTER_NAME: "troupe test",
    GIT_COMMITTER_EMAIL: "test@troupe.invalid",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null"
  }
  const troupe = (...args: ReadonlyArray<string>) => troupeBin(args, { env, cwd: repo })
  afterAll(async () => {
    await troupe("daemon", "stop")
    rmSync(dir, { recursive: true, force: true })
  })

  it("spawn --worktree, wait, inspect diff shows the run's stat; the checkout is untouched", async () => {
    mkdirSync(repo)
    await output("git", ["init", "-q", "-b", "main", repo], { env })
    writeFileSync(join(repo, "README.md"), "hello\n")
    await output("git", ["-C", repo, "add", "-A"], { env })
    await output("git", ["-C", repo, "commit", "-q", "-m", "base"], { env })

    const spawned = await troupe("spawn", "--worktree", "--as", "w1", "--template", `sh -c "echo x >> README.md"`)
    expect(spawned.stderr).toBe("")
    expect(spawned.code).toBe(0)
    const waited = await troupe("wait", "run:w1", "--timeout", "30s")
    expect(waited.code, waited.stderr).toBe(0)
    const diff = await troupe("inspect", "run:w1", "diff")
    expect(diff.code, diff.stderr).toBe(0)
    expect(diff.stdout).toContain("README.md | 1 +")
    expect(diff.stdout).toContain("branch=troupe/w1")
    const json = JSON.parse((await troupe("inspect", "run:w1", "diff", "--json")).stdout) as { data: { files: ReadonlyArray<unknown> } }
    expect(json.data.files).toEqual([{ path: "README.md", added: 1, deleted: 0 }])
    expect(await output("git", ["-C", repo, "status", "--porcelain"], { env })).toBe("")
  })

  it("refuses --worktree outside a repository and --clean without --worktree, in one line", async () => {
    const outside = join(dir, "plain")
    mkdirSync(outside)
    const r = await troupeBin(["spawn", "--worktree", "--template", "true", "--cwd", outside], { env, cwd: dir })
    expect(r.code).not.toBe(0)
    expect(r.stderr.trim()).toBe(`error: --worktree needs a git repository; ${outside} is not inside one`)
    const c = await troupe("spawn", "--clean", "--template", "true")
    expect(c.code).not.toBe(0)
    expect(c.stderr.trim()).toBe("error: --clean applies only with --worktree")
  })
})
