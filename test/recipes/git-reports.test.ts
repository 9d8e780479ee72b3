/**
 * The script-based reports (recipes/release-summary.json, docs-maintenance.json) through the
 * built binary, against temp git repositories with conventional commits, tags, fixed dates and
 * docs with broken links.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { describe, expect, it } from "vitest"
import { run } from "../support/exec.js"
import { scratch } from "../support/graph.js"
import { isolatedEnv, leafStderr, troupe } from "./support.js"

// No user/system git configuration (signing, hooks, templates) leaks into the test repos.
const env = isolatedEnv({ GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1" })

const git = async (cwd: string, args: ReadonlyArray<string>, extra: Record<string, string> = {}) => {
  const r = await run("git", args, { cwd, env: { ...env, ...extra } })
  if (r.code !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`)
  return r.stdout.trim()
}

const newRepo = async () => {
  const dir = scratch("troupe-git-")
  await git(dir, ["init", "-q", "-b", "main"])
  return dir
}

let clock = Date.parse("2026-01-01T00:00:00Z") / 1000
/** Writes the files and commits them as `author`, one day after the previous commit. */
const commit = async (dir: string, message: string, author: string, files: Record<string, string> = {}) => {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true })
    writeFileSync(join(dir, name), text)
  }
  await git(dir, ["add", "-A"])
  clock += 86_400
  const date = `${clock} +0000`
  const email = `${author.toLowerCase()}@example.com`
  await git(dir, ["commit", "-q", "--allow-empty", "-m", message], {
    GIT_AUTHOR_NAME: author,
    GIT_AUTHOR_EMAIL: email,
    GIT_COMMITTER_NAME: author,
    GIT_COMMITTER_EMAIL: email,
    GIT_AUTHOR_DATE: date,
    GIT_COMMITTER_DATE: date
  })
  return git(dir, ["log", "-1", "--format=%h"])
}

