/**
 * `TROUPE_HOME` preparation (issue 18 item 6): the directory holds the store, the daemon's
 * socket and every run's logs, so it must be private. troupe creates a missing home with mode
 * 0700 and never changes the mode of an existing directory (`TROUPE_HOME=/tmp` must not turn
 * `/tmp` into 0700): an existing home that is not a directory, not owned by this user, or
 * group- or world-writable is refused with one sentence saying what to do.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import { ActorsError } from "../domain/Run.js"

const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, "0")

/**
 * Why an existing `home` is unsafe, as one sentence, or undefined when it is a directory owned
 * by `uid` with no group/world write bit. `uid` undefined (no `getuid`, Windows) skips the
 * owner check.
 */
export const unsafeHome = (home: string, info: fs.Stats, uid: number | undefined): string | undefined => {
  if (!info.isDirectory()) return `TROUPE_HOME ${home} is not a directory; point TROUPE_HOME at a directory of your own`
  if (uid !== undefined && info.uid !== uid) {
    return `TROUPE_HOME ${home} is owned by uid ${info.uid}, not by you (uid ${uid}); point TROUPE_HOME at a directory you own (troupe creates a missing one with mode 0700)`
  }
  if ((info.mode & 0o022) !== 0) {
    return `TROUPE_HOME ${home} is group- or world-writable (mode ${octal(info.mode)}); run chmod 700 ${home} or point TROUPE_HOME at a private directory (troupe never changes an existing directory's mode)`
  }
  return undefined
}

/**
 * Makes sure `home` is a private directory: creates it (and missing parents) with mode 0700
 * when it does not exist; checks an existing one (following a symlink) without changing it.
 * @fails ActorsError `invalid` when the existing directory is unsafe (see {@link unsafeHome}),
 *   `internal` when it cannot be created or inspected.
 */
export const prepareHome = (home: string): Effect.Effect<void, ActorsError> =>
  Effect.gen(function* () {
    const existing = yield* Effect.try({
      try: () => fs.statSync(home, { throwIfNoEntry: false }),
      catch: (e) => new ActorsError({ reason: "internal", message: `cannot inspect TROUPE_HOME ${home}: ${String(e)}` })
    })
    if (existing === undefined) {
      yield* Effect.try({
        // mkdir's mode is masked by the umask, which only removes bits: 0700 stays at most 0700.
        try: () => fs.mkdirSync(home, { recursive: true, mode: 0o700 }),
        catch: (e) => new ActorsError({ reason: "internal", message: `cannot create TROUPE_HOME ${home}: ${String(e)}` })
      })
      return
    }
    const problem = unsafeHome(home, existing, process.getuid?.())
    if (problem !== undefined) return yield* new ActorsError({ reason: "invalid", message: problem })
  })
