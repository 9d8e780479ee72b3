/**
 * The Pi adapter over a {@link PiHost}: troupe as a drop-in replacement for the pi-actors
 * extension (SPEC-adapters §3).
 *
 * - `install` only registers (tools, commands, handlers); nothing connects, forks or ticks.
 * - `session_start`: connect as the Pi session (`sessionManager.getSessionId()`), register one
 *   tool per user-root recipe (and again whenever the user root changes), follow the session's
 *   event stream, show the status indicator.
 * - Follow-ups: terminal transitions of this session's runs and coordinator/session messages
 *   arrive as `sendMessage({customType: "troupe-run", …}, {deliverAs: "followUp",
 *   triggerTurn: true})`, deduplicated by event id, never after shutdown; runs a foreground
 *   tool waited for are reported by that tool only. Failed steps (`command.done`) are
 *   notifications, not turns. Events are batched (`./FollowUpBatch.ts`, pi-actors 0.52): while
 *   the agent is busy (`agent_start` … `agent_end`) they are collected, then sent as one
 *   follow-up once it is idle and no event came for `followUpWindowMs`; urgent messages
 *   (`metadata.attention: "steer"`) go out at once as steering.
 * - `/plan [on|off]`: plan mode (`./PlanMode.ts`).
 * - `/troupe`: the inspector overlay in Pi's TUI, a text summary elsewhere; a widget with room
 *   posts, direct messages and swarm/lieutenant status (`./Surfaces.ts`).
 * - `session_shutdown`: kill this session's active runs (pi-actors semantics; lieutenants are
 *   detached and kept), stop following,
 *   clear the status, close the connection — idempotent, never throws.
 */
import { Effect, Queue, Schedule, Stream } from "effect"
import type { RuntimeFiber } from "effect/Fiber"
import type { CatalogEntry, Recipe } from "../domain/Recipe.js"
import type { ActorsError, RunInfo, SessionEvent } from "../domain/Run.js"
import { Actors } from "../services/Actors.js"
import { Recipes } from "../services/Recipes.js"
import { type AdapterOptions, type Connection, makeConnection } from "./Connection.js"
import { eventMessage, type FollowUpBatch, makeFollowUpBatch } from "./FollowUpBatch.js"
import type { PiContext, PiHost } from "./PiHost.js"
import { makePlanMode, planStatusKey } from "./PlanMode.js"
import { recipeTool, toolNameOf, toolNameProblem } from "./RecipeTools.js"
import { coreTools } from "./Tools.js"
import { makeVmActive } from "./VmActive.js"
import { vmTools } from "./VmTools.js"
import { lieutenantTools, swarmTools } from "./SwarmTools.js"
import { lieutenantKey } from "../domain/Swarm.js"
import { makeSurfaces, type Surfaces } from "./Surfaces.js"

export type { AdapterOptions } from "./Connection.js"

export { followUpText, followUpType } from "./FollowUpBatch.js"
/** The status key (`ctx.ui.setStatus`). */
export const statusKey = "troupe"
/** How long `session_shutdown` waits for the session's runs to die: 15 s. */
export const shutdownKillMs = 15_000

/**
 * The status text: one `▷` per active run or branch, the `frame`-th one shown as `▶`, then
 * ` · N to report` while `pending` events wait for the agent to be idle.
 */
export const statusText = (runs: ReadonlyArray<RunInfo>, frame: number, pending = 0): string | undefined => {
  const slots = runs.reduce((n, r) => n + Math.max(1, r.progress.active), 0)
  const report = pending > 0 ? ` · ${pending} to report` : ""
  if (slots === 0) return report === "" ? undefined : `troupe${report}`
  const at = frame % slots
  return `troupe ${Array.from({ length: slots }, (_, i) => (i === at ? "▶" : "▷")).join("")}${report}`
}

/** What {@link followUp} needs from the session. */
export interface FollowUpState {
  /** Event ids already handled (dedupe: delivery is at least once). */
  readonly seen: Set<number>
  /** True after `session_shutdown`: nothing is sent any more. */
  readonly closed: boolean
  /** Runs a foreground tool reports itself. */
  readonly foreground: ReadonlySet<string>
  readonly send: PiHost["sendFollowUp"]
  readonly notify: (text: string, level: "info" | "warning") => void
}

/**
 * Turns one session event into what Pi shows: a follow-up message that triggers a turn for
 * terminal transitions (`run.done`, `run.failed`, `run.killed`, `run.lost`, …) and
 * coordinator/session messages; a notification for `command.done` (a failed or parallel step).
 * Skips an event id seen before, any event after shutdown, and terminal events of runs a
 * foreground tool waited for. This is the unbatched, one-event form; the adapter itself
 * batches (`./FollowUpBatch.ts`), and sends a lone event exactly like this.
 */
