// recipes/docs-maintenance.json: a docs health report for the Markdown files under --root
// (tracked and untracked-but-not-ignored files in a git repository; otherwise a walk that skips
// dot-directories and node_modules). Outside fenced code blocks and inline code it finds:
// relative links and images whose file is missing, anchors (`#x`, `file.md#x`) with no matching
// heading or <a id/name> in the target, and marker words (--markers, a regex alternation).
// With --stale=true (git only) it lists docs whose last commit is older than the last commit of
// a file they mention (in a link or an inline code span).
//
// The report goes to stdout; findings are not errors. Exit codes: 0 report printed; 2 --root is
// missing or --markers is not a valid regular expression.
import { execFileSync } from "node:child_process"
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { basename, dirname, join, relative, resolve, sep } from "node:path"
import { Exit, parseFlags, run } from "./lib/common.mjs"

const git = (cwd, args) => {
  try {
    return execFileSync("git", ["-C", cwd, ...args], { encoding: "utf8", maxBuffer: 256 * 1024 * 1024, stdio: ["ignore", "pipe", "ignore"] })
  } catch {
    return undefined
  }
}

const posix = (p) => p.split(sep).join("/")
const isMarkdown = (p) => /\.(md|markdown)$/i.test(p)

const walk = (root) => {
  const out = []
  const visit = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.name.startsWith(".") || e.name === "node_modules") continue
      const abs = join(dir, e.name)
      if (e.isDirectory()) visit(abs)
      else if (e.isFile() && isMarkdown(e.name)) out.push(posix(relative(root, abs)))
    }
  }
  visit(root)
  return out
}

/** GitHub-style heading slug. */
const slug = (text) =>
  text
    .trim()
    .toLowerCase()
    .replace(/<[^>]+>/g, "")
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-")

/** Lines outside fenced code blocks, with inline code spans blanked (their text kept aside). */
const proseLines = (text) => {
  const out = []
  let fence
  text.split("\n").forEach((line, i) => {
    const f = /^\s{0,3}(`{3,}|~{3,})/.exec(line)
    if (fence !== undefined) {
      if (f && f[1][0] === fence[0] && f[1].length >= fence.length && line.trim() === f[1]) fence = undefined
      return
    }
    if (f) {
      fence = f[1]
      return
    }
    const spans = []
    const prose = line.replace(/(`+)(.+?)\1/g, (_, ticks, code) => {
      spans.push(code.trim())
      return " ".repeat(ticks.length * 2 + code.length)
    })
    out.push({ n: i + 1, line, prose, spans })
  })
  return out
}

const anchorsOf = (lines) => {
  const anchors = new Set()
  const counts = new Map()
  for (const { prose } of lines) {
    const h = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(prose)
    if (h) {
      const base = slug(h[1])
      const n = counts.get(base) ?? 0
      counts.set(base, n + 1)
      anchors.add(n === 0 ? base : `${base}-${n}`)
    }
    for (const m of prose.matchAll(/<a\s[^>]*(?:id|name)\s*=\s*["']([^"']+)["']/gi)) anchors.add(m[1])
  }
  return anchors
}

