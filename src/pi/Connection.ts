/**
 * The Pi session's connection to troupe: a runtime that provides `Actors` (the daemon client
 * bound to the Pi session id, by default) plus the file-only recipe services (`Recipes`,
 * `Registry`), and the adapter's per-session bookkeeping. Tools run their effects through
 * {@link Connection.run}; failures come back as one-line `Error`s, which Pi shows the model as a
 * failed tool result.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Cause, Context, Effect, Exit, Fiber, Layer, ManagedRuntime, Option, Schedule } from "effect"
import type { RuntimeFiber } from "effect/Fiber"
import * as Client from "../daemon/Client.js"
import { ActorsError } from "../domain/Run.js"
import * as Config from "../layers/Config.js"
import { Actors } from "../services/Actors.js"
import { Recipes } from "../services/Recipes.js"
import { Registry } from "../services/Registry.js"
import type { Ssh } from "../services/Ssh.js"

/** What the local (file-only) runtime provides. */
export type LocalServices = Recipes | Registry | Config.TroupeConfig
/** The session's VM client (the daemon's `Vm*` RPCs, acting as the Pi session). */
export class VmsRemote extends Context.Tag("troupe/VmsRemote")<VmsRemote, Client.VmsClient>() {}

/** What the session runtime provides: the local services plus the session-bound `Actors` and VM client. */
export type SessionServices = Actors | VmsRemote | LocalServices

const noVms = (): ActorsError => new ActorsError({ reason: "unavailable", message: "VM tools need the troupe daemon; this session runs troupe in-process" })

/** A VM client for sessions without a daemon (an injected in-process `Actors`): every call fails `unavailable`. */
const unavailableVms = Layer.succeed(VmsRemote, {
  list: () => Effect.fail(noVms()),
  create: () => Effect.fail(noVms()),
  delete: () => Effect.fail(noVms()),
  commit: () => Effect.fail(noVms()),
  setState: () => Effect.fail(noVms()),
  status: () => Effect.fail(noVms())
})

/** Options of the adapter (tests swap the daemon for an in-process runtime). */
export interface AdapterOptions {
  /**
   * The `Actors` of a Pi session (default: the daemon client acting as `session`, started on
   * `TROUPE_NODE` when no daemon answers — `Troupe.client`).
   */
  readonly actors?: ((session: string) => Layer.Layer<Actors, ActorsError>) | undefined
  /** The VM client of a Pi session (default: the daemon's, with `actors`' connection; with an injected `actors`, one that fails `unavailable`). */
  readonly vms?: ((session: string) => Layer.Layer<VmsRemote, ActorsError>) | undefined
  /** Configuration overrides (default: the environment's `TROUPE_*`). */
  readonly config?: Partial<Config.TroupeConfigShape> | undefined
  /** `Ssh` for the active-VM tools (`vers_vm_use`, …; default: from `VERS_*` / `~/.vers`, host keys under `TROUPE_HOME`). */
  readonly ssh?: Layer.Layer<Ssh> | undefined
  /** How often the status indicator refreshes, ms (default 1,000). */
  readonly statusIntervalMs?: number | undefined
  /**
   * How long follow-ups wait for more events before going out while the agent is idle, ms
   * (default 250): runs ending close together become one follow-up (`./FollowUpBatch.ts`).
   */
  readonly followUpWindowMs?: number | undefined
  /** Events one batched follow-up lists in full (default 20). */
  readonly followUpBatchLimit?: number | undefined
}

/** Turns a failure into the one line a failed tool result shows. */
export const oneLine = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  const text = Option.isSome(failure)
    ? messageOf(failure.value)
    : Cause.isInterruptedOnly(cause)
      ? "cancelled"
      : `internal error: ${messageOf(Cause.squash(cause))}`
  return text.replace(/\s*\n\s*/g, " ").trim()
}

const messageOf = (e: unknown): string =>
  typeof e === "object" && e !== null && "message" in e && typeof e.message === "string" ? e.message : String(e)

/** A connected Pi session. */
export interface Connection {
  /** The Pi session id (owner of this session's runs). */
  readonly session: string
  /** Runs an effect against the session runtime; rejects with a one-line `Error`. */
  readonly run: <A, E>(effect: Effect.Effect<A, E, SessionServices>, signal?: AbortSignal | undefined) => Promise<A>
  /** Runs an effect that needs only the recipe services (no daemon). */
  readonly runLocal: <A, E>(effect: Effect.Effect<A, E, LocalServices>, signal?: AbortSignal | undefined) => Promise<A>
  /** Starts a background effect on the session runtime (the event follower, the status ticker). */
  readonly fork: <A, E>(effect: Effect.Effect<A, E, SessionServices>) => RuntimeFiber<A, E | ActorsError>
  /**
   * Starts a background effect that follows the daemon (the event stream, the status ticker):
   * it runs over its own daemon connection, and when it fails (`onError` is told) it is run
   * again a second later over a new connection — so a restarted daemon (started again on
   * demand) is followed again. With an injected `actors` it runs on the session runtime.
   */
  readonly forkFollower: <A, E>(body: Effect.Effect<A, E, Actors>, onError: (e: E | ActorsError) => Effect.Effect<void>) => RuntimeFiber<A, E | ActorsError>
  /** Starts a background effect on the local runtime (the recipe watcher). */
  readonly forkLocal: <A, E>(effect: Effect.Effect<A, E, LocalServices>) => RuntimeFiber<A, E>
  /** Interrupts a forked fiber and waits for it to end. */
  readonly interrupt: (fiber: RuntimeFiber<unknown, unknown>) => Promise<void>
  /** Runs whose result a tool reports synchronously: their terminal follow-up is skipped. */
  readonly foreground: Set<string>
  /** Releases both runtimes (closes the daemon connection). Idempotent. */
  readonly dispose: () => Promise<void>
}

