/**
 * `Events`: each session's ordered event stream (SPEC-messaging §7) — terminal transitions of
 * its runs (not intentional kills/cancels), failed or in-flight-parallel `command.done`, and
 * (with messaging) coordinator-bound messages. Events are persisted first, then published, so a
 * subscriber that replays from a cursor and then follows live sees every event at least once;
 * ids are stable, so consumers dedupe by id.
 *
 * Corresponds to pi-actors' follow-ups (`sendMessage(..., {deliverAs: "followUp"})` when a
 * detached run finished), which were best-effort; here they are a durable, replayable stream.
 */
import { Chunk, Effect, Option, PubSub, Stream } from "effect"
import type { ActorsError, SessionEvent } from "../domain/Run.js"
import { reportPersistence } from "./internal/ReportPersistence.js"
import { Store } from "./Store.js"

/** Bound of one replay page read from the store. */
const replayPage = 500

export class Events extends Effect.Service<Events>()("troupe/Events", {
  scoped: Effect.gen(function* () {
    const store = reportPersistence(yield* Store)
    const hub = yield* Effect.acquireRelease(PubSub.unbounded<SessionEvent>(), PubSub.shutdown)
    // Store then publish as one step, so live subscribers see ids in increasing order.
    const ordered = yield* Effect.makeSemaphore(1)

    /**
     * Persists an event on `session`'s stream and publishes it to live subscribers.
     * @returns the stored event with its id (cursor).
     * @fails ActorsError `persistence` when the store write fails.
     */
    const publish = Effect.fn("Events.publish")(function* (
      e: { session: string; runId: string; generation: string; type: string; at: number; text: string; data: Record<string, unknown> }
    ) {
      return yield* ordered.withPermits(1)(
        Effect.tap(store.appendSessionEvent(e), (stored) => PubSub.publish(hub, stored))
      )
    })

    /** Stored events after `since`, page by page (`session` undefined = every session). */
    const replay = (session: string | undefined, since: number): Stream.Stream<SessionEvent, ActorsError> =>
      Stream.paginateChunkEffect(since, (cursor) =>
        Effect.map(store.sessionEvents(session, cursor, replayPage), (page) => {
          const last = page[page.length - 1]
          const next = page.length < replayPage || last === undefined ? Option.none<number>() : Option.some(last.id)
          return [Chunk.fromIterable(page), next] as const
        })
      )

    /**
     * The events of `session` (undefined = all sessions, operator) with id > `since`, oldest
     * first. With `follow`, the stream then stays open and yields new events as they are
     * published (subscribed before the replay, deduplicated by id, so nothing falls between).
     */
    const stream = (session: string | undefined, since: number, follow: boolean): Stream.Stream<SessionEvent, ActorsError> =>
      !follow
        ? replay(session, since)
        : Stream.unwrapScoped(
            Effect.gen(function* () {
              const live = yield* PubSub.subscribe(hub)
              let last = since
              const mark = (e: SessionEvent) => {
                if (e.id <= last) return false
                last = e.id
                return true
              }
              return Stream.concat(
                replay(session, since).pipe(Stream.filter(mark)),
                Stream.fromQueue(live).pipe(Stream.filter((e) => (session === undefined || e.session === session) && mark(e)))
              )
            })
          )

    return { publish, stream } as const
  })
}) {}
