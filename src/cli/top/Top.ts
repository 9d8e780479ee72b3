/**
 * `troupe top`: the live view (Model.ts) over the daemon. A snapshot is taken at start, again
 * whenever the daemon's change feed (RPC `Watch`: run writes and room posts, at most a tick
 * per 250 ms) ticks, and every `--interval` (default {@link defaultInterval}) for the CPU/RSS
 * figures and inbox counts; triggers that come while a snapshot is being taken collapse into
 * one.
 *
 * Output: on a TTY a full-screen view drawn with Pi's TUI library (`@earendil-works/pi-tui`,
 * alternate screen, so the shell's screen comes back on `q`); otherwise a plain table printed
 * again when it changes; `--once` prints one frame and exits 0.
 */
import { Console, Deferred, Duration, Effect, FiberHandle, Queue, Ref, Schedule, type Scope, Stream } from "effect"
import { connect, type Identity } from "../Session.js"
import type { ActorsError } from "../../domain/Run.js"
import { type Action, emptySnapshot, frame, initialState, type Key, type Snapshot, type TopState, update, withInspectText, withLogText, withNotice, withSnapshot } from "../../view/TopModel.js"
import { type Sampler, takeSnapshot } from "./Snapshot.js"

/** How often figures refresh without a change: 2,000 ms. */
export const defaultInterval = 2000
/** The shortest `--interval`: 100 ms. */
const minInterval = 100
/** Width of plain output when stdout is not a terminal. */
const plainWidth = 160

export interface TopInput extends Identity {
  readonly once: boolean
  /** Refresh of the figures without a change, ms (default {@link defaultInterval}). */
  readonly intervalMs?: number | undefined
}

type Remote = Effect.Effect.Success<ReturnType<typeof connect>>

/** Runs `troupe top` until `q` (TTY), forever (plain), or for one frame (`--once`). */
export const runTop = (input: TopInput) =>
  Effect.scoped(
    Effect.gen(function* () {
      const remote = yield* connect(input)
      const scope = input.all ? "all sessions" : `session ${remote.actors.session}`
      const options = { scope, vms: (process.env.VERS_API_KEY ?? "") !== "" }
      const sampler = yield* Ref.make<Sampler>({ previous: undefined, at: 0 })
      const snapshot = Effect.gen(function* () {
        const [snap, next] = yield* takeSnapshot(remote, yield* Ref.get(sampler), options)
        yield* Ref.set(sampler, next)
        return snap
      })

      if (input.once) {
        const first = yield* snapshot
        return yield* Console.log(frame(initialState(first), { width: process.stdout.columns ?? plainWidth }).join("\n"))
      }

      const state = yield* Ref.make<TopState>(initialState(emptySnapshot(0, scope)))
      const dirty = yield* Queue.sliding<void>(1)
      // Triggers: the daemon's change feed, and the slow refresh of the figures.
      const changes = remote.watch.pipe(Stream.runForEach(() => Queue.offer(dirty, undefined)))
      const every = Duration.millis(Math.max(minInterval, input.intervalMs ?? defaultInterval))
      yield* Queue.offer(dirty, undefined).pipe(Effect.repeat(Schedule.spaced(every)), Effect.forkScoped)

      const tty = process.stdout.isTTY === true && process.stdin.isTTY === true
      // Plain output ends with the first error (a lost daemon: exit 1 with its sentence).
      if (!tty) return yield* Effect.raceAll([plain(state, dirty, snapshot), changes, stdoutClosed])
      yield* changes.pipe(Effect.catchAll((e) => Ref.update(state, (s) => withNotice(s, e.message))), Effect.forkScoped)
      const tui = yield* Effect.promise(() => import("./Tui.js"))
      yield* interactive(remote, state, dirty, snapshot, tui)
    })
  )

/**
 * Ends when stdout's reader has gone (`troupe top | head`): the next write fails with EPIPE,
 * which would otherwise be an unhandled error event.
 */
const stdoutClosed = Effect.async<void>((resume) => {
  const onError = () => resume(Effect.void)
  process.stdout.once("error", onError)
  return Effect.sync(() => process.stdout.off("error", onError))
})