export const followUp = (e: SessionEvent, state: FollowUpState): void => {
  if (state.closed || state.seen.has(e.id)) return
  state.seen.add(e.id)
  if (e.type === "command.done") {
    state.notify(e.text, e.data.status === "failed" || e.data.status === "timeout" ? "warning" : "info")
    return
  }
  if (e.type.startsWith("run.") && state.foreground.has(e.run_id)) return
  state.send(eventMessage(e))
}

interface Session {
  readonly conn: Connection
  ctx: PiContext
  closed: boolean
  readonly fibers: Array<RuntimeFiber<unknown, unknown>>
  /** Event ids already turned into a follow-up or notification. */
  readonly seen: Set<number>
  /** Recipe tools this adapter registered: tool name → recipe fingerprint. */
  readonly recipeTools: Map<string, string>
  /** Events waiting for the agent to be idle. */
  readonly batch: FollowUpBatch
  /** Wakes the flusher: an event was taken or the agent went idle. */
  readonly kick: Queue.Queue<void>
  /** Tool names deactivated because their recipe went away. */
  readonly removed: Set<string>
  /** Recipe names already warned about (conflicts, bad names). */
  readonly warned: Set<string>
  /** The `/troupe` overlay and the widget (`./Surfaces.ts`). */
  readonly surfaces: Surfaces
  frame: number
}

const safe = (f: () => void) => {
  try {
    f()
  } catch {
    // A stale context after shutdown: nothing to tell.
  }
}

/**
 * Registers troupe's tools, commands and session handlers on `host`.
 * Corresponds to pi-actors' extension factory (and pi-vers' background-process extension).
 */
