/**
 * Sweeping a local leaf: finding what is left of it (live members of its process group, live
 * processes carrying its marker) and killing that — SIGTERM, a grace, SIGKILL — in rounds, and
 * reaping a dead owner's leaf by a persisted identity. Used by LocalHost only.
 */
import { randomUUID } from "node:crypto"
import { Duration, Effect, Schedule } from "effect"
import type { ProcessIdentity } from "../Host.js"
import {
  freshSnapshot,
  noneLeft,
  noneLeftSettled,
  type ProcSweepTarget,
  signalSurvivors as signalNow,
  survivorCount,
  survivorsIn,
  type Survivors
} from "./ProcScan.js"

/** How often the reaper re-checks whether signalled processes are gone. */
const reapPoll = Schedule.spaced("25 millis")

/**
 * How long a sweep re-reads processes caught mid-exec (empty environment, started since the
 * leaf) before it concludes that nothing is left, and how often.
 */
const settleWithin = Duration.seconds(3)
const settlePoll = Schedule.spaced("5 millis")

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

/** The flat target the shared /proc helpers take. */
const procTarget = (leaf: SweepTarget): ProcSweepTarget => ({
  pid: leaf.identity.pid,
  pgid: leaf.identity.pgid,
  startTime: leaf.identity.startTime,
  marker: leaf.marker,
  verifyGroup: leaf.verifyGroup
})

const survivorsOf = (target: ProcSweepTarget) => Effect.map(freshSnapshot, (snapshot) => survivorsIn(target, snapshot))

/**
 * What is left of a leaf; when nothing is, re-scans (up to {@link settleWithin}) while a process
 * started since the leaf reads back an empty environment: it may be a marked escapee in the
 * middle of execve(2) (e.g. `setsid sleep` between setsid and the new program's start).
 */
const settledSurvivorsOf = (target: ProcSweepTarget) =>
  survivorsOf(target).pipe(
    Effect.repeat({
      schedule: Schedule.passthrough<number, Survivors, never>(settlePoll.pipe(Schedule.upTo(settleWithin))),
      until: (found) => !noneLeft(found) || noneLeftSettled(found)
    })
  )

// Only two kinds of target are ever signalled: the process group we created (checked live just
// before) and pids whose environment carries this leaf's unique marker (re-read just before).
const signalSurvivors = (target: ProcSweepTarget, survivors: Survivors, signal: NodeJS.Signals) =>
  Effect.sync(() => signalNow(target, survivors, signal))

/** Re-checks survivors every {@link reapPoll} until none are left or `within` has elapsed. */
const awaitGone = (target: ProcSweepTarget, within: Duration.Duration) =>
  // A Schedule bounded by `upTo`, not `Effect.timeout`: this runs inside finalizers, which are
  // uninterruptible, where a timeout could not interrupt the wait it races.
  survivorsOf(target).pipe(
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
    const target = procTarget(leaf)
    const annotate = (found: Survivors) => Effect.annotateLogs({ pgid: target.pgid, group: found.group, marked: found.marked.join(",") })
    // maxSweepRounds rounds, then one last look at what is left.
    for (let round = 0; ; round++) {
      const found = yield* settledSurvivorsOf(target)
      if (noneLeft(found)) {
        leaf.swept = true
        return
      }
      if (round === maxSweepRounds) return yield* Effect.logWarning("LocalHost: leaf processes survived SIGKILL").pipe(annotate(found))
      yield* Effect.logDebug("LocalHost: terminating leaf processes").pipe(annotate(found))
      yield* signalSurvivors(target, found, "SIGTERM")
      const afterTerm = yield* awaitGone(target, grace)
      if (noneLeft(afterTerm)) continue
      yield* signalSurvivors(target, afterTerm, "SIGKILL")
      yield* awaitGone(target, killSettle)
    }
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
    const target = procTarget(leaf)
    const found = yield* settledSurvivorsOf(target)
    if (noneLeft(found)) return 0
    yield* sweep(leaf, grace)
    return survivorCount(target, found)
  })
