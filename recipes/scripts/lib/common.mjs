// Helpers shared by the packaged recipe scripts: `--key=value` flags, failing with an exit
// code, atomic file commits (temp file + fsync + rename, or link for create-only) and stdin.
import { randomBytes } from "node:crypto"
import { closeSync, fsyncSync, linkSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs"
import { basename, dirname, join } from "node:path"

/** An error that ends the script with `code` and `message` on stderr. */
export class Exit extends Error {
  constructor(code, message) {
    super(message)
    this.code = code
  }
}

/** `--key=value` flags (an empty value counts as absent), the rest as positionals; `--` ends flags. */
export const parseFlags = (argv) => {
  const flags = {}
  const positionals = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === "--") {
      positionals.push(...argv.slice(i + 1))
      break
    }
    const m = /^--([a-z][a-z0-9-]*)=(.*)$/s.exec(a)
    if (m) {
      if (m[2] !== "") flags[m[1]] = m[2]
    } else positionals.push(a)
  }
  return { flags, positionals }
}

/**
 * Runs `main`; an {@link Exit} prints its message and exits with its code, anything else exits 1.
 * Sets `process.exitCode` rather than calling `process.exit`, so piped stdout is flushed.
 */
export const run = (main) =>
  Promise.resolve()
    .then(main)
    .then(
      (code) => {
        process.exitCode = code ?? 0
      },
      (e) => {
        process.stderr.write(`${e instanceof Exit ? e.message : e?.stack ?? String(e)}\n`)
        process.exitCode = e instanceof Exit ? e.code : 1
      }
    )

export const readStdin = async () => {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/** A fresh temporary path in the target's directory (same filesystem, so rename is atomic). */
export const tempPathFor = (target) => join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`)

const fsyncDir = (dir) => {
  let fd
  try {
    fd = openSync(dir, "r")
    fsyncSync(fd)
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

/**
 * Moves a complete, fsynced temp file into place: `rename` (replaces the target atomically) or,
 * with `noClobber`, `link` + `unlink` (fails with EEXIST when the target exists). The temp file
 * is removed on failure.
 */
export const commitTemp = (tmp, target, { noClobber = false } = {}) => {
  try {
    if (noClobber) {
      linkSync(tmp, target)
      unlinkSync(tmp)
    } else renameSync(tmp, target)
  } catch (e) {
    try {
      unlinkSync(tmp)
    } catch {
      // already gone
    }
    throw e
  }
  fsyncDir(dirname(target))
}

/** Writes `data` to `target` atomically: the target is either the old file, absent, or complete. */
export const writeFileAtomic = (target, data, { noClobber = false, mode = 0o644 } = {}) => {
  const tmp = tempPathFor(target)
  const fd = openSync(tmp, "wx", mode)
  try {
    const buf = typeof data === "string" ? Buffer.from(data, "utf8") : data
    let off = 0
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off)
    fsyncSync(fd)
  } catch (e) {
    closeSync(fd)
    unlinkSync(tmp)
    throw e
  }
  closeSync(fd)
  commitTemp(tmp, target, { noClobber })
}
