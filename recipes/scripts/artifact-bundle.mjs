// recipes/artifact-bundle.json: bundles files and directories (--files=<JSON array>, paths
// relative to --base) into a gzipped POSIX tar at --path, atomically: the archive is written to
// a temp file in the target's directory, fsynced, then renamed into place. The tar is written
// here (ustar + pax headers for long names), so the manifest describes exactly the bytes that
// went into the archive: every regular file's name, size and sha256, plus directories and
// symlinks. Entries: directories recursively in name order, owner 0:0, mtime from the file
// (or SOURCE_DATE_EPOCH when set).
//
// Exit codes: 0 written; 2 usage (no path/files, a path outside base, a missing file);
// 1 I/O errors (including a file that changed size while being read).
import { createHash } from "node:crypto"
import { closeSync, createReadStream, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, unlinkSync, writeSync } from "node:fs"
import { dirname, isAbsolute, relative, resolve, sep } from "node:path"
import { once } from "node:events"
import { createGzip } from "node:zlib"
import { commitTemp, Exit, parseFlags, run, tempPathFor } from "./lib/common.mjs"

const block = 512

const octal = (n, width) => n.toString(8).padStart(width - 1, "0") + "\0"

/** One ustar header; `name`/`linkname` must already fit (long ones go in a pax header). */
const header = ({ name, mode, size, mtime, type, linkname = "" }) => {
  const h = Buffer.alloc(block)
  h.write(name, 0, 100, "utf8")
  h.write(octal(mode & 0o7777, 8), 100, "ascii")
  h.write(octal(0, 8), 108, "ascii")
  h.write(octal(0, 8), 116, "ascii")
  h.write(octal(size, 12), 124, "ascii")
  h.write(octal(mtime, 12), 136, "ascii")
  h.fill(" ", 148, 156)
  h.write(type, 156, "ascii")
  h.write(linkname, 157, 100, "utf8")
  h.write("ustar\0", 257, "ascii")
  h.write("00", 263, "ascii")
  let sum = 0
  for (const b of h) sum += b
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "ascii")
  return h
}

const padding = (size) => Buffer.alloc((block - (size % block)) % block)

/** A pax record `"<len> key=value\n"`, where len counts the whole record. */
const paxRecord = (key, value) => {
  const body = ` ${key}=${value}\n`
  let len = Buffer.byteLength(body) + 1
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body)
  return `${len}${body}`
}

/** Header blocks for an entry: a pax header first when the name or link target is too long. */
const headers = (entry) => {
  const fits = (s) => Buffer.byteLength(s) <= 100 && /^[\x20-\x7e]*$/.test(s)
  const out = []
  if (!fits(entry.name) || !fits(entry.linkname ?? "")) {
    const pax = Buffer.from(
      (fits(entry.name) ? "" : paxRecord("path", entry.name)) + (fits(entry.linkname ?? "") ? "" : paxRecord("linkpath", entry.linkname)),
      "utf8"
    )
    out.push(header({ name: "PaxHeader/" + entry.name.replace(/[^\x20-\x7e]/g, "_").slice(-80), mode: 0o644, size: pax.length, mtime: entry.mtime, type: "x" }))
    out.push(pax, padding(pax.length))
  }
  out.push(
    header({
      ...entry,
      name: fits(entry.name) ? entry.name : entry.name.replace(/[^\x20-\x7e]/g, "_").slice(-100),
      linkname: fits(entry.linkname ?? "") ? entry.linkname : ""
    })
  )
  return out
}

/** Walks the items in order (directories recursively, names sorted); skips `exclude`d paths. */
const collect = (base, items, exclude) => {
  const entries = []
  const seen = new Set()
  const epoch = process.env.SOURCE_DATE_EPOCH
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
    const name = rel.split(sep).join("/")
    if (seen.has(name)) return
    seen.add(name)
    let st
    try {
      st = lstatSync(abs)
    } catch (e) {
      if (e?.code === "ENOENT") throw new Exit(2, `artifact-bundle: no such file: ${rel}`)
      throw e
    }
    const mtime = epoch !== undefined && /^\d+$/.test(epoch) ? Number(epoch) : Math.floor(st.mtimeMs / 1000)
    if (st.isDirectory()) {
      entries.push({ name: name + "/", type: "5", mode: st.mode, size: 0, mtime })
      for (const child of readdirSync(abs).sort()) visit(resolve(abs, child))
    } else if (st.isFile()) {
      entries.push({ name, type: "0", mode: st.mode, size: st.size, mtime, abs })
    } else if (st.isSymbolicLink()) {
      entries.push({ name, type: "2", mode: st.mode, size: 0, mtime, linkname: readlinkSync(abs) })
    } else {
      process.stderr.write(`artifact-bundle: skipped ${name} (not a file, directory or symlink)\n`)
    }
  }
  for (const item of items) visit(resolve(base, item))
  return entries
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

  const fd = openSync(tmp, "wx", 0o644)
  const archiveHash = createHash("sha256")
  let archiveBytes = 0
  const gzip = createGzip()
  gzip.on("data", (chunk) => {
    archiveHash.update(chunk)
    archiveBytes += chunk.length
    try {
      let off = 0
      while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off)
    } catch (e) {
      gzip.destroy(e)
    }
  })
  const ended = once(gzip, "end")
  ended.catch(() => {}) // awaited below; an early error surfaces through put()
  const put = async (buf) => {
    if (!gzip.write(buf)) await once(gzip, "drain")
  }
  const files = []
  try {
    for (const entry of entries) {
      for (const h of headers(entry)) await put(h)
      if (entry.type !== "0") continue
      const hash = createHash("sha256")
      let read = 0
      for await (const chunk of createReadStream(entry.abs)) {
        read += chunk.length
        if (read > entry.size) break
        hash.update(chunk)
        await put(chunk)
      }
      if (read !== entry.size) throw new Exit(1, `artifact-bundle: ${entry.name} changed size while being bundled`)
      await put(padding(entry.size))
      files.push({ name: entry.name, bytes: entry.size, sha256: hash.digest("hex") })
    }
    await put(Buffer.alloc(block * 2))
    gzip.end()
    await ended
    fsyncSync(fd)
    closeSync(fd)
  } catch (e) {
    gzip.destroy()
    closeSync(fd)
    unlinkSync(tmp)
    throw e
  }
  commitTemp(tmp, target)
  const manifest = {
    path: target,
    bytes: archiveBytes,
    sha256: archiveHash.digest("hex"),
    files,
    dirs: entries.filter((e) => e.type === "5").map((e) => e.name),
    symlinks: entries.filter((e) => e.type === "2").map((e) => ({ name: e.name, target: e.linkname }))
  }
  process.stdout.write(JSON.stringify(manifest, null, 2) + "\n")
})
