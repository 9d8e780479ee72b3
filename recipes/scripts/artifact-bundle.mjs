// recipes/artifact-bundle.json: bundles files and directories (--files=<JSON array>, paths
// relative to --base) into a gzipped POSIX tar at --path, atomically: the archive is written to
// a temp file in the target's directory, fsynced, then renamed into place.
//
// The tar itself is written by node-tar (`tar`'s Pack: portable headers, pax for long or
// non-ASCII names, gzip). Entries are walked here, not by node-tar, so paths stay inside base
// and the order is fixed: directories recursively, names sorted, each path passed to Pack with
// `noDirRecurse`, one at a time (`jobs: 1`, see `bundle`). Every regular file is stored in
// full (hard-link detection is off). mtime is the file's own, or SOURCE_DATE_EPOCH when set;
// `portable` drops owner, atime/ctime and the mtime of directories, and normalises modes.
//
// The manifest is read back from the archive: every compressed chunk written to the temp file
// is also fed to node-tar's Parser (the reader behind `tar.t`), which hashes each file's
// content as stored in the archive. So name, bytes and sha256 describe the archived bytes,
// not a separate read of the file. The listing must then match the walk (same names, types
// and order, each file the size lstat saw before archiving); a file that changed size or type
// in between, or while node-tar read it, fails with exit 1 and no archive.
//
// Exit codes: 0 written; 2 usage (no path/files, a path outside base, a missing file);
// 1 I/O errors (including a file that changed while being bundled).
import { createHash } from "node:crypto"
import { closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, unlinkSync, writeSync } from "node:fs"
import { dirname, isAbsolute, relative, resolve, sep } from "node:path"
import * as tar from "tar"
import { commitTemp, Exit, parseFlags, run, tempPathFor } from "./lib/common.mjs"

/** Walks the items in order (directories recursively, names sorted); skips `exclude`d paths. */
const collect = (base, items, exclude) => {
  const entries = []
  const seen = new Set()
  const visit = (abs) => {
    const rel = relative(base, abs)
    if (rel === "" && lstatSync(abs).isDirectory()) {
      // The base itself: its contents, without an entry for "./".
      for (const child of readdirSync(abs).sort()) visit(resolve(abs, child))
      return
    }
    if (rel === "" || rel === ".." || rel.startsWith(".." + sep) || isAbsolute(rel)) {
      throw new Exit(2, `artifact-bundle: ${abs} is not inside base ${base}`)
    }
    if (exclude.has(abs)) return
    const path = rel.split(sep).join("/")
    if (seen.has(path)) return
    seen.add(path)
    let st
    try {
      st = lstatSync(abs)
    } catch (e) {
      if (e?.code === "ENOENT") throw new Exit(2, `artifact-bundle: no such file: ${rel}`)
      throw e
    }
    if (st.isDirectory()) {
      entries.push({ path, name: path + "/", type: "Directory" })
      for (const child of readdirSync(abs).sort()) visit(resolve(abs, child))
    } else if (st.isFile()) {
      entries.push({ path, name: path, type: "File", size: st.size })
    } else if (st.isSymbolicLink()) {
      entries.push({ path, name: path, type: "SymbolicLink" })
    } else {
      process.stderr.write(`artifact-bundle: skipped ${path} (not a file, directory or symlink)\n`)
    }
  }
  for (const item of items) visit(resolve(base, item))
  return entries
}

/**
 * node-tar stores a second path to an inode it has already archived as a 0-byte hard-link
 * entry; a link cache that never remembers keeps every regular file a complete File entry.
 */
class NoHardLinks extends Map {
  set() {
    return this
  }
}

/**
 * Packs `entries` (relative to `base`) into a gzipped tar, handing each compressed chunk to
 * `onChunk`, and reads the same chunks back: resolves with the archive's entries in order, each
 * file with the byte count and sha256 of its stored content.
 */
