/**
 * Reading `/proc` (Linux) for LocalHost. The plain reading (a process's stat, its environment's
 * `TROUPE_LEAF_ID` marker, one scan of every live process, which processes of a leaf survive)
 * is the exec broker's `src/broker/ProcScan.ts`, dependency-free so the broker can bundle it;
 * this module re-exports it and adds what is Effect-specific: one shared scan that all fibers
 * asking at the same moment reuse. Without `/proc`, identity start times are 0, the marker
 * sweep finds nothing and the group check trusts kill(2) alone.
 */
import { Effect } from "effect"
import { type ProcSnapshot, scanProc } from "../../broker/ProcScan.js"

export {
  errorCode,
  noneLeft,
  noneLeftSettled,
  readStat,
  sendSignal,
  signalSurvivors,
  survivorCount,
  survivorsIn,
  type Survivors,
  type SweepTarget as ProcSweepTarget
} from "../../broker/ProcScan.js"

/** Environment variable set on every local leaf to a unique id, inherited by all its descendants. */
export { markerVariable as leafMarkerVariable } from "../../broker/FrameCodec.js"

/**
 * Scans are shared: a fiber asking for a snapshot yields once, and every fiber that asked
 * before the next scan gets that scan. So killing 1,000 leaves at once costs one /proc pass per
 * poll round, not one per leaf (the cost was quadratic in the number of processes before).
 * Every snapshot returned was taken after the request was made.
 */
let lastScan: { readonly seq: number; readonly snapshot: ProcSnapshot } = { seq: 0, snapshot: { stats: new Map(), byMarker: new Map(), blank: [] } }

export const freshSnapshot = Effect.suspend(() => {
  const wanted = lastScan.seq + 1
  return Effect.zipRight(
    Effect.yieldNow(),
    Effect.sync(() => {
      if (lastScan.seq < wanted) lastScan = { seq: lastScan.seq + 1, snapshot: scanProc() }
      return lastScan.snapshot
    })
  )
})

export const errorMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error))
