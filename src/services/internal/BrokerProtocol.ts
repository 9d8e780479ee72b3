/**
 * The client side of the exec-broker protocol (docs/broker.md): the frames a broker may send,
 * as Schemas, and a reader turning arbitrary bytes into those frames or a typed
 * {@link BrokerProtocolError} — never a throw. The byte framing is shared with the broker
 * program (src/broker/FrameCodec.ts).
 */
import { Data, Either, Schema } from "effect"
import { describeParseError } from "../../domain/Diagnostic.js"
import { FrameDecoder, maxFrameBytes } from "../../broker/FrameCodec.js"

/** The broker sent bytes that are not a frame of this protocol; the connection is unusable. */
export class BrokerProtocolError extends Data.TaggedError("BrokerProtocolError")<{
  readonly message: string
}> {}

const Id = Schema.Number.pipe(Schema.int(), Schema.nonNegative())
const Count = Schema.Number.pipe(Schema.int(), Schema.nonNegative())
const Output = Schema.Literal("stdout", "stderr")

export const Hello = Schema.Struct({
  t: Schema.Literal("hello"),
  protocol: Schema.Unknown,
  broker: Schema.optional(Schema.String),
  pid: Schema.optional(Count),
  window: Count,
  maxFrame: Count,
  maxChunk: Count,
  maxCommands: Count
})
export const Started = Schema.Struct({
  t: Schema.Literal("started"),
  id: Id,
  pid: Count,
  pgid: Count,
  start_time: Count,
  marker: Schema.String
})
export const Data_ = Schema.Struct({ t: Schema.Literal("data"), id: Id, stream: Output })
export const Eof = Schema.Struct({ t: Schema.Literal("eof"), id: Id, stream: Schema.Literal("stdout", "stderr", "stdin") })
export const Exit = Schema.Struct({
  t: Schema.Literal("exit"),
  id: Id,
  code: Schema.Number.pipe(Schema.int()),
  signal: Schema.NullOr(Schema.String)
})
export const SpawnError = Schema.Struct({
  t: Schema.Literal("error"),
  id: Id,
  reason: Schema.Literal("spawn", "io"),
  code: Schema.Number.pipe(Schema.int()),
  message: Schema.String
})
export const Credit = Schema.Struct({ t: Schema.Literal("credit"), id: Id, stream: Schema.Literal("stdin"), bytes: Count })
export const Killed = Schema.Struct({ t: Schema.Literal("killed"), id: Id })
export const Signaled = Schema.Struct({ t: Schema.Literal("signaled"), req: Id })
export const Reaped = Schema.Struct({ t: Schema.Literal("reaped"), req: Id, count: Count })
export const Resolved = Schema.Struct({ t: Schema.Literal("resolved"), req: Id, argv: Schema.Array(Schema.String) })
export const Pong = Schema.Struct({ t: Schema.Literal("pong"), req: Schema.optional(Id) })
export const Fail = Schema.Struct({
  t: Schema.Literal("fail"),
  req: Schema.optional(Id),
  id: Schema.optional(Id),
  message: Schema.String
})
export const Fatal = Schema.Struct({ t: Schema.Literal("fatal"), message: Schema.String })

/** Every frame a broker sends (its header; `data` frames also carry bytes). */
export const BrokerFrame = Schema.Union(
  Hello, Started, Data_, Eof, Exit, SpawnError, Credit, Killed, Signaled, Reaped, Resolved, Pong, Fail, Fatal
)
export type BrokerFrame = typeof BrokerFrame.Type

/** A decoded frame with its payload (non-empty only for `data`). */
export interface Incoming {
  readonly frame: BrokerFrame
  readonly payload: Uint8Array
}

const decodeHeader = Schema.decodeUnknownEither(BrokerFrame, { onExcessProperty: "ignore" })

/**
 * An incremental reader of a broker's output. `push` returns the frames completed by `bytes`,
 * or the first protocol error (after which every push returns it again): a frame length outside
 * 4..1 MiB, a header that is not JSON, or a header no {@link BrokerFrame} schema accepts.
 */
export const makeReader = (maxFrame: number = maxFrameBytes) => {
  const decoder = new FrameDecoder(maxFrame)
  let failed: BrokerProtocolError | undefined
  return {
    push: (bytes: Uint8Array): Either.Either<ReadonlyArray<Incoming>, BrokerProtocolError> => {
      if (failed !== undefined) return Either.left(failed)
      const step = decoder.push(bytes)
      const out: Array<Incoming> = []
      for (const raw of step.frames) {
        const decoded = decodeHeader(raw.header)
        if (Either.isLeft(decoded)) {
          const kind = JSON.stringify(String(raw.header.t)).slice(0, 40)
          failed = new BrokerProtocolError({
            message: `the exec broker sent an invalid ${kind} frame: ${describeParseError(decoded.left, raw.header)}`
          })
          return Either.left(failed)
        }
        out.push({ frame: decoded.right, payload: raw.payload })
      }
      if (!step.ok) {
        failed = new BrokerProtocolError({ message: `the exec broker sent a malformed frame: ${step.error}` })
        return Either.left(failed)
      }
      return Either.right(out)
    }
  }
}
