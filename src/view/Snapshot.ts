/**
 * The daemon-independent part of a `troupe top` snapshot, shared by `troupe top` (over the
 * daemon client) and Pi's `/troupe` inspector (over the session's `Actors`): every run
 * (`list`), the rooms and inbox counts of the most relevant runs (`inspect room:<run>
 * roster|previews`, `run:<run> inbox`). Every answer is decoded; a room or inbox question
 * that fails only leaves its section out, a failing `list` fails the snapshot. VMs and CPU/RSS
 * figures come from the caller (they need the daemon or this host's `/proc`).
 */
import { Effect, Option, Schema } from "effect"
import { RoomPreview, RosterMember } from "../domain/Room.js"
import { type ActorsError, isTerminal, type RunInfo } from "../domain/Run.js"
import type { ActorsShape } from "../services/Actors.js"
import type { InboxSummary, RoomSummary } from "./TopModel.js"

/** What a snapshot reads: the `list` and `inspect` of an `Actors` (local, daemon client, Pi session). */
export type SnapshotSource = Pick<ActorsShape, "list" | "inspect">

/** Rooms and inboxes are read for this many runs (live ones first, then the latest ended). */
export const detailedRuns = 8
/** Posts shown per room. */
const postsPerRoom = 3

/** Posts that only change the roster. */
const rosterTypes = new Set(["actor.join", "actor.leave"])

const decodeRoster = Schema.decodeUnknownOption(Schema.Struct({ roster: Schema.Array(RosterMember) }))
const decodePreviews = Schema.decodeUnknownOption(Schema.Struct({ previews: Schema.Array(RoomPreview) }))
const decodeInbox = Schema.decodeUnknownOption(Schema.Struct({ counts: Schema.Struct({ queued: Schema.Int }) }))

/** The runs whose rooms and inboxes a snapshot reads. */
const detailed = (runs: ReadonlyArray<RunInfo>) => {
  const live = runs.filter((r) => !isTerminal(r.state)).sort((a, b) => b.created_at - a.created_at)
  const ended = runs.filter((r) => isTerminal(r.state)).sort((a, b) => (b.ended_at ?? 0) - (a.ended_at ?? 0))
  return [...live, ...ended].slice(0, detailedRuns)
}

/**
 * The room of `run` (`room:<run>`): roster and latest posts (newest last), or none when it
 * failed or only the run itself joined it.
 */
export const roomOf = (actors: SnapshotSource, run: RunInfo, posts = postsPerRoom): Effect.Effect<Option.Option<RoomSummary>> =>
  Effect.all([
    actors.inspect(`room:${run.id}`, "roster"),
    actors.inspect(`room:${run.id}`, "previews", { lines: posts })
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

const inboxOf = (actors: SnapshotSource, run: RunInfo): Effect.Effect<Option.Option<InboxSummary>> =>
  actors.inspect(`run:${run.id}`, "inbox", { lines: 1 }).pipe(
    Effect.map((v) => Option.map(decodeInbox(v.data), (d) => ({ address: `run:${run.id}`, queued: d.counts.queued }))),
    Effect.orElseSucceed(() => Option.none())
  )

/** Runs, rooms and inboxes: the parts of a snapshot every surface reads the same way. */
export interface RunsRoomsInboxes {
  readonly runs: ReadonlyArray<RunInfo>
  readonly rooms: ReadonlyArray<RoomSummary>
  readonly inboxes: ReadonlyArray<InboxSummary>
}

/**
 * Reads every run, then the rooms and inboxes of the {@link detailedRuns} most relevant ones.
 * @fails ActorsError when the run list cannot be read.
 */
export const readRunsRoomsInboxes = (actors: SnapshotSource): Effect.Effect<RunsRoomsInboxes, ActorsError> =>
  Effect.gen(function* () {
    const runs = yield* actors.list({ status: "all" })
    const picked = detailed(runs)
    const [rooms, inboxes] = yield* Effect.all([
      Effect.forEach(picked, (r) => roomOf(actors, r), { concurrency: 4 }),
      Effect.forEach(picked, (r) => inboxOf(actors, r), { concurrency: 4 })
    ], { concurrency: 2 })
    return { runs, rooms: rooms.flatMap(Option.toArray), inboxes: inboxes.flatMap(Option.toArray) }
  })
