/**
 * The Pi session's visible surfaces besides the ▷/▶ status: the `/troupe` inspector overlay
 * (`./Inspector.ts`) and the compact widget (`./Widget.ts`). The adapter feeds both from what
 * it already follows — the session's event stream (direct messages, run ends, and a redraw of
 * an open overlay) and its status tick (the active runs; room posts and agent states of swarm
 * workers and lieutenants are read there, since they are not session events) — so neither
 * adds a timer of its own.
 */
import { Clock, Effect, Option, Schema, Stream } from "effect"
import { type ActorsError, isTerminal, type RunInfo, type SessionEvent } from "../domain/Run.js"
import { RoomPreview } from "../domain/Room.js"
import { AgentRunStatus } from "../domain/Swarm.js"
import { Actors } from "../services/Actors.js"
import { readRunsRoomsInboxes } from "../view/Snapshot.js"
import { isTeamRun, teamOf, type TeamMember, type TeamStatus } from "../view/Team.js"
import type { Snapshot, VmSummary } from "../view/TopModel.js"
import { type Connection, type SessionServices, VmsRemote } from "./Connection.js"
import { type Inspector, type InspectorIo, makeInspector } from "./Inspector.js"
import type { PiContext } from "./PiHost.js"
import { emptyWidget, messageOf, widgetKey, widgetLines, type WidgetPost, type WidgetState, withMessage, withPosts, withTeam } from "./Widget.js"

/** Rooms the widget reads per tick: those of the newest 3 active runs. */
const widgetRooms = 3
/** Swarm workers and lieutenants whose agent state a tick reads: 8. */
const teamRead = 8
/** Ended workers and lieutenants the widget keeps showing: 8. */
const endedKept = 8
/** An open overlay reads a new snapshot every this many status ticks (and on every session event). */
const overlayTicks = 2
/** How long the overlay's VM list may take: 2 s. */
const vmListTimeout = "2 seconds"
/** Log lines the overlay's logs panel shows. */
const logTail = 200

const rosterTypes = new Set(["actor.join", "actor.leave"])
const decodePreviews = Schema.decodeUnknownOption(Schema.Struct({ previews: Schema.Array(RoomPreview) }))
const decodeAgent = Schema.decodeUnknownOption(AgentRunStatus)

export interface Surfaces {
  /** One session event (called by the adapter's event follower). */
  readonly onEvent: (e: SessionEvent) => void
  /** The status tick with this session's active runs: refreshes the widget and an open overlay. */
  readonly tick: (runs: ReadonlyArray<RunInfo>) => Effect.Effect<void, never, Actors>
  /**
   * Opens the inspector overlay and resolves when it closes; false at once when `ctx` cannot
   * show one (no `custom`: print, JSON or RPC mode, an old Pi).
   * @throws Error when the first snapshot cannot be read (the daemon is gone).
   */
  readonly open: (ctx: PiContext) => Promise<boolean>
  /** Session shutdown: closes an open overlay and clears the widget. */
  readonly close: () => void
}

const textOf = (e: unknown) => (e instanceof Error ? e.message : String(e))

