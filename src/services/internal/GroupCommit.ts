/**
 * Group commit for the messaging tables (`Mailbox`, `Rooms`, `MessageKeys`): many fibers' writes
 * applied in one SQLite transaction per batch instead of one each.
 *
 * Not the same job as the daemon's socket write batching (src/daemon/WriteBatching.ts): that
 * one joins the bytes fibers write in one scheduler turn into one `write` and every writer gets
 * the same outcome; this one runs a transaction that returns one result per input, through a
 * single writer fiber that bounds each batch and fails queued writes when the store closes.
 */
import { Effect, Exit, Queue, type Scope } from "effect"
import { ActorsError } from "../../domain/Run.js"

/**
 * Group commit: callers hand in one write each; a single writer fiber takes every write queued
 * so far (up to `max`) and applies them with one call of `write` (one transaction), then
 * completes each caller with its own result — or with the batch's failure. Under concurrency
 * this turns N commits into N / batch commits; alone, a write is applied at once.
 *
 * Order: writes are applied in the order they were queued, so a caller that waits for each of
 * its writes keeps its order. A caller interrupted while waiting does not cancel its write
 * (it may still be applied). When the scope closes, the batch in flight finishes and queued
 * writes fail with `unavailable`.
 */
export const groupCommit = <I, O>(
  write: (batch: ReadonlyArray<I>) => Effect.Effect<ReadonlyArray<O>, ActorsError>,
  options: { readonly max: number; readonly name: string }
): Effect.Effect<(input: I) => Effect.Effect<O, ActorsError>, never, Scope.Scope> =>
  Effect.gen(function* () {
    interface Pending {
      readonly input: I
      readonly resume: (result: Effect.Effect<O, ActorsError>) => void
    }
    const queue = yield* Queue.unbounded<Pending>()
    const closed = Exit.fail(new ActorsError({ reason: "unavailable", message: `${options.name}: the store is closing` }))
    yield* Effect.addFinalizer(() =>
      Queue.takeAll(queue).pipe(
        Effect.flatMap((left) => Effect.sync(() => Array.from(left).forEach((p) => p.resume(closed)))),
        Effect.zipRight(Queue.shutdown(queue))
      )
    )
    const answer = (batch: ReadonlyArray<Pending>) =>
      Effect.flatMap(Effect.exit(write(batch.map((p) => p.input))), (exit) =>
        Effect.sync(() => {
          if (Exit.isSuccess(exit)) batch.forEach((p, i) => p.resume(Exit.succeed(exit.value[i]!)))
          else batch.forEach((p) => p.resume(exit as Exit.Exit<never, ActorsError>))
        })
      )
    // Waiting for work is interruptible; a batch, once taken, is written and answered whole,
    // also when the scope closes.
    const step = Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(restore(Queue.takeBetween(queue, 1, options.max)), (chunk) => answer(Array.from(chunk)))
    )
    yield* Effect.forkScoped(Effect.forever(step))
    // A resumption per caller, not a Deferred: cheaper, and a caller that was interrupted in
    // the meantime simply ignores it.
    return (input: I) =>
      Effect.async<O, ActorsError>((resume) => {
        if (!queue.unsafeOffer({ input, resume })) resume(closed)
      })
  })

