// recipes/artifact-write.json: writes the content argument (after `--`), or stdin when there is
// none, to --path atomically — temp file in the same directory, fsync, then rename (overwrite)
// or link (create: fails when the file exists). Readers see the old file, no file, or the
// complete new one, never a partial write. Prints {path, bytes, sha256, mode} as JSON.
//
// Exit codes: 0 written; 2 usage (no path, nothing to write); 3 the file exists (mode=create).
import { createHash } from "node:crypto"
import { mkdirSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { Exit, parseFlags, readStdin, run, writeFileAtomic } from "./lib/common.mjs"

run(async () => {
  const { flags, positionals } = parseFlags(process.argv.slice(2))
  if (flags.path === undefined) throw new Exit(2, "artifact-write: path=<file> is required")
  const mode = flags.mode ?? "overwrite"
  if (mode !== "overwrite" && mode !== "create") throw new Exit(2, `artifact-write: mode must be overwrite or create, got ${mode}`)
  const target = resolve(flags.path)
  const data = positionals.length > 0 ? Buffer.from(positionals.join(" "), "utf8") : await readStdin()
  if (data.length === 0 && flags["allow-empty"] !== "true") {
    throw new Exit(2, "artifact-write: nothing to write: pass content=… or pipe stdin (allow_empty=true writes an empty file)")
  }
  mkdirSync(dirname(target), { recursive: true })
  try {
    writeFileAtomic(target, data, { noClobber: mode === "create" })
  } catch (e) {
    if (e?.code === "EEXIST") throw new Exit(3, `artifact-write: exists: ${target} (mode=create never replaces a file)`)
    throw e
  }
  const sha256 = createHash("sha256").update(data).digest("hex")
  process.stdout.write(JSON.stringify({ path: target, bytes: data.length, sha256, mode }) + "\n")
})
