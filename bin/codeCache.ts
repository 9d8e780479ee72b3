/**
 * Loads the CLI bundle (`dist/bin/cli.cjs`, CommonJS) with a V8 code cache, so a command does
 * not re-parse and re-compile ~1 MB of JavaScript on every start.
 *
 * Node 20 has no compile cache for ES modules (`module.enableCompileCache` arrived in 22.1, and
 * it caches code before it runs, which misses the functions a command actually compiles). So
 * the CLI is bundled as one CommonJS file and compiled here with `vm.Script`: the first start
 * compiles it normally and, when the process exits, stores `script.createCachedData()` — taken
 * *after* the command ran, so it holds the bytecode of every function the command used; later
 * starts hand that to V8, which skips parsing and compiling (≈ 90 ms of a warm `troupe ps` on
 * the reference machine; docs/benchmarks.md, cli-latency).
 *
 * Where: `$TROUPE_COMPILE_CACHE` when set to a directory, `off` disables caching; by default
 * `<os tmpdir>/troupe-compile-cache-<uid>/`. The directory is created 0700 and must be owned by
 * this user and not writable by others (a cache is bytecode that runs as this user); otherwise
 * no cache is read or written. A cache file is named by the bundle's path, size and mtime and by
 * Node's version and architecture, so a rebuilt or reinstalled troupe or another Node never
 * reads a stale one; V8 also rejects data that does not match its version and flags, and then
 * the bundle is compiled normally and the cache rewritten. Writes are atomic (temp + rename),
 * so concurrent CLIs never read a torn file. Any cache fault only costs the speed-up.
 */
import * as fs from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import * as vm from "node:vm"

/** The cache directory to use, or undefined when caching is off or the directory is unsafe. */
const cacheDirectory = (): string | undefined => {
  const configured = process.env.TROUPE_COMPILE_CACHE
  if (configured === "off") return undefined
  const uid = typeof process.getuid === "function" ? process.getuid() : undefined
  const dir = configured !== undefined && configured !== "" ? configured : join(tmpdir(), `troupe-compile-cache-${uid ?? "user"}`)
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
    const st = fs.lstatSync(dir)
    if (!st.isDirectory()) return undefined
    if (uid !== undefined && st.uid !== uid) return undefined
    if ((st.mode & 0o022) !== 0) return undefined
    return dir
  } catch {
    return undefined
  }
}

/** FNV-1a (32 bits) of `text`: names the cache of one bundle path; loading node:crypto would cost more than the hash. */
const fnv1a = (text: string): string => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0
  return h.toString(16).padStart(8, "0")
}

const cachePrefix = (file: string) => `cli-${fnv1a(file)}-`

const cacheFile = (dir: string, file: string, st: fs.Stats): string =>
  join(dir, `${cachePrefix(file)}${st.size}-${Math.trunc(st.mtimeMs)}-${process.version}-${process.arch}.v8cache`)

const readCache = (file: string): Buffer | undefined => {
  try {
    return fs.readFileSync(file)
  } catch {
    return undefined
  }
}

/** Writes `data` to `file` atomically, and removes the caches of earlier builds of the same bundle (`prefix`). */
const writeCache = (file: string, prefix: string, data: Buffer): void => {
  const temp = `${file}.${process.pid}.tmp`
  try {
    fs.writeFileSync(temp, data, { mode: 0o600 })
    fs.renameSync(temp, file)
    const dir = dirname(file)
    for (const name of fs.readdirSync(dir)) {
      if (name.startsWith(prefix) && name.endsWith(".v8cache") && join(dir, name) !== file) fs.rmSync(join(dir, name), { force: true })
    }
  } catch {
    try {
      fs.rmSync(temp, { force: true })
    } catch {
      // nothing to clean up
    }
  }
}

/**
 * Runs the CommonJS file `file` (as `require(file)` would: `module`, `exports`, `require`,
 * `__filename`, `__dirname`) compiled with a code cache, and returns its `module.exports`.
 * Fails only as `require` would (a missing file, a throw at module level).
 */
export const requireWithCodeCache = (file: string): unknown => {
  const source = fs.readFileSync(file, "utf8")
  const dir = cacheDirectory()
  const stats = dir === undefined ? undefined : fs.statSync(file)
  const cachePath = dir === undefined || stats === undefined ? undefined : cacheFile(dir, file, stats)
  const cachedData = cachePath === undefined ? undefined : readCache(cachePath)
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${source}\n})`
  const script = new vm.Script(wrapped, { filename: file, cachedData })
  if (cachePath !== undefined && (cachedData === undefined || script.cachedDataRejected === true)) {
    // After the command ran, so the cache holds the functions it compiled, not just the top level.
    process.once("exit", () => writeCache(cachePath, cachePrefix(file), script.createCachedData()))
  }
  const module = { exports: {} as unknown, filename: file, id: file }
  const fn = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: unknown, filename: string, dirname: string) => void
  fn.call(module.exports, module.exports, createRequire(file), module, file, dirname(file))
  return module.exports
}