/** The surfaces of one session over its connection; `ctx()` is the session's current context. */
export const makeSurfaces = (conn: Connection, ctx: () => PiContext): Surfaces => {
  let widget: WidgetState = emptyWidget
  let shown = ""
  let closed = false
  let ticks = 0
  let inspector: Inspector | undefined
  let refreshing = false
  let again = false
  /** Agent states of team runs from the last tick (run id → `idle` / `streaming` / …). */
  let agents = new Map<string, string>()
  /** Team members seen while active: run id → member. */
  const known = new Map<string, TeamMember>()
  /** Team members whose run ended with an event: run id → status from it. */
  const ended = new Map<string, TeamStatus>()

  const show = () => {
    const c = ctx()
    if (closed || c.setWidget === undefined) return
    const lines = widgetLines(widget)
    const key = JSON.stringify(lines ?? null)
    if (key === shown) return
    shown = key
    try {
      c.setWidget(widgetKey, lines)
    } catch {
      // A stale context: nothing to draw on.
    }
  }

  const team = (active: ReadonlyArray<RunInfo>): ReadonlyArray<TeamMember> => {
    const now = teamOf(active, agents)
    for (const m of now) known.set(m.run, m)
    const live = new Set(now.map((m) => m.run))
    // Ended ones stay listed: failed/stopped from their end event; a run the session itself
    // stopped sends none (its tool reported it), so it shows as stopped.
    const gone = [...known.values()].filter((m) => !live.has(m.run))
    for (const m of gone.slice(0, -endedKept)) {
      known.delete(m.run)
      ended.delete(m.run)
    }
    return [...now, ...gone.slice(-endedKept).map((m) => ({ ...m, status: ended.get(m.run) ?? "stopped" }))]
  }

  const snapshot: Effect.Effect<Snapshot, ActorsError, SessionServices> = Effect.gen(function* () {
    const actors = yield* Actors
    const session = actors.session
    const [{ inboxes, rooms, runs }, vms] = yield* Effect.all([readRunsRoomsInboxes(actors), vmsOf], { concurrency: 2 })
    const at = yield* Clock.currentTimeMillis
    return { at, runs, usage: new Map(), rooms, inboxes, vms, scope: `session ${session}`, team: teamOf(runs, agents) }
  })

  const refresh = () => {
    if (inspector === undefined || closed) return
    if (refreshing) {
      again = true
      return
    }
    refreshing = true
    void conn.run(snapshot).then(
      (s) => inspector?.refresh(s),
      () => undefined
    ).finally(() => {
      refreshing = false
      if (again) {
        again = false
        refresh()
      }
    })
  }

  const io: InspectorIo = {
    inspect: (run, view) => conn.run(Effect.flatMap(Actors, (a) => a.inspect(`run:${run}`, view, { lines: 40 }))).then((v) => v.text, textOf),
    kill: (run) =>
      conn.run(Effect.flatMap(Actors, (a) => a.kill(run))).then(
        (r) => {
          refresh()
          return `run:${run} ${r.state}`
        },
        (e) => `kill run:${run} failed: ${textOf(e)}`
      ),
    logs: (run) =>
      conn.run(
        Effect.flatMap(Actors, (a) =>
          a.logs(run, { follow: false }).pipe(
            Stream.decodeText(),
            Stream.runFold("", (acc, s) => (acc + s).slice(-64 * 1024))
          ))
      ).then((text) => text.split("\n").slice(-logTail).join("\n"), textOf)
  }

  return {
    onEvent: (e) => {
      if (closed) return
      const message = messageOf(e)
      if (message !== undefined) widget = withMessage(widget, message)
      if (known.has(e.run_id) && e.type.startsWith("run.") && ["failed", "lost", "done", "killed", "cancelled"].includes(e.type.slice(4))) {
        ended.set(e.run_id, e.type === "run.failed" || e.type === "run.lost" ? "failed" : "stopped")
        while (ended.size > endedKept) ended.delete(ended.keys().next().value!)
      }
      show()
      refresh()
    },
    tick: (runs) =>
      Effect.gen(function* () {
        // Nothing to draw on (print or JSON mode, no overlay open): nothing to read.
        if (closed || (inspector === undefined && ctx().setWidget === undefined)) return
        const actors = yield* Actors
        const active = runs.filter((r) => !isTerminal(r.state))
        const newest = [...active].filter((r) => !isTeamRun(r)).sort((a, b) => b.created_at - a.created_at).slice(0, widgetRooms)
        const [posts, states] = yield* Effect.all([
          Effect.forEach(newest, (r) => postsOf(actors.inspect(`room:${r.id}`, "previews", { lines: 2 }), `room:${r.id}`), { concurrency: 3 }),
          Effect.forEach(active.filter(isTeamRun).slice(0, teamRead), (r) =>
            actors.inspect(`run:${r.id}`, "status").pipe(
              Effect.map((v) => Option.flatMap(decodeAgent(v.data), (s) => Option.fromNullable(s.agent)).pipe(Option.map((a) => [r.id, a.state] as const))),
              Effect.orElseSucceed(() => Option.none())
            ), { concurrency: 4 })
        ], { concurrency: 2 })
        agents = new Map(states.flatMap(Option.toArray))
        widget = withTeam(withPosts(widget, posts.flat()), team(active))
        show()
        if (inspector !== undefined && ++ticks % overlayTicks === 0) refresh()
      }),
    open: async (c) => {
      if (c.custom === undefined) return false
      const first = await conn.run(snapshot)
      try {
        await c.custom((kit) => {
          inspector = makeInspector(first, io, kit)
          return inspector
        })
      } finally {
        inspector = undefined
      }
      return true
    },
    close: () => {
      if (closed) return
      closed = true
      inspector?.handleInput?.("\x03")
      inspector = undefined
      if (shown !== "" && shown !== "null") {
        try {
          ctx().setWidget?.(widgetKey, undefined)
        } catch {
          // A stale context.
        }
      }
    }
  }
}

/** The newest posts of one room that say something (joins and leaves left out). */
const postsOf = (read: Effect.Effect<{ readonly data: unknown }, ActorsError>, room: string): Effect.Effect<ReadonlyArray<WidgetPost>> =>
  read.pipe(
    Effect.map((v) =>
      Option.match(decodePreviews(v.data), {
        onNone: () => [],
        onSome: (d) =>
          d.previews
            .filter((p) => !rosterTypes.has(p.type))
            .map((p) => ({ room, from: p.from, type: p.type, summary: (p.summary ?? p.body_preview ?? "").replace(/\s+/g, " ").trim(), at: Date.parse(p.timestamp) || 0 }))
      })
    ),
    Effect.orElseSucceed(() => [])
  )

/** The session's VMs for the overlay (none when the daemon has no Vers account or is slow). */
const vmsOf: Effect.Effect<ReadonlyArray<VmSummary>, never, VmsRemote> = Effect.flatMap(VmsRemote, (vms) => vms.list({ owned: true })).pipe(
  Effect.timeout(vmListTimeout),
  Effect.map((list) => list.map((v) => ({ id: v.vm_id, state: v.state, owner: v.ledger === null ? "" : v.ledger.run ?? v.ledger.session }))),
  Effect.orElseSucceed(() => [])
)
