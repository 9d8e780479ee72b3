/**
 * How writes go out on the daemon's socket (both ends): batched, interruptible and bounded.
 *
 * Batched: the writes that fibers make in one turn of the scheduler go out as one `write` on
 * the socket, in the order they were made. Under concurrent requests (50 senders posting to a
 * room) the RPC layer writes one NDJSON line per request or response, and a syscall per line
 * cost the daemon more CPU than routing the message; batched, a turn's lines share one. A
 * lone write waits for one scheduler yield (no timer), so a sequential caller sees no added
 * delay worth measuring. Each write completes when its batch is written (or fails with the
 * batch's error), as with the plain socket.
 *
 * Interruptible: interrupting a writer (a closing scope, SIGTERM) never waits for the peer.
 *
 * Bounded: a batch the peer has not taken within `stallMs` (it stopped reading: a suspended
 * `logs --follow`, a frozen daemon) fails the write and closes the connection, so one stalled
 * peer holds at most one batch of memory and never blocks anything else. A write after the
 * connection closed fails at once instead of waiting for it to reopen (the platform's socket
 * waits for a reconnection): the RPC client's ping writes every 10 s to a daemon that may
 * never come back, and the RPC server answers an interrupted request on a connection it has
 * just dropped.
 */
import * as Socket from "@effect/platform/Socket"
import { Deferred, Effect, Exit, FiberId } from "effect"

const encoder = new TextEncoder()

/** The daemon drops a client that has not taken a pending write (at most ~1 MiB) within 10 s. */
export const serverStallMs = 10_000
/** A client gives up on a daemon that has not taken a pending write within 30 s. */
export const clientStallMs = 30_000

export interface WriteBounds {
  /** Longest wait, ms, for the peer to take a pending batch before the connection is closed. */
  readonly stallMs: number
}

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

const writeError = (message: string) => new Socket.SocketGenericError({ reason: "Write", cause: new Error(message) })

/** `socket` with batched, interruptible, bounded writes (reading is unchanged). */
export const batchWrites = (socket: Socket.Socket, bounds: WriteBounds = { stallMs: serverStallMs }): Socket.Socket => {
  // "connecting" until the first open; "closed" from the end of a connection to the next open.
  let state: "connecting" | "open" | "closed" = "connecting"
  const opened = Effect.sync(() => (state = "open"))
  const closed = Effect.sync(() => (state = "closed"))
  const onOpen = (options?: { readonly onOpen?: Effect.Effect<void> | undefined }) => ({
    onOpen: options?.onOpen === undefined ? opened : Effect.zipRight(opened, options.onOpen)
  })
  return Socket.Socket.of({
    [Socket.TypeId]: Socket.TypeId,
    run: (handler, options) => Effect.ensuring(socket.run(handler, onOpen(options)), closed),
    runRaw: (handler, options) => Effect.ensuring(socket.runRaw(handler, onOpen(options)), closed),
    writer: Effect.map(socket.writer, (write) => {
      let pending: Array<string | Uint8Array> = []
      // A batch ends "written" (or with the write's error), or "retry" when its leader was
      // interrupted before handing it to the socket: the others then write their chunks again.
      let batch: Deferred.Deferred<"written" | "retry", Socket.SocketError> | undefined
      const stalled = writeError(`the peer did not take a pending write within ${bounds.stallMs} ms; connection closed`)
      // A write the peer does not take in time closes the connection (freeing what Node
      // buffered for it); the close goes through even though the peer does not read.
      const bounded = (chunk: string | Uint8Array) =>
        write(chunk).pipe(
          Effect.timeoutFail({ duration: bounds.stallMs, onTimeout: () => stalled }),
          Effect.tapErrorCause(() => Effect.ignore(Effect.timeout(write(new Socket.CloseEvent(1008, "stalled")), 1000)))
        )
      // The first write of a batch yields once, so the fibers that are ready to write too add
      // their chunks, then writes them all. Interruptible while it waits, and the batch's
      // outcome always reaches the others: once the socket has the bytes (Node's write is
      // called synchronously when the connection is open) they are "written"; before that,
      // "retry".
      const lead = (done: Deferred.Deferred<"written" | "retry", Socket.SocketError>) =>
        Effect.uninterruptibleMask((restore) =>
          Effect.flatMap(Effect.exit(restore(Effect.yieldNow())), (yielded) => {
            const chunks = pending
            pending = []
            if (batch === done) batch = undefined
            if (Exit.isFailure(yielded)) return Deferred.succeed(done, "retry")
            let started = false
            const written = Effect.suspend(() => {
              started = true
              return bounded(joined(chunks))
            })
            return Effect.flatMap(Effect.exit(restore(written)), (exit) =>
              Exit.isFailure(exit) && Exit.isInterrupted(exit)
                ? Deferred.succeed(done, started && state === "open" ? "written" : "retry")
                : Deferred.done(done, Exit.as(exit, "written" as const)))
          })
        )
      const send = (chunk: string | Uint8Array | Socket.CloseEvent): Effect.Effect<void, Socket.SocketError> =>
        Effect.suspend(() => {
          // A close goes after whatever is pending (never waiting long for it).
          if (Socket.isCloseEvent(chunk)) {
            return Effect.zipRight(batch === undefined ? Effect.void : Effect.ignore(Effect.timeout(Deferred.await(batch), bounds.stallMs)), write(chunk))
          }
          if (state === "closed") {
            return Effect.fail(writeError("the connection is closed"))
          }
          pending.push(chunk)
          const awaited = (b: Deferred.Deferred<"written" | "retry", Socket.SocketError>) =>
            Effect.flatMap(Deferred.await(b), (outcome) => (outcome === "retry" ? send(chunk) : Effect.void))
          if (batch !== undefined) return awaited(batch)
          const done = Deferred.unsafeMake<"written" | "retry", Socket.SocketError>(FiberId.none)
          batch = done
          return Effect.zipRight(lead(done), awaited(done))
        })
      return send
    })
  })
}
