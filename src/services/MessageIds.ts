/**
 * `MessageIds`: assigns the runtime's `MessageId`s (format in src/domain/MessageId.ts) and
 * stamps checked envelopes with them. A service, not domain data: it reads the `Clock` and
 * `Random` and keeps the generator's state for the runtime it belongs to.
 *
 * pi-actors numbered messages per file (`msg_123`); troupe's ids sort by creation across a
 * runtime and survive restarts in order (their time part comes from the clock).
 */
import { Clock, Effect, Random } from "effect"
import { type Envelope, type EnvelopeInput, type StampOptions, stampedEnvelope } from "../domain/Envelope.js"
import { formatMessageId, initialMessageIdState, type MessageId, nextMessageIdState, seqPerMs } from "../domain/MessageId.js"

/** The random part of an id: one draw in [0, 36^8) (Random's doubles carry 53 bits). */
const randomPart = Random.nextIntBetween(0, seqPerMs * seqPerMs)

/**
 * Assigns `MessageId`s. One instance per runtime (the daemon has one); ids from one instance
 * are unique and strictly increasing in string order, also when the `Clock` stands still or
 * steps back. Time comes from `Clock` (TestClock drives it), the random suffix from `Random`.
 */
export class MessageIds extends Effect.Service<MessageIds>()("troupe/MessageIds", {
  effect: Effect.sync(() => {
    // Plain state, not a Ref: it is read and advanced in one synchronous step (one call per
    // message, so the fewer Effect steps the better).
    let state = initialMessageIdState
    /** The next id for a clock reading of `ms` (epoch ms). */
    const nextAt = (ms: number): Effect.Effect<MessageId> =>
      Effect.map(randomPart, (random) => {
        state = nextMessageIdState(state, ms)
        return formatMessageId(state, random)
      })
    /** The next id at the current `Clock` time. */
    const next: Effect.Effect<MessageId> = Effect.flatMap(Clock.currentTimeMillis, nextAt)
    /** {@link stamp} with this instance's ids (`options.id`: that id instead of a fresh one). */
    const stampInput = (
      input: EnvelopeInput,
      options: StampOptions
    ): Effect.Effect<Envelope> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const given = options.id
        return given === undefined
          ? Effect.map(nextAt(now), (id) => stampedEnvelope(input, options, id, now))
          : Effect.succeed(stampedEnvelope(input, options, given, now))
      })
    return { next, nextAt, stamp: stampInput } as const
  })
}) {}

/**
 * Turns a checked input into the stored envelope with a fresh id of the runtime's
 * {@link MessageIds} (or `options.id`): `received_at` = the `Clock` reading the id was made from
 * (epoch ms), `from` = the verified sender, `sender` = its provenance (see `stampedEnvelope`).
 */
export const stamp = (
  input: EnvelopeInput,
  options: StampOptions
): Effect.Effect<Envelope, never, MessageIds> => Effect.flatMap(MessageIds, (ids) => ids.stamp(input, options))