/** Non-TTY: a frame printed whenever its content (all but the clock) changes. */
const plain = (state: Ref.Ref<TopState>, dirty: Queue.Queue<void>, snapshot: Effect.Effect<Snapshot, ActorsError>) =>
  Effect.gen(function* () {
    let last = ""
    while (true) {
      yield* Queue.take(dirty)
      const snap = yield* snapshot
      const s = yield* Ref.updateAndGet(state, (st) => withSnapshot(st, snap))
      const lines = frame(s, { width: plainWidth })
      const body = lines.slice(1).join("\n")
      if (body === last) continue
      last = body
      yield* Console.log(lines.join("\n") + "\n")
    }
  })

/** TTY: the full-screen view, keys, and the actions they ask for. */
const interactive = (
  remote: Remote,
  state: Ref.Ref<TopState>,
  dirty: Queue.Queue<void>,
  snapshot: Effect.Effect<Snapshot, ActorsError>,
  tui: typeof import("./Tui.js")
) =>
  Effect.gen(function* () {
    const quit = yield* Deferred.make<void>()
    const keys = yield* Queue.unbounded<Key | "quit">()
    const view = yield* tui.open({
      render: (width, height) => frame(Effect.runSync(Ref.get(state)), { width, height, keys: true }),
      onKey: (key) => Queue.unsafeOffer(keys, key)
    })
    const redraw = Effect.sync(() => view.requestRender())
    const logs = yield* FiberHandle.make()

    yield* Effect.gen(function* () {
      yield* Queue.take(dirty)
      const snap = yield* Effect.either(snapshot)
      yield* Ref.update(state, (s) =>
        snap._tag === "Right" ? withSnapshot(s, snap.right) : withNotice(s, snap.left.message)
      )
      yield* redraw
    }).pipe(Effect.forever, Effect.forkScoped)

    const perform = (action: Action): Effect.Effect<void, never, Scope.Scope> => {
      switch (action._tag) {
        case "quit":
          return Deferred.succeed(quit, undefined).pipe(Effect.asVoid)
        case "kill":
          return remote.actors.kill(action.run).pipe(
            Effect.match({
              onFailure: (e) => `kill run:${action.run} failed: ${e.message}`,
              onSuccess: (r) => `run:${action.run} ${r.state}`
            }),
            Effect.flatMap((notice) => Ref.update(state, (s) => withNotice(s, notice))),
            Effect.zipRight(Queue.offer(dirty, undefined)),
            Effect.zipRight(redraw),
            Effect.forkScoped,
            Effect.asVoid
          )
        case "inspect":
          return Effect.zipRight(FiberHandle.clear(logs), remote.actors.inspect(`run:${action.run}`, action.view, { lines: 40 })).pipe(
            Effect.match({ onFailure: (e) => e.message, onSuccess: (v) => v.text }),
            Effect.flatMap((text) => Ref.update(state, (s) => withInspectText(s, action.run, action.view, text))),
            Effect.zipRight(redraw),
            Effect.forkScoped,
            Effect.asVoid
          )
        case "logs": {
          const decoder = new TextDecoder()
          return remote.actors.logs(action.run, { follow: true }).pipe(
            Stream.runForEach((bytes) => Effect.zipRight(Ref.update(state, (s) => withLogText(s, action.run, decoder.decode(bytes, { stream: true }))), redraw)),
            Effect.catchAll((e) => Effect.zipRight(Ref.update(state, (s) => withNotice(s, e.message)), redraw)),
            FiberHandle.run(logs),
            Effect.asVoid
          )
        }
        case "stop-logs":
          return FiberHandle.clear(logs)
        case "none":
          return Effect.void
      }
    }

    yield* Effect.gen(function* () {
      const key = yield* Queue.take(keys)
      if (key === "quit") return yield* perform({ _tag: "quit" })
      const [next, action] = update(yield* Ref.get(state), key)
      yield* Ref.set(state, next)
      yield* perform(action)
      yield* redraw
    }).pipe(Effect.forever, Effect.forkScoped)

    yield* Deferred.await(quit)
  })
