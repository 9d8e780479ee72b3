/**
 * Write batching for the daemon's socket (both ends): the writes that fibers make in one turn
 * of the scheduler go out as one `write` on the socket, in the order they were made. Under
 * concurrent requests (50 senders posting to a room) the RPC layer writes one NDJSON line per
 * request or response, and a syscall per line cost the daemon more CPU than routing the
 * message; batched, a turn's lines share one.
 *
 * A lone write waits for one scheduler yield (no timer), so a sequential caller sees no
 * added delay worth measuring. Each write completes when its batch is written (or fails with
 * the batch's error), as with the plain socket.
 */
import * as Socket from "@effect/platform/Socket"
import { Deferred, Effect, FiberId } from "effect"

const encoder = new TextEncoder()

/** One chunk of the chunks of a batch (strings stay strings: the NDJSON case). */
const joined = (chunks: ReadonlyArray<string | Uint8Array>): string | Uint8Array => {
  if (chunks.length === 1) return chunks[0]!
  if (chunks.every((c) => typeof c === "string")) return chunks.join("")
  const parts = chunks.map((c) => (typeof c === "string" ? encoder.encode(c) : c))
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** `socket` with batched writes (reading is unchanged). */
export const batchWrites = (socket: Socket.Socket): Socket.Socket =>
  Socket.Socket.of({
    [Socket.TypeId]: Socket.TypeId,
    run: socket.run,
    runRaw: socket.runRaw,
    writer: Effect.map(socket.writer, (write) => {
      let pending: Array<string | Uint8Array> = []
      let batch: Deferred.Deferred<void, Socket.SocketError> | undefined
      // The first write of a batch yields once, so the fibers that are ready to write too add
      // their chunks, then writes them all. Uninterruptible: the others wait for it.
      const lead = (done: Deferred.Deferred<void, Socket.SocketError>) =>
        Effect.uninterruptible(
          Effect.zipRight(
            Effect.yieldNow(),
            Effect.suspend(() => {
              const chunks = pending
              pending = []
              batch = undefined
              return Effect.flatMap(Effect.exit(write(joined(chunks))), (exit) => Deferred.done(done, exit))
            })
          )
        )
      return (chunk: string | Uint8Array | Socket.CloseEvent): Effect.Effect<void, Socket.SocketError> =>
        Effect.suspend(() => {
          // A close goes after whatever is pending.
          if (Socket.isCloseEvent(chunk)) return Effect.zipRight(batch === undefined ? Effect.void : Effect.ignore(Deferred.await(batch)), write(chunk))
          pending.push(chunk)
          if (batch !== undefined) return Deferred.await(batch)
          const done = Deferred.unsafeMake<void, Socket.SocketError>(FiberId.none)
          batch = done
          return Effect.zipRight(lead(done), Deferred.await(done))
        })
    })
  })