describe("release-summary", () => {
  const history = async () => {
    const dir = await newRepo()
    const root = await commit(dir, "feat: initial import", "Alice", { "src/a.ts": "a\n" })
    await git(dir, ["tag", "v0.1.0"])
    const h = {
      root,
      cli: await commit(dir, "feat(cli): add --json output", "Alice", { "src/cli.ts": "one\ntwo\nthree\n" }),
      fix: await commit(dir, "fix!: reject empty ids", "Bob", { "src/a.ts": "b\n" }),
      docs: await commit(dir, "docs: describe recipes", "Alice", { "docs/recipes.md": "# Recipes\n" }),
      chore: await commit(dir, "chore(deps): bump effect\n\nBREAKING CHANGE: needs node 22", "Bob"),
      plain: await commit(dir, "Tidy up whitespace", "Carol", { "src/cli.ts": "one\ntwo\n" })
    }
    return { dir, h }
  }

  it("groups the commits since the latest tag by conventional type, with authors and diffstat", async () => {
    const { dir, h } = await history()
    const r = await troupe(["run", "release-summary"], { cwd: dir, env })
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(
      [
        `# Release notes: v0.1.0 (${h.root}) → HEAD (${h.plain})`,
        "",
        "5 commits by 3 authors; 3 files changed, 4 insertions(+), 1 deletion(-); 2 breaking.",
        "",
        "## Features",
        "",
        `- **cli:** add --json output (${h.cli}, Alice)`,
        "",
        "## Fixes",
        "",
        `- **BREAKING** reject empty ids (${h.fix}, Bob)`,
        "",
        "## Documentation",
        "",
        `- describe recipes (${h.docs}, Alice)`,
        "",
        "## Other",
        "",
        `- Tidy up whitespace (${h.plain}, Carol)`,
        `- **BREAKING** chore(deps): bump effect (${h.chore}, Bob)`,
        "",
        "## Authors",
        "",
        "- Alice (2 commits)",
        "- Bob (2 commits)",
        "- Carol (1 commit)",
        "",
        "## Diffstat",
        "",
        "- src/a.ts +1 -1",
        "- src/cli.ts +2 -0",
        "- docs/recipes.md +1 -0",
        ""
      ].join("\n")
    )
  })

  it("a tag on to itself is skipped; an explicit from and to narrow the range; top limits the diffstat", async () => {
    const { dir, h } = await history()
    await git(dir, ["tag", "v0.2.0"])
    expect((await troupe(["run", "release-summary"], { cwd: dir, env })).stdout).toContain(`# Release notes: v0.1.0 (${h.root}) → HEAD (${h.plain})`)
    const empty = await troupe(["run", "release-summary", "from=v0.2.0"], { cwd: dir, env })
    expect(empty.code).toBe(0)
    expect(empty.stdout).toContain(`No commits between v0.2.0 (${h.plain}) and HEAD.`)
    const narrow = await troupe(["run", "release-summary", `from=${h.cli}`, `to=${h.docs}`, "top=1"], { cwd: dir, env })
    expect(narrow.stdout).toContain("2 commits by 2 authors")
    expect(narrow.stdout).toContain(`- **BREAKING** reject empty ids (${h.fix}, Bob)`)
    expect(narrow.stdout).not.toContain("add --json output")
    expect(narrow.stdout).toMatch(/## Diffstat\n\n- \S+ \+1 -\d\n- … and 1 more file\n$/)
  })

  it("without tags the notes start at the root commit, which they include", async () => {
    const dir = await newRepo()
    const first = await commit(dir, "feat: first", "Dana", { "x.txt": "x\n" })
    const second = await commit(dir, "fix(x): second", "Dana", { "x.txt": "y\n" })
    const r = await troupe(["run", "release-summary"], { cwd: dir, env })
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`# Release notes: the root commit → HEAD (${second})`)
    expect(r.stdout).toContain(`- first (${first}, Dana)`)
    expect(r.stdout).toContain(`- **x:** second (${second}, Dana)`)
    expect(r.stdout).toContain("- x.txt +1 -0")
  })

  it("an unknown ref or a directory outside git exits 2 with the reason", async () => {
    const { dir } = await history()
    const bad = await troupe(["run", "release-summary", "from=v9"], { cwd: dir, env })
    expect(bad.code).toBe(2)
    expect(leafStderr(bad.stderr)).toBe("release-summary: unknown ref: v9")
    const plain = scratch("troupe-nogit-")
    const outside = await troupe(["run", "release-summary"], { cwd: plain, env })
    expect(outside.code).toBe(2)
    expect(leafStderr(outside.stderr)).toBe(`release-summary: not a git repository: ${plain}`)
  })
})

