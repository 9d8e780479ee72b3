/**
 * One `troupe top` snapshot over the daemon client: every run (`List`), the rooms and inbox
 * counts of the most relevant runs (`Inspect room:<run> roster|previews`, `run:<run> inbox`),
 * the VMs when Vers is configured (`VmList`, bounded by a timeout) and the CPU/RSS of local
 * process groups (`ProcStats`). Every answer is decoded; a room, inbox or VM question that
 * fails only leaves its section out, a failing `List` fails the snapshot.
 */
import { Clock, Effect, Option, Schema } from "effect"
import type * as Client from "../../daemon/Client.js"
import { RoomPreview, RosterMember } from "../../domain/Room.js"
import { type ActorsError, isTerminal, type RunInfo } from "../../domain/Run.js"
import type { InboxSummary, RoomSummary, Snapshot, VmSummary } from "./Model.js"
import { type GroupSample, sampleGroups, usageOf } from "./ProcStats.js"

type Remote = Effect.Effect.Success<ReturnType<typeof Client.makeRemote>>

/** Rooms and inboxes are read for this many runs (live ones first, then the latest ended). */
export const detailedRuns = 8
/** Posts shown per room. */
const postsPerRoom = 3
/** How long the VM list may take before the snapshot goes without it: 2 s. */
const vmListTimeout = "2 seconds"

/** Posts that only change the roster. */
const rosterTypes = new Set(["actor.join", "actor.leave"])

const RosterData = Schema.Struct({ roster: Schema.Array(RosterMember) })
const PreviewData = Schema.Struct({ previews: Schema.Array(RoomPreview) })
const InboxData = Schema.Struct({ counts: Schema.Struct({ queued: Schema.Int }) })

const decodeOption = <A, I>(schema: Schema.Schema<A, I>) => {
  const decode = Schema.decodeUnknownOption(schema)
  return (u: unknown) => decode(u)
}
const decodeRoster = decodeOption(RosterData)
const decodePreviews = decodeOption(PreviewData)
const decodeInbox = decodeOption(InboxData)

/** The runs whose rooms and inboxes a snapshot reads. */
const detailed = (runs: ReadonlyArray<RunInfo>) => {
  const live = runs.filter((r) => !isTerminal(r.state)).sort((a, b) => b.created_at - a.created_at)
  const ended = runs.filter((r) => isTerminal(r.state)).sort((a, b) => (b.ended_at ?? 0) - (a.ended_at ?? 0))
  return [...live, ...ended].slice(0, detailedRuns)
}

const roomOf = (remote: Remote, run: RunInfo): Effect.Effect<Option.Option<RoomSummary>> =>
  Effect.all([
    remote.actors.inspect(`room:${run.id}`, "roster"),
    remote.actors.inspect(`room:${run.id}`, "previews", { lines: postsPerRoom })
  ], { concurrency: 2 }).pipe(
    Effect.map(([roster, previews]) => {
      const members = Option.match(decodeRoster(roster.data), { onNone: () => [], onSome: (d) => d.roster.map((m) => ({ address: m.address, status: m.status })) })
      const latest = Option.match(decodePreviews(previews.data), {
        onNone: () => [],
        onSome: (d) => d.previews.map((p) => ({ from: p.from, type: p.type, summary: (p.summary ?? p.body_preview ?? "").replace(/\s+/g, " ") }))
      })
      // Every run joins its default room: a room where only that happened is left out.
      const quiet = members.length <= 1 && latest.every((p) => rosterTypes.has(p.type))
      return quiet ? Option.none() : Option.some({ room: `room:${run.id}`, members, latest })
    }),
    Effect.orElseSucceed(() => Option.none())
  )

const inboxOf = (remote: Remote, run: RunInfo): Effect.Effect<Option.Option<InboxSummary>> =>
  remote.actors.inspect(`run:${run.id}`, "inbox", { lines: 1 }).pipe(
    Effect.map((v) => Option.map(decodeInbox(v.data), (d) => ({ address: `run:${run.id}`, queued: d.counts.queued }))),
    Effect.orElseSucceed(() => Option.none())
  )

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
    const runs = yield* remote.actors.list({ status: "all" })
    const picked = detailed(runs)
    const [rooms, inboxes, vms, groups] = yield* Effect.all([
      Effect.forEach(picked, (r) => roomOf(remote, r), { concurrency: 4 }),
      Effect.forEach(picked, (r) => inboxOf(remote, r), { concurrency: 4 }),
      options.vms ? vmsOf(remote) : Effect.succeed([]),
      sampleGroups
    ], { concurrency: "unbounded" })
    const at = yield* Clock.currentTimeMillis
    const usage = usageOf(runs, sampler.previous, groups, at - sampler.at)
    const snapshot: Snapshot = {
      at,
      runs,
      usage,
      rooms: rooms.flatMap(Option.toArray),
      inboxes: inboxes.flatMap(Option.toArray),
      vms,
      scope: options.scope
    }
    return [snapshot, { previous: groups, at }] as const
  })