/** How soon a failed follower runs again (over a new connection): every second. */
const followerRetry = Schedule.spaced("1 second")

/** Whether a failure says the daemon connection is gone (`unavailable`), not that the request was refused. */
const lostDaemon = (cause: Cause.Cause<unknown>): boolean => {
  const failure = Cause.failureOption(cause)
  return Option.isSome(failure) && failure.value instanceof ActorsError && failure.value.reason === "unavailable"
}

const settle = async <A>(exit: Promise<Exit.Exit<A, unknown>>): Promise<A> => {
  const result = await exit
  if (Exit.isSuccess(result)) return result.value
  throw new Error(oneLine(result.cause))
}

/**
 * Builds the runtimes of `session`. Nothing connects until the first `run`; a failed connect
 * is retried by the next `run` (the `Actors` layer is rebuilt).
 */
export const makeConnection = (session: string, options: AdapterOptions): Connection => {
  // One declaration of the configuration: the session runtime shares it (the same layer is
  // built once per runtime) between the recipe services and the daemon client.
  const local = Layer.mergeAll(Recipes.Default, Registry.Default).pipe(
    Layer.provideMerge(Config.layer(options.config ?? {})),
    Layer.provideMerge(NodeContext.layer)
  )
  const localRuntime = ManagedRuntime.make(local)
  // A follower's own daemon connection, built anew each time its effect runs.
  const ownActors = Layer.scoped(Actors, Effect.map(Client.makeRemote({ session }), (r) => r.actors))
  // One daemon connection serves both `Actors` and the VM client.
  const actorsLayer = options.actors === undefined
    ? Layer.scopedContext(Effect.map(Client.makeRemote({ session }), (r) => Context.make(Actors, r.actors).pipe(Context.add(VmsRemote, r.vms)))).pipe(
      Layer.provide(local)
    )
    : Layer.merge(options.actors(session), options.vms?.(session) ?? unavailableVms)
  type Remote = ManagedRuntime.ManagedRuntime<SessionServices, ActorsError>
  let remote: Remote | undefined
  let disposed = false
  // Calls running on each runtime: a retired runtime is disposed once its last call ended, so
  // one call's lost connection never interrupts another call still running on it.
  const inFlight = new Map<Remote, number>()
  const retired = new Set<Remote>()
  const disposeWhenIdle = (rt: Remote) => {
    if ((inFlight.get(rt) ?? 0) > 0) return Promise.resolve()
    retired.delete(rt)
    return rt.dispose().catch(() => undefined)
  }
  const remoteRuntime = () => {
    if (remote === undefined) remote = ManagedRuntime.make(Layer.merge(actorsLayer, local))
    return remote
  }
  const run = async <A, E>(effect: Effect.Effect<A, E, SessionServices>, signal?: AbortSignal) => {
    if (disposed) throw new Error("troupe: this Pi session has shut down")
    const rt = remoteRuntime()
    inFlight.set(rt, (inFlight.get(rt) ?? 0) + 1)
    const exit = await rt.runPromiseExit(effect, { signal })
    const left = (inFlight.get(rt) ?? 1) - 1
    if (left === 0) inFlight.delete(rt)
    else inFlight.set(rt, left)
    // A runtime whose layer failed (daemon unavailable) stays failed, and one whose daemon went
    // away (stopped, restarted) stays disconnected: build a new one next time.
    if (Exit.isFailure(exit) && remote === rt) {
      const layerFailed = await rt.runtime().then(() => false, () => true)
      if (layerFailed || (options.actors === undefined && lostDaemon(exit.cause))) {
        remote = undefined
        retired.add(rt)
      }
    }
    if (retired.has(rt)) await disposeWhenIdle(rt)
    return settle(Promise.resolve(exit))
  }
  return {
    session,
    run,
    runLocal: (effect, signal) => {
      if (disposed) return Promise.reject(new Error("troupe: this Pi session has shut down"))
      return settle(localRuntime.runPromiseExit(effect, { signal }))
    },
    fork: (effect) => remoteRuntime().runFork(effect),
    forkFollower: <A, E>(body: Effect.Effect<A, E, Actors>, onError: (e: E | ActorsError) => Effect.Effect<void>) => {
      const again = <R>(e: Effect.Effect<A, E | ActorsError, R>) => e.pipe(Effect.tapError(onError), Effect.retry(followerRetry))
      return options.actors === undefined
        ? localRuntime.runFork(again(Effect.provide(body, ownActors)))
        : remoteRuntime().runFork(again(body))
    },
    forkLocal: (effect) => localRuntime.runFork(effect),
    interrupt: (fiber) => Effect.runPromise(Effect.asVoid(Fiber.interrupt(fiber))),
    foreground: new Set(),
    dispose: async () => {
      if (disposed) return
      disposed = true
      const rt = remote
      remote = undefined
      await Promise.allSettled([rt?.dispose(), ...[...retired].map((r) => r.dispose()), localRuntime.dispose()])
    }
  }
}
