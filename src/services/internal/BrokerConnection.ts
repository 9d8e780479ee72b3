/**
 * One live exec-broker connection, client side (docs/broker.md): the handshake, the reader
 * fiber dispatching frames to commands and requests, credit bookkeeping, and failing everything
 * pending with `HostError` `unavailable` when the broker goes away or misbehaves.
 * `BrokerHost` builds the Host v2 shape on top of this.
 */
import { Deferred, Effect, Either, Option, Queue, Stream } from "effect"
import { encodeFrame, maxChunkBytes, protocolVersion } from "../../broker/FrameCodec.js"
import { HostError, type LeafExit, type ProcessIdentity } from "../Host.js"
import { type BrokerFrame, makeReader } from "./BrokerProtocol.js"

/**
 * A byte duplex to one broker: its output as a Stream (ending or failing when the broker is
 * gone), and a synchronous, order-preserving, never-throwing `write` of bytes to its input
 * (locally a child process's stdio; on a VM one SSH channel).
 */
export interface BrokerChannel {
  readonly input: Stream.Stream<Uint8Array, HostError>
  readonly write: (bytes: Uint8Array) => void
}

/** End-of-stream marker in a command's output queue. */
const End = Symbol("End")
type Item = Uint8Array | typeof End | HostError

/** Client-side state of one command. */
export interface Leaf {
  readonly id: number
  readonly started: Deferred.Deferred<ProcessIdentity, HostError>
  readonly exit: Deferred.Deferred<LeafExit, HostError>
  readonly killed: Deferred.Deferred<void, HostError>
  readonly stdout: Queue.Queue<Item>
  readonly stderr: Queue.Queue<Item>
  identity: ProcessIdentity | undefined
  stdinCredit: number
  stdinClosed: boolean
  creditWaiter: Deferred.Deferred<void, HostError> | undefined
  outstanding: { stdout: number; stderr: number }
  exited: boolean
  ended: { stdout: boolean; stderr: boolean }
}

export const unavailable = (message: string) => new HostError({ reason: "unavailable", code: 1, message })

type Header = { readonly t: string; readonly [key: string]: unknown }

/**
 * Opens a connection over `channel` in the current scope: sends `hello`, starts the reader
 * fiber, and waits for the broker's `hello` (at most `helloTimeoutMs`).
 * @fails HostError `unavailable`: the broker did not answer, speaks another protocol version
 *   (both named), or closed the connection.
 */
