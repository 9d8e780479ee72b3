/**
 * One `troupe top` snapshot over the daemon client: every run (`List`), the rooms and inbox
 * counts of the most relevant runs (`Inspect room:<run> roster|previews`, `run:<run> inbox`),
 * the VMs when Vers is configured (`VmList`, bounded by a timeout) and the CPU/RSS of local
 * process groups (`ProcStats`). Every answer is decoded; a room, inbox or VM question that
 * fails only leaves its section out, a failing `List` fails the snapshot.
 */
import { Clock, Effect } from "effect"
import type * as Client from "../../daemon/Client.js"
import type { ActorsError } from "../../domain/Run.js"
import { readRunsRoomsInboxes } from "../../view/Snapshot.js"
import { teamOf } from "../../view/Team.js"
import type { Snapshot, VmSummary } from "../../view/TopModel.js"
import { type GroupSample, sampleGroups, usageOf } from "./ProcStats.js"

type Remote = Effect.Effect.Success<ReturnType<typeof Client.makeRemote>>

/** How long the VM list may take before the snapshot goes without it: 2 s. */
const vmListTimeout = "2 seconds"

const vmsOf = (remote: Remote): Effect.Effect<ReadonlyArray<VmSummary>> =>
  remote.vms.list({ owned: false }).pipe(
    Effect.timeout(vmListTimeout),
    Effect.map((vms) => vms.map((v) => ({ id: v.vm_id, state: v.state, owner: v.ledger === null ? "" : v.ledger.run ?? v.ledger.session }))),
    Effect.orElseSucceed(() => [])
  )

/** What a snapshot keeps for the next one: the last process-group sample and when it was taken (ms). */
export interface Sampler {
  readonly previous: GroupSample | undefined
  readonly at: number
}

export interface SnapshotOptions {
  readonly scope: string
  /** Ask the daemon for VMs (only when Vers is configured: `VERS_API_KEY` set). */
  readonly vms: boolean
}

/**
 * Takes one snapshot; returns it with the sampler for the next (CPU percent needs two samples).
 * @fails ActorsError when the run list cannot be read (daemon gone: `unavailable`).
 */
export const takeSnapshot = (remote: Remote, sampler: Sampler, options: SnapshotOptions): Effect.Effect<readonly [Snapshot, Sampler], ActorsError> =>
  Effect.gen(function* () {
    const [{ inboxes, rooms, runs }, vms, groups] = yield* Effect.all([
      readRunsRoomsInboxes(remote.actors),
      options.vms ? vmsOf(remote) : Effect.succeed([]),
      sampleGroups
    ], { concurrency: "unbounded" })
    const at = yield* Clock.currentTimeMillis
    const usage = usageOf(runs, sampler.previous, groups, at - sampler.at)
    const snapshot: Snapshot = {
      at,
      runs,
      usage,
      rooms,
      inboxes,
      vms,
      scope: options.scope,
      // From the runs alone: a running worker or lieutenant shows as idle (no agent status read).
      team: teamOf(runs)
    }
    return [snapshot, { previous: groups, at }] as const
  })
