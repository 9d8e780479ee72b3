// `npm run demo`: the main job on real input. Runs the packaged repo-health recipe over this
// repository in the foreground through the bundled CLI and exits with its code.
import { spawnSync } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const bin = join(root, "dist/bin/troupe.js")
const step = (title, args) => {
  process.stderr.write(`\n$ troupe ${args.join(" ")}    # ${title}\n`)
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, stdio: "inherit" })
  if (r.status !== 0) process.exit(r.status ?? 1)
}

step("the planned leaves of the pipeline", ["run", "repo-health", "--dry-run"])
step("run it: a parallel fan-out over git, then a merge step", ["run", "repo-health", "top=8"])
