/**
 * Message ids (SPEC-messaging §2): the `MessageId` format and the pure steps of generating them
 * in order (the `MessageIds` service in src/services/MessageIds.ts draws the time and randomness).
 */
import { Schema } from "effect"

/**
 * A message id: `msg_` + 9 base36 digits of the id's millisecond timestamp + 4 base36 digits of
 * a per-millisecond sequence + 8 random base36 digits (25 characters, `^msg_[0-9a-z]{21}$`).
 * Fixed width, so string order is time order; within one `MessageIds` instance it is creation
 * order. (pi-actors' ids such as `msg_123` are not `MessageId`s; `reply_to` stays free text.)
 */
export const MessageId = Schema.String.pipe(
  Schema.pattern(/^msg_[0-9a-z]{21}$/, { message: () => "message id must match ^msg_[0-9a-z]{21}$" }),
  Schema.brand("MessageId")
)
export type MessageId = typeof MessageId.Type

/** The state of an id generator: the last id's millisecond and its sequence number in it. */
export interface MessageIdState {
  readonly ms: number
  readonly seq: number
}

export const initialMessageIdState: MessageIdState = { ms: -1, seq: 0 }

/** Ids per millisecond before the generator borrows the next millisecond: 36^4. */
export const seqPerMs = 36 ** 4

/** Largest timestamp a 9-digit base36 field holds (ms, ~ year 5188). */
const maxIdMs = 36 ** 9 - 1

/**
 * The next state: a later clock starts a new millisecond at sequence 0; the same (or an
 * earlier — the clock may step back) reading increments the sequence of the last millisecond;
 * a full millisecond borrows the next one. So ids strictly increase whatever the clock does.
 */
export const nextMessageIdState = (state: MessageIdState, nowMs: number): MessageIdState => {
  const now = Math.min(maxIdMs, Math.max(0, Math.floor(nowMs)))
  if (now > state.ms) return { ms: now, seq: 0 }
  if (state.seq + 1 < seqPerMs) return { ms: state.ms, seq: state.seq + 1 }
  return { ms: state.ms + 1, seq: 0 }
}

/** The id of a state plus a random value in [0, 36^8). */
export const formatMessageId = (state: MessageIdState, random: number): MessageId =>
  `msg_${state.ms.toString(36).padStart(9, "0")}${state.seq.toString(36).padStart(4, "0")}${Math.floor(random).toString(36).padStart(8, "0")}` as MessageId

/** The millisecond an id was assigned in (its first 9 digits after `msg_`). */
export const messageIdMillis = (id: MessageId): number => Number.parseInt(id.slice(4, 13), 36)

/**
 * The id of a message derived from another one (a multicast copy of a room post for one
 * recipient): the time and sequence digits of `id`, and 8 digits of a 64-bit FNV-1a hash of
 * `id` and `salt` in place of the random ones. Deterministic, so deriving again after a retry
 * (the same original id) gives the same id and the store keeps one copy; sorts next to `id`.
 */
export const derivedMessageId = (id: MessageId, salt: string): MessageId => {
  let hash = 0xcbf29ce484222325n
  for (const ch of `${id}\u0000${salt}`) {
    hash ^= BigInt(ch.codePointAt(0)!)
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn
  }
  return `${id.slice(0, 17)}${(hash % BigInt(seqPerMs * seqPerMs)).toString(36).padStart(8, "0")}` as MessageId
}
