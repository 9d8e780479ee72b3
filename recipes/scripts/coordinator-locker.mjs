// recipes/coordinator-locker.json: a coordination cell over a shared directory.
//
//   coordinator-locker.mjs <acquire|release|status|decide|journal> --dir=<d> [--state-dir=<d>]
//     [--resource=<r>] [--holder=<h>] [--ttl-ms=<n>] [--decision=<text>] [--limit=<n>]
//
// State in <dir>: `leases.json` ({ "<resource>": { holder, acquired_at, expires_at, ttl_ms,
// expires_ms } }, replaced atomically) and `journal.jsonl` (append-only, one complete
// {ts, holder, decision, resource?} object per line). Every action runs under one inter-process
// lock on the directory (proper-lockfile: an atomic mkdir of `<dir>/.locker.lock`, its mtime kept
// fresh while held, stale after 10 s if the holder died), so concurrent invocations from any
// number of processes serialize.
//
// acquire  grants a free or expired lease (taking an expired one over), renews the holder's own
//          lease, and refuses a live lease of another holder.
// release  removes the lease; only its holder may release it.
// status   lists the leases (all, or --resource) with `expired` flags.
// decide   appends {ts, holder, decision, resource?} to the journal.
// journal  prints the journal lines (the last --limit when > 0).
//
// Success prints one JSON object (journal: the JSONL lines). Exit codes: 2 usage; 3 conflict
// (`lease busy: <resource> held by <holder> until <iso>`, or a release by a non-holder);
// 4 no such lease; 75 the directory lock could not be taken within ~20 s; 1 other errors
// (an unreadable state file is an error, never silently reset).
import { appendFileSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync } from "node:fs"
import { join, resolve } from "node:path"
import lockfile from "proper-lockfile"
import { Exit, parseFlags, run, writeFileAtomic } from "./lib/common.mjs"

const actions = ["acquire", "release", "status", "decide", "journal"]

const need = (flags, name, action) => {
  const v = flags[name]
  if (v === undefined || v.trim() === "") throw new Exit(2, `coordinator-locker: ${action} needs ${name.replace(/-/g, "_")}=…`)
  return v
}

const readLeases = (file) => {
  let text
  try {
    text = readFileSync(file, "utf8")
  } catch (e) {
    if (e?.code === "ENOENT") return {}
    throw e
  }
  try {
    const parsed = JSON.parse(text)
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object")
    return parsed
  } catch (e) {
    throw new Exit(1, `coordinator-locker: corrupt lease file ${file}: ${e.message}`)
  }
}

const readJournal = (file) => {
  let text
  try {
    text = readFileSync(file, "utf8")
  } catch (e) {
    if (e?.code === "ENOENT") return []
    throw e
  }
  const lines = text.split("\n")
  const tail = lines.pop()
  if (tail !== "") process.stderr.write(`coordinator-locker: ignored an incomplete last journal line (${tail.length} chars)\n`)
  return lines.filter((l) => l !== "")
}

const iso = (ms) => new Date(ms).toISOString()

const print = (obj) => process.stdout.write(JSON.stringify(obj) + "\n")

const withLock = async (dir, body) => {
  let compromised
  let release
  try {
    release = await lockfile.lock(dir, {
      lockfilePath: join(dir, ".locker.lock"),
      realpath: false,
      stale: 10_000,
      retries: { retries: 400, factor: 1.2, minTimeout: 5, maxTimeout: 50, randomize: true },
      onCompromised: (e) => {
        compromised = e
      }
    })
  } catch (e) {
    if (e?.code === "ELOCKED") throw new Exit(75, `coordinator-locker: could not lock ${dir}: another process keeps holding it`)
    throw e
  }
  try {
    return body()
  } finally {
    await release().catch((e) => {
      compromised ??= e
    })
    if (compromised !== undefined) throw new Exit(75, `coordinator-locker: the lock on ${dir} was compromised: ${compromised.message}`)
  }
}

