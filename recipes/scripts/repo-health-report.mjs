// Merge step of recipes/repo-health.json: reads the parallel node's labelled branch output
// (`--- branch: <label> status: <status> ---` sections) on stdin and prints a Markdown report.
import { basename } from "node:path"

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const input = Buffer.concat(chunks).toString("utf8")

const sections = new Map()
let current
for (const line of input.split("\n")) {
  const m = /^--- branch: (.+) status: (\w+) ---$/.exec(line)
  if (m) {
    current = { status: m[2], lines: [] }
    sections.set(m[1], current)
  } else if (current) current.lines.push(line)
}
const body = (label) => (sections.get(label)?.lines ?? []).filter((l) => l.trim() !== "" && !/^(exit|stderr): /.test(l))
const status = (label) => sections.get(label)?.status ?? "missing"

const out = []
out.push(`# Repository health: ${basename(process.cwd())}`, "")
const files = body("files")[0]?.trim() ?? "?"
const markers = body("markers")
out.push(`- tracked files: ${files}`)
out.push(`- TODO/FIXME markers (first 40 shown): ${markers.length}`)
out.push(`- sections: ${[...sections].map(([l, s]) => `${l} ${s.status}`).join(", ")}`, "")

const section = (title, label, render = (l) => `    ${l.trim()}`) => {
  out.push(`## ${title}${status(label) === "done" ? "" : ` (${status(label)})`}`, "")
  const lines = body(label)
  out.push(...(lines.length === 0 ? ["    (none)"] : lines.map(render)), "")
}
section("Recent commits", "commits")
section("Authors by commits", "authors")
section("Files by type", "file-types")
section("Largest files (bytes)", "largest")
section("Markers", "markers")
process.stdout.write(out.join("\n"))