export const connect = (channel: BrokerChannel, options: { readonly helloTimeoutMs: number; readonly name?: string | undefined }) =>
  Effect.gen(function* () {
    const leaves = new Map<number, Leaf>()
    const requests = new Map<number, Deferred.Deferred<BrokerFrame, HostError>>()
    const hello = yield* Deferred.make<Extract<BrokerFrame, { t: "hello" }>, HostError>()
    const closed = yield* Deferred.make<HostError>()
    let dead: HostError | undefined
    let nextId = 1
    let nextReq = 1
    let window = 0
    const reader = makeReader()

    const send = (header: Header, payload?: Uint8Array) =>
      Effect.suspend(() => {
        if (dead !== undefined) return Effect.fail(dead)
        channel.write(encodeFrame(header, payload))
        return Effect.void
      })

    /** Fails everything pending with `error`; the connection is unusable from here on. */
    const die = (error: HostError) =>
      Effect.gen(function* () {
        if (dead !== undefined) return
        dead = error
        yield* Deferred.fail(hello, error)
        for (const request of requests.values()) yield* Deferred.fail(request, error)
        requests.clear()
        for (const leaf of leaves.values()) {
          yield* Deferred.fail(leaf.started, error)
          yield* Deferred.fail(leaf.exit, error)
          yield* Deferred.fail(leaf.killed, error)
          if (!leaf.ended.stdout) yield* Queue.offer(leaf.stdout, error)
          if (!leaf.ended.stderr) yield* Queue.offer(leaf.stderr, error)
          if (leaf.creditWaiter !== undefined) yield* Deferred.fail(leaf.creditWaiter, error)
        }
        yield* Deferred.succeed(closed, error)
      })

    const violation = (message: string) => die(unavailable(`the exec broker broke the protocol: ${message}`))

    const handle = (frame: BrokerFrame, payload: Uint8Array): Effect.Effect<void> =>
      Effect.gen(function* () {
        if (frame.t === "hello") {
          if (frame.protocol !== protocolVersion) {
            return yield* die(unavailable(`the exec broker speaks protocol version ${JSON.stringify(frame.protocol)} but this troupe speaks ${protocolVersion}; install matching versions`))
          }
          window = frame.window
          return yield* Deferred.succeed(hello, frame)
        }
        if (frame.t === "fatal") return yield* die(unavailable(`the exec broker closed the connection: ${frame.message}`))
        if ("req" in frame && frame.req !== undefined) {
          const request = requests.get(frame.req)
          requests.delete(frame.req)
          if (request !== undefined) return yield* Deferred.succeed(request, frame)
        }
        if (frame.t === "signaled" || frame.t === "reaped" || frame.t === "resolved") {
          return yield* violation(`a ${frame.t} frame answers no request (${frame.req})`)
        }
        if (frame.t === "pong") return
        if (frame.t === "fail") return yield* Effect.logWarning(`BrokerHost: the exec broker refused a frame: ${frame.message}`)
        const leaf = leaves.get(frame.id)
        // Frames for a command already forgotten here (its scope closed) are dropped.
        if (leaf === undefined) return
        switch (frame.t) {
          case "started": {
            const identity: ProcessIdentity = { host: options.name ?? "broker", pid: frame.pid, pgid: frame.pgid, startTime: frame.start_time, marker: frame.marker }
            leaf.identity = identity
            return yield* Deferred.succeed(leaf.started, identity)
          }
          case "error":
            leaves.delete(leaf.id)
            return yield* Deferred.fail(leaf.started, new HostError({ reason: frame.reason, code: frame.code, message: frame.message }))
          case "data": {
            leaf.outstanding[frame.stream] += payload.length
            // A broker may overshoot by what it had read before pausing, never by a window more.
            if (leaf.outstanding[frame.stream] > 2 * window + maxChunkBytes) return yield* violation(`command ${frame.id} overran its ${frame.stream} window`)
            return yield* Queue.offer(leaf[frame.stream], payload)
          }
          case "eof":
            if (frame.stream === "stdin") {
              leaf.stdinClosed = true
              if (leaf.creditWaiter !== undefined) yield* Deferred.succeed(leaf.creditWaiter, undefined)
              return
            }
            if (leaf.ended[frame.stream]) return
            leaf.ended[frame.stream] = true
            return yield* Queue.offer(leaf[frame.stream], End)
          case "exit":
            leaf.exited = true
            // Everything of the leaf is gone: nothing reads its stdin any more.
            leaf.stdinClosed = true
            if (leaf.creditWaiter !== undefined) yield* Deferred.succeed(leaf.creditWaiter, undefined)
            return yield* Deferred.succeed(leaf.exit, frame.signal === null ? { code: frame.code } : { code: frame.code, signal: frame.signal })
          case "credit":
            leaf.stdinCredit += frame.bytes
            if (leaf.creditWaiter !== undefined) yield* Deferred.succeed(leaf.creditWaiter, undefined)
            return
          case "killed":
            return yield* Deferred.succeed(leaf.killed, undefined)
        }
      })

    const consume = Stream.runForEach(channel.input, (bytes) =>
      Effect.suspend(() => {
        if (dead !== undefined) return Effect.void
        const decoded = reader.push(bytes)
        if (Either.isLeft(decoded)) return die(unavailable(decoded.left.message))
        return Effect.forEach(decoded.right, ({ frame, payload }) => handle(frame, payload), { discard: true })
      })
    ).pipe(
      Effect.matchEffect({
        onFailure: (error) => die(error),
        onSuccess: () => die(unavailable("the exec broker closed the connection (it exited or its channel was cut)"))
      })
    )
    yield* Effect.forkScoped(consume)
    // Closing the connection's scope fails whatever is still pending instead of leaving it hanging.
    yield* Effect.addFinalizer(() => die(unavailable("the exec broker connection was closed")))

    yield* send({ t: "hello", protocol: protocolVersion })
    const greeting = yield* Deferred.await(hello).pipe(
      Effect.timeoutFail({
        duration: options.helloTimeoutMs,
        onTimeout: () => unavailable(`the exec broker did not answer hello within ${options.helloTimeoutMs} ms`)
      })
    )

    /** Sends a request frame (`req` added) and waits for its answer. */
    const request = (header: Header) =>
      Effect.gen(function* () {
        if (dead !== undefined) return yield* Effect.fail(dead)
        const req = nextReq++
        const answer = yield* Deferred.make<BrokerFrame, HostError>()
        requests.set(req, answer)
        yield* send({ ...header, req })
        return yield* Deferred.await(answer)
      })

    /** Registers a new command id; `spawn` must be sent by the caller. */
    const register = Effect.gen(function* () {
      if (dead !== undefined) return yield* Effect.fail(dead)
      const leaf: Leaf = {
        id: nextId++,
        started: yield* Deferred.make<ProcessIdentity, HostError>(),
        exit: yield* Deferred.make<LeafExit, HostError>(),
        killed: yield* Deferred.make<void, HostError>(),
        stdout: yield* Queue.unbounded<Item>(),
        stderr: yield* Queue.unbounded<Item>(),
        identity: undefined,
        stdinCredit: window,
        stdinClosed: false,
        creditWaiter: undefined,
        outstanding: { stdout: 0, stderr: 0 },
        exited: false,
        ended: { stdout: false, stderr: false }
      }
      leaves.set(leaf.id, leaf)
      return leaf
    })

    /** A command's output stream; each chunk taken returns its bytes as credit to the broker. */
    const output = (leaf: Leaf, stream: "stdout" | "stderr"): Stream.Stream<Uint8Array, HostError> =>
      Stream.repeatEffectOption(
        Effect.flatMap(Queue.take(leaf[stream]), (item) => {
          if (item === End) return Effect.fail(Option.none())
          if (item instanceof HostError) return Effect.fail(Option.some(item))
          leaf.outstanding[stream] -= item.length
          return send({ t: "credit", id: leaf.id, stream, bytes: item.length }).pipe(
            // A dead connection already queued its error behind this chunk: deliver the bytes.
            Effect.ignore,
            Effect.as(item)
          )
        })
      )

    /** Writes to a command's stdin within its credit; quietly drops bytes once stdin closed. */
    const writeStdin = (leaf: Leaf, bytes: Uint8Array): Effect.Effect<void, HostError> =>
      Effect.gen(function* () {
        let at = 0
        while (at < bytes.length) {
          if (leaf.stdinClosed) return
          if (dead !== undefined) return yield* Effect.fail(dead)
          if (leaf.stdinCredit <= 0) {
            const waiter = yield* Deferred.make<void, HostError>()
            leaf.creditWaiter = waiter
            yield* Deferred.await(waiter)
            leaf.creditWaiter = undefined
            continue
          }
          const n = Math.min(leaf.stdinCredit, maxChunkBytes, bytes.length - at)
          leaf.stdinCredit -= n
          yield* send({ t: "write", id: leaf.id }, bytes.subarray(at, at + n))
          at += n
        }
      })

    return {
      greeting,
      send,
      request,
      register,
      output,
      writeStdin,
      /** Forgets a command (after `killed`, or when it never started). */
      forget: (leaf: Leaf) => Effect.sync(() => leaves.delete(leaf.id)),
      /** The error the connection died with, if it has. */
      deadWith: () => dead,
      /** Completes with the error once the connection is dead. */
      closed: Deferred.await(closed),
      /** Identities of every command started and not yet forgotten. */
      running: () => Array.from(leaves.values()).flatMap((leaf) => (leaf.identity === undefined ? [] : [leaf.identity]))
    }
  })

export type BrokerConnection = Effect.Effect.Success<ReturnType<typeof connect>>