run(async () => {
  const { flags, positionals } = parseFlags(process.argv.slice(2))
  const action = positionals[0]
  if (!actions.includes(action)) throw new Exit(2, `coordinator-locker: action must be one of ${actions.join(", ")}`)
  const dirFlag = flags.dir ?? flags["state-dir"]
  if (dirFlag === undefined) throw new Exit(2, "coordinator-locker: dir=<shared directory> is required outside a spawned run (which defaults to its state_dir)")
  const dir = resolve(dirFlag)
  mkdirSync(dir, { recursive: true })
  const leasesFile = join(dir, "leases.json")
  const journalFile = join(dir, "journal.jsonl")

  switch (action) {
    case "acquire": {
      const resource = need(flags, "resource", action)
      const holder = need(flags, "holder", action)
      const ttl = Number(flags["ttl-ms"] ?? 60_000)
      if (!Number.isInteger(ttl) || ttl < 1) throw new Exit(2, "coordinator-locker: ttl_ms must be a positive integer")
      return withLock(dir, () => {
        const leases = readLeases(leasesFile)
        const now = Date.now()
        const current = Object.hasOwn(leases, resource) ? leases[resource] : undefined
        if (current !== undefined && current.holder !== holder && current.expires_ms > now) {
          throw new Exit(3, `lease busy: ${resource} held by ${current.holder} until ${current.expires_at}`)
        }
        const renewed = current !== undefined && current.holder === holder && current.expires_ms > now
        const tookOver = current !== undefined && current.holder !== holder ? { holder: current.holder, expired_at: current.expires_at } : null
        const lease = {
          holder,
          acquired_at: renewed ? current.acquired_at : iso(now),
          expires_at: iso(now + ttl),
          ttl_ms: ttl,
          expires_ms: now + ttl
        }
        writeFileAtomic(leasesFile, JSON.stringify({ ...leases, [resource]: lease }, null, 2) + "\n")
        print({ ok: true, action, resource, holder, acquired_at: lease.acquired_at, expires_at: lease.expires_at, ttl_ms: ttl, renewed, took_over: tookOver })
      })
    }
    case "release": {
      const resource = need(flags, "resource", action)
      const holder = need(flags, "holder", action)
      return withLock(dir, () => {
        const leases = readLeases(leasesFile)
        const current = Object.hasOwn(leases, resource) ? leases[resource] : undefined
        if (current === undefined) throw new Exit(4, `no lease: ${resource} is not held`)
        if (current.holder !== holder) {
          throw new Exit(3, `not the holder: ${resource} is held by ${current.holder} until ${current.expires_at}, not by ${holder}`)
        }
        const { [resource]: _gone, ...rest } = leases
        writeFileAtomic(leasesFile, JSON.stringify(rest, null, 2) + "\n")
        print({ ok: true, action, resource, holder, released_at: iso(Date.now()), was_expired: current.expires_ms <= Date.now() })
      })
    }
    case "status": {
      const only = flags.resource
      return withLock(dir, () => {
        const leases = readLeases(leasesFile)
        const now = Date.now()
        const list = Object.entries(leases)
          .filter(([r]) => only === undefined || r === only)
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([resource, l]) => ({ resource, holder: l.holder, acquired_at: l.acquired_at, expires_at: l.expires_at, ttl_ms: l.ttl_ms, expired: l.expires_ms <= now }))
        print({ ok: true, action, dir, now: iso(now), leases: list })
      })
    }
    case "decide": {
      const holder = need(flags, "holder", action)
      const decision = need(flags, "decision", action)
      return withLock(dir, () => {
        const entry = { ts: iso(Date.now()), holder, decision, ...(flags.resource !== undefined ? { resource: flags.resource } : {}) }
        // One complete line per append, under the lock, then fsync: lines never interleave.
        appendFileSync(journalFile, JSON.stringify(entry) + "\n", { mode: 0o644 })
        const fd = openSync(journalFile, "r")
        try {
          fsyncSync(fd)
        } finally {
          closeSync(fd)
        }
        print({ ok: true, action, entry })
      })
    }
    case "journal": {
      const limit = Number(flags.limit ?? 0)
      if (!Number.isInteger(limit) || limit < 0) throw new Exit(2, "coordinator-locker: limit must be a non-negative integer")
      return withLock(dir, () => {
        const lines = readJournal(journalFile)
        const shown = limit > 0 ? lines.slice(-limit) : lines
        if (shown.length > 0) process.stdout.write(shown.join("\n") + "\n")
      })
    }
  }
})
