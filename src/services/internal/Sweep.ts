/**
 * Sweeping a local leaf: finding what is left of it (live members of its process group, live
 * processes carrying its marker) and killing that — SIGTERM, a grace, SIGKILL — in rounds, and
 * reaping a dead owner's leaf by a persisted identity. Used by LocalHost only.
 */
import { randomUUID } from "node:crypto"
import { Duration, Effect, Schedule } from "effect"
import type { ProcessIdentity } from "../Host.js"
import { freshSnapshot, groupAlive, type ProcSnapshot, sendSignal } from "./ProcScan.js"

/** How often the reaper re-checks whether signalled processes are gone. */
const reapPoll = Schedule.spaced("25 millis")

/** After SIGKILL, how long to wait for the kernel to finish the processes off. */
const killSettle = Duration.seconds(1)

/**
 * Sweep rounds (find survivors → SIGTERM → grace → SIGKILL). A later round catches processes
 * forked while an earlier round was waiting.
 */
const maxSweepRounds = 3

/** What the reaper needs to find and kill a leaf's processes. */
export interface SweepTarget {
  readonly identity: ProcessIdentity
  /** The leaf's `TROUPE_LEAF_ID` value, matched against `/proc/<pid>/environ`. */
  readonly marker: string
  /**
   * Reaping a leaf of a previous owner: the group is only treated as ours while one of its live
   * members is verified (the leader with its recorded start time, or a marked process).
   */
  readonly verifyGroup: boolean
  /** Set once a sweep found nothing left, so the scope finalizer does not sweep again. */
  swept: boolean
}

interface Survivors {
  /** The leaf's process group still has a live member. */
  readonly group: boolean
  /** Live processes carrying the leaf's marker (group members included). */
  readonly marked: ReadonlyArray<number>
}

/** Live members of `pgid`, one of which is verified as belonging to `leaf`. */
const verifiedGroupAlive = (leaf: SweepTarget, marked: ReadonlyArray<number>, snapshot: ProcSnapshot): boolean => {
  const markedSet = new Set(marked)
  for (const [pid, stat] of snapshot.stats) {
    if (stat.pgid !== leaf.identity.pgid) continue
    if (markedSet.has(pid) || (pid === leaf.identity.pid && stat.startTime === leaf.identity.startTime)) return true
  }
  return false
}

const survivorsOf = (leaf: SweepTarget) =>
  Effect.map(freshSnapshot, (snapshot): Survivors => {
    const marked = snapshot.byMarker.get(leaf.marker) ?? []
    return { group: leaf.verifyGroup ? verifiedGroupAlive(leaf, marked, snapshot) : groupAlive(leaf.identity.pgid, snapshot), marked }
  })

const noneLeft = (survivors: Survivors) => !survivors.group && survivors.marked.length === 0

// Only two kinds of target are ever signalled: the process group we created (checked live just
// before) and pids whose environment carries this leaf's unique marker (re-read just before).
const signalSurvivors = (leaf: SweepTarget, survivors: Survivors, signal: NodeJS.Signals) =>
  Effect.sync(() => {
    if (survivors.group) sendSignal(-leaf.identity.pgid, signal)
    for (const pid of survivors.marked) sendSignal(pid, signal)
  })

/** Re-checks survivors every {@link reapPoll} until none are left or `within` has elapsed. */
const awaitGone = (leaf: SweepTarget, within: Duration.Duration) =>
  // A Schedule bounded by `upTo`, not `Effect.timeout`: this runs inside finalizers, which are
  // uninterruptible, where a timeout could not interrupt the wait it races.
  survivorsOf(leaf).pipe(
    Effect.repeat({ schedule: Schedule.passthrough<number, Survivors, never>(reapPoll.pipe(Schedule.upTo(within))), until: noneLeft })
  )

/**
 * Kills whatever is left of a leaf: its process group, then any live process carrying its
 * marker. Each round sends SIGTERM, waits up to `grace` and SIGKILLs what remains. When nothing
 * survives this costs one kill(-pgid, 0) and one scan of `/proc/<pid>/environ`.
 */
export const sweep = (leaf: SweepTarget, grace: Duration.Duration) =>
  Effect.gen(function* () {
    if (leaf.swept) return
    for (let round = 0; round < maxSweepRounds; round++) {
      const found = yield* survivorsOf(leaf)
      if (noneLeft(found)) {
        leaf.swept = true
        return
      }
      yield* Effect.logDebug("LocalHost: terminating leaf processes").pipe(
        Effect.annotateLogs({ pgid: leaf.identity.pgid, group: found.group, marked: found.marked.join(",") })
      )
      yield* signalSurvivors(leaf, found, "SIGTERM")
      const afterTerm = yield* awaitGone(leaf, grace)
      if (noneLeft(afterTerm)) continue
      yield* signalSurvivors(leaf, afterTerm, "SIGKILL")
      yield* awaitGone(leaf, killSettle)
    }
    const left = yield* survivorsOf(leaf)
    if (noneLeft(left)) {
      leaf.swept = true
      return
    }
    yield* Effect.logWarning("LocalHost: leaf processes survived SIGKILL").pipe(
      Effect.annotateLogs({ pgid: leaf.identity.pgid, group: left.group, marked: left.marked.join(",") })
    )
  }).pipe(Effect.withSpan("LocalHost.sweep"))

/**
 * Kills what is left of a leaf started by an owner that died, verified by `identity` (the
 * leader with its recorded start time, or processes carrying its marker); the group is only
 * signalled while one of its live members is verified. Succeeds with the number of processes
 * found and signalled (0: nothing matched, nothing signalled).
 */
export const reapIdentity = (identity: ProcessIdentity, grace: Duration.Duration) =>
  Effect.gen(function* () {
    const leaf: SweepTarget = {
      identity,
      // Without a recorded marker nothing carries this fresh one: only the leader can match.
      marker: identity.marker ?? randomUUID(),
      verifyGroup: true,
      swept: false
    }
    const found = yield* survivorsOf(leaf)
    const count = found.marked.length + (found.group && !found.marked.includes(identity.pid) ? 1 : 0)
    if (noneLeft(found)) return 0
    yield* sweep(leaf, grace)
    return count
  })
