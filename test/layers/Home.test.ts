/**
 * `TROUPE_HOME` preparation and file modes (issue 18 items 6 and 8): a missing home is created
 * 0700, an existing one is checked and never chmodded, and what troupe writes under it (the
 * store, run logs, spills, archives) is 0600 whatever the umask.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Home from "../../src/layers/Home.js"
import * as Runtime from "../../src/layers/Runtime.js"
import { makeLocal } from "../../src/services/Actors.js"
import { troupeBin } from "../support/exec.js"
import { scratch } from "../support/graph.js"

const modeOf = (file: string) => statSync(file).mode & 0o777

/** Runs `f` with the process umask set to `mask` (vitest runs this file in a forked process). */
const withUmask = <A, E, R>(mask: number, f: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => process.umask(mask)),
    () => f,
    (previous) => Effect.sync(() => process.umask(previous))
  )

describe("TROUPE_HOME", () => {
  it.effect("a missing home (and its missing parents) is created 0700, even with umask 000", () => {
    const home = join(scratch("troupe-home-"), "a", "home")
    return Effect.gen(function* () {
      expect(existsSync(home)).toBe(false)
      yield* withUmask(0o000, Home.prepareHome(home))
      expect(modeOf(home)).toBe(0o700)
      expect(modeOf(join(home, ".."))).toBe(0o700)
      // Prepared again: a private home of this user is accepted as it is.
      yield* Home.prepareHome(home)
    })
  })

  it.effect("an existing group- or world-writable home is refused and keeps its mode", () => {
    const base = scratch("troupe-home-")
    const open = join(base, "open")
    const group = join(base, "group")
    const readable = join(base, "readable")
    for (const [dir, mode] of [[open, 0o777], [group, 0o770], [readable, 0o755]] as const) {
      mkdirSync(dir)
      chmodSync(dir, mode)
    }
    return Effect.gen(function* () {
      const e = yield* Effect.flip(Home.prepareHome(open))
      expect(e.reason).toBe("invalid")
      expect(e.message).toBe(
        `TROUPE_HOME ${open} is group- or world-writable (mode 0777); run chmod 700 ${open} or point TROUPE_HOME at a private directory (troupe never changes an existing directory's mode)`
      )
      expect(modeOf(open)).toBe(0o777)
      expect((yield* Effect.flip(Home.prepareHome(group))).message).toContain("(mode 0770)")
      expect(modeOf(group)).toBe(0o770)
      // Positive control: readable by others but writable only by its owner is accepted, unchanged
      // (the old code chmodded it to 0700).
      yield* Home.prepareHome(readable)
      expect(modeOf(readable)).toBe(0o755)
    })
  })

  it.effect("an existing home owned by another user, or a file, is refused", () => {
    const base = scratch("troupe-home-")
    const file = join(base, "file")
    writeFileSync(file, "")
    return Effect.gen(function* () {
      expect((yield* Effect.flip(Home.prepareHome(file))).message).toBe(
        `TROUPE_HOME ${file} is not a directory; point TROUPE_HOME at a directory of your own`
      )
      const uid = process.getuid?.()
      if (uid !== 0) return
      // As root, a directory handed to nobody (65534) stands for another user's.
      const theirs = join(base, "theirs")
      mkdirSync(theirs, { mode: 0o700 })
      chownSync(theirs, 65534, 65534)
      const e = yield* Effect.flip(Home.prepareHome(theirs))
      expect(e.message).toContain(`TROUPE_HOME ${theirs} is owned by uid 65534, not by you (uid 0)`)
      expect(statSync(theirs).uid).toBe(65534)
    })
  })

  it.scoped("the runtime refuses a world-writable home before opening the store", () =>
    Effect.gen(function* () {
      const home = scratch("troupe-home-")
      chmodSync(home, 0o777)
      const exit = yield* Effect.exit(Layer.build(Runtime.layer({ home })))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(JSON.stringify(exit)).toContain("is group- or world-writable")
      expect(existsSync(join(home, "troupe.db"))).toBe(false)
      expect(modeOf(home)).toBe(0o777)
    })
  )
})

describe("TROUPE_HOME through the built CLI", () => {
  it("a command on a world-writable home fails at once with the sentence and writes nothing there", async () => {
    const home = scratch("troupe-home-")
    chmodSync(home, 0o777)
    // Before: the home was chmodded to 0700 (TROUPE_HOME=/tmp as root broke /tmp).
    const r = await troupeBin(["ps"], { env: { ...process.env, TROUPE_HOME: home, NO_COLOR: "1" }, timeout: 30_000 })
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain(`TROUPE_HOME ${home} is group- or world-writable (mode 0777)`)
    expect(readdirSync(home)).toEqual([])
    expect(modeOf(home)).toBe(0o777)
  })
})

describe("file modes under TROUPE_HOME", () => {
  it.live("with umask 000, the store, run logs, a spill and an archive are 0600", () => {
    const home = join(scratch("troupe-modes-"), "home")
    return withUmask(
      0o000,
      Effect.scoped(
        Effect.gen(function* () {
          const runtime = yield* Layer.build(Runtime.layer({ home, killGraceMs: 300 }))
          const actors = yield* makeLocal({ session: "modes", all: false }).pipe(Effect.provide(runtime))
          // 2 MiB on stdout: past the 1 MiB capture limit, so the node's output spills to disk.
          const run = yield* actors.spawn({ template: "sh -c {script}", values: { script: "head -c 2097152 /dev/zero | tr '\\0' x; echo err >&2" }, as: "modes" })
          const out = yield* actors.wait(run.address)
          expect(out.run.state).toBe("done")
          const files = (dir: string): Array<string> =>
            readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? files(join(dir, d.name)) : [join(dir, d.name)]))
          const stateFiles = files(run.state_dir)
          // Positive control: the files whose modes are checked exist.
          expect(stateFiles).toEqual(expect.arrayContaining([join(run.state_dir, "stdout.log"), join(run.state_dir, "stderr.log")]))
          expect(statSync(join(run.state_dir, "stdout.log")).size).toBeGreaterThan(2_000_000)
          expect(modeOf(home)).toBe(0o700)
          // The store is open: its WAL exists and gets the database file's mode.
          expect(existsSync(join(home, "troupe.db-wal"))).toBe(true)
          for (const f of ["troupe.db", "troupe.db-wal", "troupe.db-shm"].map((n) => join(home, n)).filter(existsSync)) {
            expect([f, modeOf(f)]).toEqual([f, 0o600])
          }
          for (const f of stateFiles) expect([f, modeOf(f)]).toEqual([f, 0o600])
          const [archived] = yield* actors.archive([run.address])
          const archivedFiles = files(join(home, "archive"))
          expect(archivedFiles.some((f) => f.endsWith("run.json"))).toBe(true)
          for (const f of archivedFiles) expect([f, modeOf(f)]).toEqual([f, 0o600])
          expect(archived).toBeDefined()
        })
      )
    )
  })
})