const bundle = (base, entries, onChunk) =>
  new Promise((resolvePromise, reject) => {
    let failed = false
    const fail = (e) => {
      if (failed) return
      failed = true
      process.off("beforeExit", stalled)
      reject(e)
    }
    // If node-tar stalls, the event loop drains with this promise pending and Node would exit 0
    // with a truncated temp file; fail instead, so the caller cleans up and exits 1.
    const stalled = () => fail(new Error("node-tar stopped before the archive was complete"))
    process.once("beforeExit", stalled)
    const archived = []
    const parser = new tar.Parser({
      strict: true,
      // Our own archive, just written: runs of zeros may compress past the default 1000:1 guard.
      maxDecompressionRatio: Infinity,
      onReadEntry: (entry) => {
        const record = { name: entry.path, type: entry.type, size: entry.size, linkpath: entry.linkpath }
        archived.push(record)
        if (entry.type !== "File") return entry.resume()
        const hash = createHash("sha256")
        let bytes = 0
        entry.on("data", (chunk) => {
          hash.update(chunk)
          bytes += chunk.length
        })
        entry.on("end", () => Object.assign(record, { bytes, sha256: hash.digest("hex") }))
      }
    })
    parser.on("error", fail)
    parser.on("end", () => {
      if (failed) return
      process.off("beforeExit", stalled)
      resolvePromise(archived)
    })

    const epoch = process.env.SOURCE_DATE_EPOCH
    const pack = new tar.Pack({
      cwd: base,
      gzip: true,
      portable: true,
      strict: true,
      noDirRecurse: true,
      linkCache: new NoHardLinks(),
      // One entry at a time: with read-ahead (the default 4 jobs), async Pack deadlocks on
      // hard-linked files in 7.5.x (isaacs/node-tar#460) and never ends.
      jobs: 1,
      ...(epoch !== undefined && /^\d+$/.test(epoch) ? { mtime: new Date(Number(epoch) * 1000) } : {})
    })
    pack.on("error", fail)
    pack.on("data", (chunk) => {
      if (failed) return
      try {
        onChunk(chunk)
        parser.write(chunk)
      } catch (e) {
        fail(e)
      }
    })
    pack.on("end", () => {
      if (!failed) parser.end()
    })
    for (const entry of entries) pack.add(entry.path)
    pack.end()
  })

/** The first difference between the walk and the archive's listing, or undefined. */
const mismatch = (entries, archived) => {
  for (let i = 0; i < Math.max(entries.length, archived.length); i++) {
    const want = entries[i]
    const got = archived[i]
    if (want === undefined) return `${got.name}: archived but not asked for`
    if (got === undefined || got.name !== want.name) return `${want.name}: missing from the archive`
    if (got.type !== want.type) return `${want.name}: changed from ${want.type} to ${got.type} while being bundled`
    if (want.type === "File" && (got.size !== want.size || got.bytes !== want.size)) {
      return `${want.name}: changed size while being bundled (${want.size} bytes, then ${got.bytes ?? got.size})`
    }
  }
  return undefined
}

run(async () => {
  const { flags } = parseFlags(process.argv.slice(2))
  if (flags.path === undefined) throw new Exit(2, "artifact-bundle: path=<file.tar.gz> is required")
  let items
  try {
    items = JSON.parse(flags.files ?? "[]")
  } catch {
    throw new Exit(2, "artifact-bundle: files must be a JSON array of paths")
  }
  if (!Array.isArray(items) || items.length === 0 || !items.every((i) => typeof i === "string" && i !== "")) {
    throw new Exit(2, "artifact-bundle: files must be a non-empty array of paths")
  }
  const base = resolve(flags.base ?? ".")
  const target = resolve(flags.path)
  mkdirSync(dirname(target), { recursive: true })
  const tmp = tempPathFor(target)
  const entries = collect(base, items, new Set([target, tmp]))

  let fd = openSync(tmp, "wx", 0o644)
  const archiveHash = createHash("sha256")
  let archiveBytes = 0
  let archived
  try {
    archived = await bundle(base, entries, (chunk) => {
      archiveHash.update(chunk)
      archiveBytes += chunk.length
      let off = 0
      while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off)
    })
    const diff = mismatch(entries, archived)
    if (diff !== undefined) throw new Exit(1, `artifact-bundle: ${diff}`)
    fsyncSync(fd)
    closeSync(fd)
    fd = undefined
  } catch (e) {
    if (fd !== undefined) closeSync(fd)
    unlinkSync(tmp)
    if (e instanceof Exit) throw e
    if (e?.code === "EOF") throw new Exit(1, `artifact-bundle: ${relative(base, e.path ?? "")} changed size while being bundled`)
    throw new Exit(1, `artifact-bundle: ${e?.message ?? String(e)}`)
  }
  commitTemp(tmp, target)
  const manifest = {
    path: target,
    bytes: archiveBytes,
    sha256: archiveHash.digest("hex"),
    files: archived.filter((e) => e.type === "File").map(({ name, bytes, sha256 }) => ({ name, bytes, sha256 })),
    dirs: archived.filter((e) => e.type === "Directory").map((e) => e.name),
    symlinks: archived.filter((e) => e.type === "SymbolicLink").map((e) => ({ name: e.name, target: e.linkpath }))
  }
  process.stdout.write(JSON.stringify(manifest, null, 2) + "\n")
})
