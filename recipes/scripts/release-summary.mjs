// recipes/release-summary.json: Markdown release notes for the git repository in the working
// directory, from --from (default: the latest tag reachable from --to, skipping a tag on --to
// itself; without tags: the root commit, included) to --to (default HEAD). Commits (merges left
// out) are grouped by their conventional-commit type — feat → Features, fix → Fixes, docs →
// Documentation, anything else → Other — with `!` / `BREAKING CHANGE:` marked; then the authors
// by commit count and the diffstat (the first --top files).
//
// Exit codes: 0 notes printed (also for an empty range); 2 not a git repository or an unknown ref.
import { execFileSync } from "node:child_process"
import { Exit, parseFlags, run } from "./lib/common.mjs"

const git = (args, { allowFail = false } = {}) => {
  try {
    return execFileSync("git", args, { encoding: "utf8", maxBuffer: 256 * 1024 * 1024, stdio: ["ignore", "pipe", "pipe"] })
  } catch (e) {
    if (allowFail) return undefined
    throw new Exit(2, `release-summary: git ${args.join(" ")} failed: ${(e.stderr ?? e.message).toString().trim()}`)
  }
}

const commitOf = (ref) => git(["rev-parse", "--verify", "--quiet", `${ref}^{commit}`], { allowFail: true })?.trim()

const groups = [
  ["feat", "Features"],
  ["fix", "Fixes"],
  ["docs", "Documentation"],
  ["other", "Other"]
]
const typeGroup = { feat: "feat", feature: "feat", fix: "fix", bugfix: "fix", docs: "docs", doc: "docs" }

run(() => {
  const { flags } = parseFlags(process.argv.slice(2))
  if (git(["rev-parse", "--is-inside-work-tree"], { allowFail: true })?.trim() !== "true") {
    throw new Exit(2, `release-summary: not a git repository: ${process.cwd()}`)
  }
  const toRef = flags.to ?? "HEAD"
  const top = Number(flags.top ?? 25)
  if (!Number.isInteger(top) || top < 0) throw new Exit(2, "release-summary: top must be a non-negative integer")
  const to = commitOf(toRef)
  if (to === undefined) throw new Exit(2, `release-summary: unknown ref: ${toRef}`)

  let fromRef = flags.from
  let from
  if (fromRef !== undefined) {
    from = commitOf(fromRef)
    if (from === undefined) throw new Exit(2, `release-summary: unknown ref: ${fromRef}`)
  } else {
    const tagOf = (rev) => git(["describe", "--tags", "--abbrev=0", rev], { allowFail: true })?.trim()
    let tag = tagOf(to)
    if (tag !== undefined && commitOf(tag) === to) tag = commitOf(`${to}^`) === undefined ? undefined : tagOf(`${to}^`)
    if (tag !== undefined) {
      fromRef = tag
      from = commitOf(tag)
    }
  }
  const short = (c) => c.slice(0, 7)
  const fromLabel = from === undefined ? "the root commit" : `${fromRef} (${short(from)})`
  const range = from === undefined ? [to] : [`${from}..${to}`]

  const log = git(["log", "--no-merges", "--format=%H%x1f%h%x1f%an%x1f%aI%x1f%s%x1f%b%x1e", ...range, "--"])
  const commits = log
    .split("\x1e")
    .map((r) => r.replace(/^\n/, ""))
    .filter((r) => r.trim() !== "")
    .map((r) => {
      const [hash, abbrev, author, date, subject, body] = r.split("\x1f")
      const m = /^(\w+)(?:\(([^)]*)\))?(!)?:\s*(.+)$/.exec(subject)
      const type = m ? m[1].toLowerCase() : undefined
      return {
        hash,
        abbrev,
        author,
        date,
        subject: m ? m[4] : subject,
        scope: m?.[2] || undefined,
        group: (type !== undefined && typeGroup[type]) || "other",
        type,
        breaking: Boolean(m?.[3]) || /^BREAKING[ -]CHANGE:/m.test(body ?? "")
      }
    })

  const out = []
  out.push(`# Release notes: ${fromLabel} → ${toRef} (${short(to)})`, "")
  if (commits.length === 0) {
    out.push(`No commits between ${fromLabel} and ${toRef}.`)
    process.stdout.write(out.join("\n") + "\n")
    return
  }
  const base = from ?? git(["hash-object", "-t", "tree", "/dev/null"]).trim()
  const shortstat = git(["diff", "--shortstat", base, to]).trim()
  const authors = new Map()
  for (const c of commits) authors.set(c.author, (authors.get(c.author) ?? 0) + 1)
  const breaking = commits.filter((c) => c.breaking).length
  out.push(
    `${commits.length} commit${commits.length === 1 ? "" : "s"} by ${authors.size} author${authors.size === 1 ? "" : "s"}` +
      (shortstat === "" ? "" : `; ${shortstat}`) +
      (breaking > 0 ? `; ${breaking} breaking` : "") +
      ".",
    ""
  )
  for (const [group, title] of groups) {
    const list = commits.filter((c) => c.group === group)
    if (list.length === 0) continue
    out.push(`## ${title}`, "")
    for (const c of list) {
      const label = group === "other" && c.type !== undefined && typeGroup[c.type] === undefined ? `${c.type}${c.scope ? `(${c.scope})` : ""}: ` : c.scope ? `**${c.scope}:** ` : ""
      out.push(`- ${c.breaking ? "**BREAKING** " : ""}${label}${c.subject} (${c.abbrev}, ${c.author})`)
    }
    out.push("")
  }
  out.push("## Authors", "")
  for (const [name, n] of [...authors].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    out.push(`- ${name} (${n} commit${n === 1 ? "" : "s"})`)
  }
  out.push("", "## Diffstat", "")
  const numstat = git(["diff", "--numstat", "-z", base, to])
  const files = []
  for (const rec of numstat.split("\0")) {
    const m = /^(\d+|-)\t(\d+|-)\t(.+)$/s.exec(rec)
    if (m) files.push({ added: m[1], deleted: m[2], path: m[3] })
  }
  const weight = (f) => (f.added === "-" ? 0 : Number(f.added)) + (f.deleted === "-" ? 0 : Number(f.deleted))
  files.sort((a, b) => weight(b) - weight(a) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  for (const f of files.slice(0, top)) {
    out.push(f.added === "-" ? `- ${f.path} (binary)` : `- ${f.path} +${f.added} -${f.deleted}`)
  }
  if (files.length > top) out.push(`- … and ${files.length - top} more file${files.length - top === 1 ? "" : "s"}`)
  process.stdout.write(out.join("\n") + "\n")
})