export const install = (host: PiHost, options: AdapterOptions = {}): void => {
  let current: Session | undefined
  let starting: Promise<Session> | undefined
  const statusEvery = options.statusIntervalMs ?? 1000
  const followUpWindow = options.followUpWindowMs ?? 250
  // Pi's agent_start … agent_end: follow-ups wait while the agent works (hosts without these events: always idle).
  let busy = false

  const coreNames = new Set<string>()
  /** Every recipe tool name this adapter registered (plan mode treats them as write-capable). */
  const recipeNames = new Set<string>()

  const start = (ctx: PiContext): Promise<Session> => {
    if (current !== undefined && !current.closed) {
      current.ctx = ctx
      return Promise.resolve(current)
    }
    if (starting !== undefined) return starting
    const conn = makeConnection(ctx.sessionId(), options)
    const seen = new Set<number>()
    const session: Session = {
      conn,
      ctx,
      closed: false,
      fibers: [],
      seen,
      batch: makeFollowUpBatch({
        seen,
        closed: () => session.closed,
        foreground: conn.foreground,
        // A send that throws (a Pi going away) must not end the flusher or the event follower.
        send: (m) => safe(() => host.sendFollowUp(m)),
        steer: (m) => safe(() => (host.sendSteer ?? host.sendFollowUp)(m)),
        notify: (text, level) => safe(() => session.ctx.notify(text, level)),
        limit: options.followUpBatchLimit
      }),
      kick: Effect.runSync(Queue.unbounded<void>()),
      recipeTools: new Map(),
      removed: new Set(),
      warned: new Set(),
      surfaces: makeSurfaces(conn, () => session.ctx),
      frame: 0
    }
    starting = (async () => {
      try {
        await syncRecipes(session)
        await follow(session)
        current = session
        return session
      } catch (error) {
        await session.conn.dispose()
        throw error
      } finally {
        starting = undefined
      }
    })()
    return starting
  }

  const connect = async (ctx: PiContext): Promise<Connection> => (await start(ctx)).conn

  // --- recipe tools ---------------------------------------------------------------------------

  const applyCatalog = (session: Session, entries: ReadonlyArray<CatalogEntry>, active: ReadonlyMap<string, Recipe>) => {
    if (session.closed) return
    const foreign = new Set(host.getAllTools().filter((n) => !coreNames.has(n) && !session.recipeTools.has(n) && !session.removed.has(n)))
    const wanted = new Map<string, Recipe>()
    for (const entry of entries) {
      if (entry.source !== "user" || entry.status !== "active") continue
      const recipe = active.get(entry.id)
      if (recipe === undefined) continue
      const name = toolNameOf(entry.id)
      const problem = toolNameProblem(name) ??
        (foreign.has(name) ? `a tool named ${name} already exists (another extension)` : undefined) ??
        (wanted.has(name) ? `${name} is already the tool of recipe ${wanted.get(name)!.id}` : undefined)
      if (problem !== undefined) {
        if (!session.warned.has(entry.id)) {
          session.warned.add(entry.id)
          safe(() => session.ctx.notify(`troupe: recipe ${entry.id} is not a tool: ${problem}`, "warning"))
        }
        continue
      }
      wanted.set(name, recipe)
    }
    const added: Array<string> = []
    for (const [name, recipe] of wanted) {
      if (session.recipeTools.get(name) === recipe.fingerprint) continue
      host.registerTool(recipeTool(name, recipe, connect))
      recipeNames.add(name)
      session.recipeTools.set(name, recipe.fingerprint)
      session.removed.delete(name)
      added.push(name)
    }
    const gone = [...session.recipeTools.keys()].filter((n) => !wanted.has(n))
    for (const name of gone) {
      session.recipeTools.delete(name)
      session.removed.add(name)
    }
    plan.activate(added, gone)
  }

  const discover = Effect.flatMap(Recipes, (r) => r.discover())

  const syncRecipes = async (session: Session) => {
    const catalog = await session.conn.runLocal(discover)
    applyCatalog(session, catalog.entries, catalog.active)
  }

  // --- the session's event stream -------------------------------------------------------------

  const deliver = (session: Session, e: SessionEvent) => {
    session.surfaces.onEvent(e)
    session.batch.offer(e)
    if (session.batch.pending() > 0) Queue.unsafeOffer(session.kick, undefined)
  }

  /**
   * Sends the batch once nothing new came for `followUpWindow` and the agent is idle; a busy
   * agent's `agent_end` kicks it again.
   */
  const flusher = (session: Session) =>
    Queue.take(session.kick).pipe(
      Effect.zipRight(Effect.sleep(`${followUpWindow} millis`)),
      Effect.zipRight(Queue.takeAll(session.kick)),
      Effect.flatMap((more) =>
        Effect.sync(() => {
          if (more.length > 0) Queue.unsafeOffer(session.kick, undefined)
          else if (!busy) session.batch.flush()
        })
      ),
      Effect.forever
    )

  const follow = async (session: Session) => {
    const { conn } = session
    // Only what happens from now on: older events were this session's past (or another Pi's).
    const head = await conn.run(
      Effect.flatMap(Actors, (actors) => actors.events({ since: 0 }).pipe(Stream.runFold(0, (max, e) => Math.max(max, e.id))))
    )
    let cursor = head
    const events = Effect.flatMap(Actors, (actors) =>
      Effect.suspend(() => actors.events({ since: cursor, follow: true }).pipe(
        Stream.runForEach((e) =>
          Effect.sync(() => {
            cursor = Math.max(cursor, e.id)
            deliver(session, e)
          })
        )
      ))
    )
    const eventsFailed = (e: ActorsError) => Effect.sync(() => {
      if (session.warned.has("#events") || session.closed) return
      session.warned.add("#events")
      safe(() => session.ctx.notify(`troupe: follow-ups paused, the event stream failed (${e.message}); retrying every second`, "warning"))
    })
    const watch = Effect.flatMap(Recipes, (recipes) =>
      recipes.watch().pipe(Stream.runForEach(() => Effect.promise(() => syncRecipes(session).catch(() => undefined))))
    )
    const status = Effect.flatMap(Actors, (actors) =>
      actors.list({ status: "active" }).pipe(
        Effect.tap((runs) => Effect.sync(() => {
          if (session.closed) return
          const text = statusText(runs, session.frame++, session.batch.pending())
          safe(() => session.ctx.setStatus(statusKey, text))
        })),
        Effect.tap((runs) => session.surfaces.tick(runs)),
        // A lost daemon fails the ticker, which then runs again over a new connection.
        Effect.catchIf((e) => e.reason !== "unavailable", () => Effect.void),
        Effect.repeat(Schedule.spaced(`${statusEvery} millis`))
      )
    )
    session.fibers.push(
      conn.forkLocal(flusher(session)),
      conn.forkFollower(events, eventsFailed),
      conn.forkLocal(watch),
      conn.forkFollower(status, () => Effect.void)
    )
  }

  // --- shutdown -------------------------------------------------------------------------------

  const shutdown = async () => {
    const pending = starting
    const session = current ?? (pending === undefined ? undefined : await pending.catch(() => undefined))
    current = undefined
    if (session === undefined || session.closed) return
    session.closed = true
    const planWasOn = plan.reset()
    const { conn } = session
    await Promise.allSettled(session.fibers.map((f) => conn.interrupt(f)))
    await conn.run(
      Effect.gen(function* () {
        const actors = yield* Actors
        // Lieutenants are detached: they outlive the session (SPEC-adapters §3).
        const runs = (yield* actors.list({ status: "active" })).filter((r) => r.values[lieutenantKey] === undefined)
        yield* Effect.forEach(runs, (r) => Effect.ignore(actors.kill(r.id)), { concurrency: "unbounded", discard: true })
      }).pipe(Effect.timeout(`${shutdownKillMs} millis`))
    ).catch((error: unknown) => safe(() => session.ctx.notify(`troupe: could not stop this session's runs: ${String(error)}`, "error")))
    safe(() => session.ctx.setStatus(statusKey, undefined))
    session.surfaces.close()
    if (planWasOn) safe(() => session.ctx.setStatus(planStatusKey, undefined))
    await Promise.allSettled([conn.dispose(), vmActive.dispose()])
  }

  // --- registration ---------------------------------------------------------------------------

  const refresh = async (conn: Connection) => {
    if (current !== undefined && current.conn === conn) await syncRecipes(current)
  }
  // The active VM (vers_vm_use): Pi's bash/read/write/edit are routed through it from its first use.
  const vmActive = makeVmActive({
    ssh: options.ssh,
    config: options.config,
    routeBuiltins: host.routeBuiltins === undefined ? undefined : () => host.routeBuiltins?.(vmActive.active),
    // Plan mode's tool set depends on where tools run (and the routed built-ins were just registered).
    switched: () => plan.reapply()
  })
  const plan = makePlanMode({ host, isTroupeTool: (n) => coreNames.has(n) || recipeNames.has(n), vmActive: () => vmActive.active() !== undefined })
  for (const tool of [...coreTools(connect, refresh), ...vmTools(connect), ...vmActive.tools, ...swarmTools(connect), ...lieutenantTools(connect)]) {
    coreNames.add(tool.name)
    host.registerTool(tool)
  }

  host.onSessionStart(async (ctx) => {
    try {
      await start(ctx)
    } catch (error) {
      safe(() => ctx.notify(`troupe: ${error instanceof Error ? error.message : String(error)}`, "error"))
    }
  })
  host.onAgentStart?.(() => {
    busy = true
  })
  host.onAgentEnd?.(() => {
    busy = false
    if (current !== undefined && current.batch.pending() > 0) Queue.unsafeOffer(current.kick, undefined)
  })
  host.onToolCall?.(plan.guard)
  host.registerCommand("plan", "troupe: plan mode — read-only exploration with a plan file (/plan [on|off])", (args, ctx) => plan.command(args, ctx))
  host.onSessionShutdown(async () => {
    try {
      await shutdown()
    } catch {
      // Never throws: contexts may be stale and Pi is going away.
    }
  })

  host.registerCommand("troupe", "troupe: the inspector overlay over this session's runs, rooms, VMs and swarms (a text summary without Pi's TUI)", async (_args, ctx) => {
    const session = await start(ctx)
    if (await session.surfaces.open(ctx)) return
    const conn = session.conn
    const text = await conn.run(
      Effect.gen(function* () {
        const actors = yield* Actors
        const runs = yield* actors.list({ status: "all" })
        if (runs.length === 0) return "troupe: no runs in this session"
        const rows = runs.slice(0, 20).map((r) => `${r.state === "running" || r.state === "starting" ? "▶" : "·"} run:${r.id} ${r.state}${r.code === null ? "" : ` code=${r.code}`} recipe=${r.recipe}`)
        const active = runs.filter((r) => r.state === "running" || r.state === "starting").slice(0, 10)
        const rooms = yield* Effect.forEach(active, (r) =>
          actors.inspect(`room:${r.id}`, "status").pipe(
            Effect.map((v) => `room:${r.id}${v.text.replace(/\n/g, " ")}`),
            Effect.orElseSucceed(() => `room:${r.id} (unavailable)`)
          ))
        return [`troupe: ${runs.length} run(s), ${active.length} active`, ...rows, ...(rooms.length === 0 ? [] : ["rooms:", ...rooms])].join("\n")
      })
    )
    ctx.notify(text, "info")
  })
  host.registerCommand("troupe-inspect", "troupe: inspect <target> [view]", async (args, ctx) => {
    const [target, view] = args.trim().split(/\s+/)
    if (target === undefined || target === "") {
      ctx.notify("usage: /troupe-inspect <target> [view]", "warning")
      return
    }
    const conn = await connect(ctx)
    const v = await conn.run(Effect.flatMap(Actors, (actors) => actors.inspect(target, view)))
    ctx.notify(`${v.target} view=${v.view}${v.text}`, "info")
  })
}