const linkTargets = (prose) => {
  const out = []
  for (const m of prose.matchAll(/!?\[[^\]]*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+["'(][^)]*)?\)/g)) out.push(m[1].replace(/^<|>$/g, ""))
  const def = /^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/.exec(prose)
  if (def) out.push(def[1].replace(/^<|>$/g, ""))
  return out
}

run(() => {
  const { flags } = parseFlags(process.argv.slice(2))
  const root = resolve(flags.root ?? ".")
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new Exit(2, `docs-maintenance: no such directory: ${root}`)
  const markersText = flags.markers ?? "TODO|FIXME|XXX|TBD"
  let markerRe
  try {
    markerRe = new RegExp(`\\b(?:${markersText})\\b`)
  } catch (e) {
    throw new Exit(2, `docs-maintenance: markers is not a valid regular expression: ${e.message}`)
  }
  const stale = flags.stale === "true"
  const top = git(root, ["rev-parse", "--show-toplevel"])?.trim()
  const listed = top === undefined ? undefined : git(root, ["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
  const docs = (listed === undefined ? walk(root) : [...new Set(listed.split("\0").filter((p) => p !== "" && isMarkdown(p)))].sort()).filter((p) =>
    existsSync(join(root, p))
  )
  const siteRoot = top ?? root

  const parsed = new Map()
  const parse = (abs) => {
    if (!parsed.has(abs)) {
      const text = readFileSync(abs, "utf8")
      const lines = proseLines(text)
      const count = text === "" ? 0 : text.split("\n").length - (text.endsWith("\n") ? 1 : 0)
      parsed.set(abs, { lines, anchors: anchorsOf(lines), count })
    }
    return parsed.get(abs)
  }

  const broken = []
  const markers = []
  const mentions = new Map()
  const perDoc = []
  let checked = 0
  for (const doc of docs) {
    const abs = join(root, doc)
    const { lines, count } = parse(abs)
    let links = 0
    const mentioned = new Set()
    for (const { n, line, prose, spans } of lines) {
      for (const raw of linkTargets(prose)) {
        links++
        if (/^[a-z][a-z0-9+.-]*:/i.test(raw) || raw.startsWith("//")) continue
        checked++
        const [pathPart, anchor] = raw.split("#", 2)
        let path
        try {
          path = decodeURIComponent(pathPart.split("?")[0])
        } catch {
          path = pathPart
        }
        const target = path === "" ? abs : path.startsWith("/") ? join(siteRoot, path) : resolve(dirname(abs), path)
        const shown = posix(relative(root, target))
        if (!existsSync(target)) {
          broken.push(`- ${doc}:${n}: broken link ${raw} (no such file: ${shown})`)
          continue
        }
        if (path !== "" && statSync(target).isFile() && !isMarkdown(target)) mentioned.add(target)
        if (anchor !== undefined && anchor !== "" && statSync(target).isFile() && isMarkdown(target)) {
          let wanted = anchor
          try {
            wanted = decodeURIComponent(anchor)
          } catch {
            // keep it as written
          }
          if (!parse(target).anchors.has(wanted) && !parse(target).anchors.has(wanted.toLowerCase())) {
            broken.push(`- ${doc}:${n}: broken anchor ${raw} (no heading #${wanted} in ${shown})`)
          }
        }
      }
      if (markerRe.test(prose)) markers.push(`- ${doc}:${n}: ${line.trim()}`)
      if (stale) {
        for (const span of spans) {
          if (!/^[\w@.-]+(?:\/[\w@.-]+)*\.\w+$/.test(span) && !span.includes("/")) continue
          for (const candidate of [join(siteRoot, span), resolve(dirname(abs), span)]) {
            if (existsSync(candidate) && statSync(candidate).isFile() && !isMarkdown(candidate)) {
              mentioned.add(candidate)
              break
            }
          }
        }
      }
    }
    mentions.set(doc, mentioned)
    perDoc.push(`- ${doc}: ${count} line${count === 1 ? "" : "s"}, ${links} link${links === 1 ? "" : "s"}`)
  }

  const staleLines = []
  let staleNote = "not checked (stale=false)"
  if (stale && top === undefined) staleNote = "not checked (not a git repository)"
  else if (stale) {
    // Last commit time per path, newest first: one pass over the history.
    const last = new Map()
    const log = git(top, ["log", "--format=%x00%ct", "--name-only", "--no-renames"]) ?? ""
    for (const rec of log.split("\0")) {
      const [ct, ...names] = rec.split("\n")
      const t = Number(ct)
      if (!Number.isFinite(t)) continue
      for (const name of names) if (name !== "" && !last.has(name)) last.set(name, t)
    }
    const when = (abs) => last.get(posix(relative(top, abs)))
    const day = (t) => new Date(t * 1000).toISOString().slice(0, 10)
    for (const doc of docs) {
      const docTime = when(join(root, doc))
      if (docTime === undefined) continue
      for (const code of [...mentions.get(doc)].sort()) {
        const codeTime = when(code)
        if (codeTime !== undefined && codeTime > docTime) {
          staleLines.push(`- ${doc} (last changed ${day(docTime)}) mentions ${posix(relative(root, code))} (changed ${day(codeTime)})`)
        }
      }
    }
    staleNote = String(staleLines.length)
  }

  const out = [`# Docs health: ${basename(root)}`, ""]
  out.push(`- Markdown files: ${docs.length}`)
  out.push(`- relative links checked: ${checked}, broken: ${broken.length}`)
  out.push(`- markers (${markersText}): ${markers.length}`)
  out.push(`- stale docs: ${staleNote}`, "")
  const section = (title, lines) => out.push(`## ${title}`, "", ...(lines.length === 0 ? ["(none)"] : lines), "")
  section("Broken links", broken)
  section("Markers", markers)
  if (stale) section("Stale docs", staleLines)
  section("Markdown files", perDoc)
  process.stdout.write(out.join("\n"))
})