describe("docs-maintenance", () => {
  const guide = [
    "# Guide",
    "",
    "## Install steps",
    "",
    "See [the readme](../README.md), [missing page](./setup.md) and [bad anchor](../README.md#nowhere).",
    "Jump to [install](#install-steps), [custom](#custom) or [wrong](#installation); [web](https://example.com/x.md).",
    '<a id="custom"></a>',
    "TODO: write the upgrade section",
    "",
    "```sh",
    "echo [not a link](missing.md) TODO",
    "```",
    "",
    "Inline `[code](nope.md)` and `FIXME` are code, not prose.",
    ""
  ].join("\n")

  const project = async () => {
    const dir = await newRepo()
    await commit(dir, "docs: add", "Alice", {
      "README.md": "# Readme\n\nSee [guide](docs/guide.md#custom), [api](docs/api.md) and ![logo](img/logo.png).\n",
      "docs/guide.md": guide,
      "docs/api.md": "# API\n\nThe entry point is `src/app.ts`; FIXME document the flags.\n",
      "src/app.ts": "export {}\n"
    })
    await commit(dir, "feat: app grows", "Bob", { "src/app.ts": "export const x = 1\n" })
    return dir
  }

  it("reports broken links and anchors, markers outside code, and docs older than the code they mention", async () => {
    const dir = await project()
    const r = await troupe(["run", "docs-maintenance", "stale=true"], { cwd: dir, env })
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    const name = dir.split("/").pop()
    const day = (file: string) => git(dir, ["log", "-1", "--format=%cs", "--", file])
    expect(await day("src/app.ts")).not.toBe(await day("docs/api.md"))
    expect(r.stdout).toBe(
      [
        `# Docs health: ${name}`,
        "",
        "- Markdown files: 3",
        "- relative links checked: 9, broken: 4",
        "- markers (TODO|FIXME|XXX|TBD): 2",
        "- stale docs: 1",
        "",
        "## Broken links",
        "",
        "- README.md:3: broken link img/logo.png (no such file: img/logo.png)",
        "- docs/guide.md:5: broken link ./setup.md (no such file: docs/setup.md)",
        "- docs/guide.md:5: broken anchor ../README.md#nowhere (no heading #nowhere in README.md)",
        "- docs/guide.md:6: broken anchor #installation (no heading #installation in docs/guide.md)",
        "",
        "## Markers",
        "",
        "- docs/api.md:3: The entry point is `src/app.ts`; FIXME document the flags.",
        "- docs/guide.md:8: TODO: write the upgrade section",
        "",
        "## Stale docs",
        "",
        `- docs/api.md (last changed ${await day("docs/api.md")}) mentions src/app.ts (changed ${await day("src/app.ts")})`,
        "",
        "## Markdown files",
        "",
        "- README.md: 3 lines, 3 links",
        "- docs/api.md: 3 lines, 0 links",
        "- docs/guide.md: 14 lines, 7 links",
        ""
      ].join("\n")
    )
  })

  it("without stale=true the stale check is skipped; root narrows the scan; custom markers; outside git it walks the tree", async () => {
    const dir = await project()
    const plain = await troupe(["run", "docs-maintenance", "root=docs", "markers=upgrade"], { cwd: dir, env })
    expect(plain.code).toBe(0)
    expect(plain.stdout).toContain("# Docs health: docs\n\n- Markdown files: 2\n")
    expect(plain.stdout).toContain("- stale docs: not checked (stale=false)")
    expect(plain.stdout).toContain("- markers (upgrade): 1\n")
    expect(plain.stdout).toContain("- guide.md:5: broken anchor ../README.md#nowhere (no heading #nowhere in ../README.md)")
    expect(plain.stdout).not.toContain("## Stale docs")

    const loose = scratch("troupe-docs-")
    mkdirSync(join(loose, "node_modules/pkg"), { recursive: true })
    writeFileSync(join(loose, "node_modules/pkg/README.md"), "[x](gone.md)\n")
    writeFileSync(join(loose, "index.md"), "[ok](index.md#top) [gone](gone.md)\n\n# Top\n")
    const walked = await troupe(["run", "docs-maintenance", "stale=true"], { cwd: loose, env })
    expect(walked.code).toBe(0)
    expect(walked.stdout).toContain("- Markdown files: 1\n- relative links checked: 2, broken: 1\n")
    expect(walked.stdout).toContain("- stale docs: not checked (not a git repository)")
    expect(walked.stdout).toContain("- index.md:1: broken link gone.md (no such file: gone.md)")
  })

  it("a missing root or an invalid markers pattern is an error (exit 2); findings are not", async () => {
    const dir = await project()
    const missing = await troupe(["run", "docs-maintenance", "root=nope"], { cwd: dir, env })
    expect(missing.code).toBe(2)
    expect(leafStderr(missing.stderr)).toBe(`docs-maintenance: no such directory: ${join(dir, "nope")}`)
    const regex = await troupe(["run", "docs-maintenance", "markers=(TODO"], { cwd: dir, env })
    expect(regex.code).toBe(2)
    expect(leafStderr(regex.stderr)).toContain("docs-maintenance: markers is not a valid regular expression")
  })
})
