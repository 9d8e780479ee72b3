/**
 * `Actors`: the one API every surface uses to spawn, control, inspect, list, wait for, read
 * the logs of, and follow the events of runs — bound to one session. Two layers provide it:
 * `Actors.local` (the runtime in this process) and the RPC client to the daemon
 * (`Troupe.client`, in `src/daemon/Client.ts`). Both pass the same behavioural suite.
 *
 * Corresponds to pi-actors' `spawn` / `message` (control) / `inspect` tools and pi-vers'
 * `bg_*` tools, as library calls.
 */
import { Context, Effect, Layer, type Option, type Stream } from "effect"
import type { InspectOptions, InspectView } from "../domain/Inspect.js"
import {
  type ActorsError,
  type Caller,
  type ControlResult,
  type ControlType,
  type RunInfo,
  type RunOutcome,
  type SessionEvent,
  type SpawnInput,
  spawnRequestOf,
  type StatusFilter
} from "../domain/Run.js"
import { Inspector } from "./Inspector.js"
import type { InboxRecord } from "./Mailbox.js"
import type { TimelineEntry } from "../domain/Room.js"
import { type MessageResult, Router } from "./Router.js"
import { Supervisor } from "./Supervisor.js"

/** The session-bound actor API. Every method fails with {@link ActorsError} only. */
export interface ActorsShape {
  /** The session this handle acts as (`cli`, a Pi session id, …). */
  readonly session: string
  /**
   * Starts a run; returns once it is recorded and its fiber started (state `starting` or
   * `running`). Fails `invalid` (nothing started) or `duplicate` (id active, nothing touched).
   */
  readonly spawn: (input: SpawnInput) => Effect.Effect<RunInfo, ActorsError>
  /**
   * `control.kill` → `killed`; `control.stop` / `control.cancel` → graceful cancel →
   * `cancelled`. Returns after every process group of the run is gone (SIGTERM, 5 s grace,
   * SIGKILL). `generation` fences the action to one start of the run.
   */
  readonly control: (run: string, type: ControlType, options?: { readonly generation?: string | undefined }) => Effect.Effect<ControlResult, ActorsError>
  /** `control(run, "control.kill")`. */
  readonly kill: (run: string) => Effect.Effect<ControlResult, ActorsError>
  /** Inspect views (`run:<id>` status/tail/files/artifacts/tree/recipe; `coordinator`, `session:<id>`, `session:all` runs). */
  readonly inspect: (target: string, view?: string | undefined, options?: InspectOptions) => Effect.Effect<InspectView, ActorsError>
  /** Runs of this session (or of `session` / every session with `all`), newest first. */
  readonly list: (options?: { readonly status?: StatusFilter | undefined; readonly session?: string | undefined }) => Effect.Effect<ReadonlyArray<RunInfo>, ActorsError>
  /** Waits for the terminal state (after restarts); `timeoutMs` bounds the wait (`timed_out: true`). */
  readonly wait: (run: string, options?: { readonly timeoutMs?: number | undefined }) => Effect.Effect<RunOutcome, ActorsError>
  /** The run's `stdout.log` / `stderr.log` bytes; `follow` keeps reading until the run ends. */
  readonly logs: (run: string, options?: { readonly stream?: "stdout" | "stderr" | undefined; readonly follow?: boolean | undefined }) => Stream.Stream<Uint8Array, ActorsError>
  /** This session's event stream after cursor `since` (default 0); `follow` stays open. */
  readonly events: (options?: { readonly since?: number | undefined; readonly follow?: boolean | undefined }) => Stream.Stream<SessionEvent, ActorsError>
  /**
   * Moves terminal runs to `TROUPE_HOME/archive/<id>-<generation prefix>/` with a `run.json`
   * (record, lifecycle events, recipe snapshot) and removes them from the store; returns the
   * archive directories. Fails `invalid` for an active run.
   */
  readonly archive: (runs: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<string>, ActorsError>
  /** Deletes terminal runs (`runs`, or all that ended more than `olderThanMs` ago); returns their ids. */
  readonly prune: (options: { readonly runs?: ReadonlyArray<string> | undefined; readonly olderThanMs?: number | undefined }) => Effect.Effect<ReadonlyArray<string>, ActorsError>
  /**
   * Sends one envelope (`{to, type, from?, summary?, body?, reply_to?, correlation_id?,
   * metadata?}`, SPEC-messaging §2) through the router; the result reports the delivery
   * outcome. Fails `invalid` (bad envelope, type not accepted), `forbidden` (forged `from`,
   * another session's run), `not_found`. pi-actors: the `message` tool. `idempotencyKey`: a
   * key the caller chose for this message (unique per message of this caller); sending again
   * with the same key — a retry after `unavailable` — stores it once (docs/messaging.md
   * "Retries and idempotency keys").
   */
  readonly message: (envelope: unknown, options?: { readonly idempotencyKey?: string | undefined }) => Effect.Effect<MessageResult, ActorsError>
  /** Inbox of `run:<id>` / `branch:<run>/<label>`: the oldest unhandled message (pull delivery). */
  readonly inboxNext: (address: string, options?: { readonly claim?: boolean | undefined; readonly waitMs?: number | undefined }) => Effect.Effect<Option.Option<InboxRecord>, ActorsError>
  /** The newest `limit` records of an inbox, oldest first. */
  readonly inboxList: (address: string, options?: { readonly limit?: number | undefined }) => Effect.Effect<ReadonlyArray<InboxRecord>, ActorsError>
  /** Marks an inbox message `handled` (no `error`) or `failed` (with `error`); idempotent. */
  readonly inboxSettle: (address: string, id: string, options?: { readonly error?: string | undefined }) => Effect.Effect<InboxRecord, ActorsError>
  /** A room's timeline after `afterSeq`; `follow` keeps streaming live posts. */
  readonly roomTail: (room: string, options?: { readonly afterSeq?: number | undefined; readonly follow?: boolean | undefined }) => Stream.Stream<TimelineEntry, ActorsError>
}

export class Actors extends Context.Tag("troupe/Actors")<Actors, ActorsShape>() {
  /**
   * The in-process runtime bound to `session` (default `cli`); `all` lets this handle act on
   * every session's runs (operator).
   */
  static readonly local = (options: { readonly session?: string | undefined; readonly all?: boolean | undefined } = {}) =>
    Layer.effect(Actors, makeLocal({ session: options.session ?? "cli", all: options.all ?? false }))
}

/** Builds a session-bound handle over the in-process supervisor. */
export const makeLocal = (caller: Caller) =>
  Effect.gen(function* () {
    const supervisor = yield* Supervisor
    const inspector = yield* Inspector
    const router = yield* Router
    const shape: ActorsShape = {
      session: caller.session,
      spawn: (input) =>
        supervisor.spawn(caller, spawnRequestOf(input)),
      control: (run, type, options) => supervisor.control(caller, run, type, options?.generation),
      kill: (run) => supervisor.control(caller, run, "control.kill"),
      inspect: (target, view, options) => inspector.inspect(caller, target, view, options),
      list: (options) => supervisor.list(caller, options?.status ?? "all", options?.session),
      wait: (run, options) => supervisor.wait(caller, run, options?.timeoutMs),
      logs: (run, options) => supervisor.logs(caller, run, options?.stream ?? "stdout", options?.follow ?? false),
      events: (options) => supervisor.sessionEvents(caller, options?.since ?? 0, options?.follow ?? false),
      archive: (runs) => supervisor.archive(caller, runs),
      prune: (options) => supervisor.prune(caller, options.runs, options.olderThanMs ?? 0),
      message: (envelope, o) => router.send(caller, envelope, { idempotencyKey: o?.idempotencyKey }),
      inboxNext: (address, options) => router.inboxNext(caller, address, options),
      inboxList: (address, options) => router.inboxList(caller, address, options?.limit),
      inboxSettle: (address, id, options) => router.inboxSettle(caller, address, id, { error: options?.error }),
      roomTail: (room, options) => router.roomTail(caller, room, options)
    }
    return shape
  })

export type { SpawnInput } from "../domain/Run.js"
