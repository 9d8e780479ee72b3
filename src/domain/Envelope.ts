/**
 * Message envelopes (SPEC-messaging §2): what a sender writes (`EnvelopeInput`), what the
 * runtime stores (`Envelope` = input + `id`, `received_at` and the verified `from`), the
 * sortable `MessageId`s it assigns, and the pi-actors CLI `key=value` form.
 *
 * ```json
 * { "to": "run:review", "from": "coordinator", "type": "control.continue",
 *   "summary": "Continue after checkpoint", "body": "continue",
 *   "reply_to": "msg_123", "correlation_id": "task_456", "metadata": {} }
 * ```
 *
 * Corresponds to pi-actors 0.17's actor-message envelope: the same fields and meaning; what is
 * added is strictness (unknown fields are errors, `type` has a pattern, `body` and `metadata`
 * have byte limits) and ids that sort by creation.
 *
 * Limits: `body` and `metadata` each at most 64 KiB = 65,536 bytes of their UTF-8 JSON
 * encoding (`JSON.stringify`, no whitespace) and at most 128 levels of nesting. Only JSON
 * values are accepted inside them (no `undefined`, functions, non-finite numbers, class
 * instances or cycles). A field whose value is `undefined` counts as absent.
 */
import { Clock, Effect, Either, ParseResult, Random, Schema, type SchemaAST } from "effect"
import { formatAddress, isInspectOnly, type MessageableAddress, parseAddress, shown } from "./Address.js"

// ---------------------------------------------------------------------------------------------
// Errors

/**
 * Why an envelope was rejected. `message` is one line; `field` names the offending field (a
 * path such as `metadata.recipients[1]`) when there is one.
 *
 * - `invalid_field`: the envelope is not an object, or a field has the wrong JSON shape
 *   (`summary must be a string`, `metadata must be a JSON object`, a `key=value` word without `=`);
 * - `unknown_field`: a field outside the envelope (`Unknown envelope field: priority (allowed: …)`);
 * - `too_large`: `body` or `metadata` over 64 KiB (`Message body exceeds 64 KiB (65537 bytes)`);
 * - `invalid_address`: `to`, `from` or a `metadata.recipients` entry is missing, not a string,
 *   not an address (the `AddressError` text) or an inspect-only address;
 * - `invalid_type`: `type` is missing, not a string or does not match `^[A-Za-z][A-Za-z0-9_.:-]*$`.
 */
export class EnvelopeError extends Schema.TaggedError<EnvelopeError>("troupe/EnvelopeError")("EnvelopeError", {
  reason: Schema.Literal("invalid_field", "unknown_field", "too_large", "invalid_address", "invalid_type"),
  message: Schema.String,
  field: Schema.optional(Schema.String)
}) {}

type Checked<A> = Either.Either<A, EnvelopeError>

const fail = (reason: EnvelopeError["reason"], message: string, field?: string): Checked<never> =>
  Either.left(new EnvelopeError(field === undefined ? { reason, message } : { reason, message, field }))

// ---------------------------------------------------------------------------------------------
// Limits and patterns

/** Largest `body` (and `metadata`): 64 KiB = 65,536 bytes of UTF-8 JSON encoding. */
export const maxBodyBytes = 65_536

/** Deepest nesting of arrays/objects inside `body` and `metadata`. */
export const maxJsonDepth = 128

/** Structured values are measured exactly up to this many bytes; beyond it messages say "more than". */
const measureCap = 16 * maxBodyBytes

/** The pattern of message types: a letter, then letters, digits, `_ . : -` (`channel.action`). */
export const typePattern = /^[A-Za-z][A-Za-z0-9_.:-]*$/

/** The fields a sender may write, in the order they are checked. */
export const envelopeFields = ["to", "type", "from", "summary", "body", "reply_to", "correlation_id", "metadata"] as const

// ---------------------------------------------------------------------------------------------
// JSON measurement: iterative (no stack overflow at any depth), bounded work (stops past the
// cap, so neither huge sparse arrays nor shared sub-objects make it slow), exact below the cap.

type Measured =
  | { readonly _tag: "ok"; readonly bytes: number }
  | { readonly _tag: "over"; readonly bytes: number; readonly exact: boolean }
  | { readonly _tag: "invalid"; readonly at: string; readonly problem: string }

interface PathNode {
  readonly parent: PathNode | undefined
  readonly key: string | number
}

type Frame =
  | { readonly _tag: "visit"; readonly value: unknown; readonly at: PathNode | undefined; readonly depth: number }
  | { readonly _tag: "leave"; readonly container: object }

const pathText = (root: string, node: PathNode | undefined): string => {
  const keys: Array<string | number> = []
  for (let n = node; n !== undefined; n = n.parent) keys.push(n.key)
  let out = root
  for (let i = keys.length - 1; i >= 0; i--) {
    const k = keys[i]!
    out += typeof k === "number" ? `[${k}]` : /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`
  }
  return out
}

const stringBytes = (s: string): number => Buffer.byteLength(JSON.stringify(s), "utf8")

const isPlainObject = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false
  const proto: unknown = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

const kindOf = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v)

/** The exact UTF-8 byte length of `JSON.stringify(root)` (up to `cap`), or why it is not JSON. */
const measureJson = (root: string, value: unknown, cap: number): Measured => {
  let bytes = 0
  const open = new Set<object>()
  const stack: Array<Frame> = [{ _tag: "visit", value, at: undefined, depth: 0 }]
  const invalid = (at: PathNode | undefined, problem: string): Measured => ({ _tag: "invalid", at: pathText(root, at), problem })
  while (stack.length > 0) {
    const frame = stack.pop()!
    if (frame._tag === "leave") {
      open.delete(frame.container)
      continue
    }
    const v = frame.value
    switch (typeof v) {
      case "string":
        bytes += stringBytes(v)
        break
      case "number":
        if (!Number.isFinite(v)) return invalid(frame.at, `is ${String(v)}, not a JSON number`)
        bytes += JSON.stringify(v).length
        break
      case "boolean":
        bytes += v ? 4 : 5
        break
      case "object": {
        if (v === null) {
          bytes += 4
          break
        }
        if (open.has(v)) return invalid(frame.at, "is a circular reference")
        if (frame.depth >= maxJsonDepth) return invalid(frame.at, `is nested deeper than ${maxJsonDepth} levels`)
        const depth = frame.depth + 1
        const children: Array<Frame> = []
        if (Array.isArray(v)) {
          bytes += 2 + Math.max(0, v.length - 1)
          if (bytes > cap) return { _tag: "over", bytes, exact: false }
          for (let i = 0; i < v.length; i++) children.push({ _tag: "visit", value: v[i], at: { parent: frame.at, key: i }, depth })
        } else {
          if (!isPlainObject(v)) return invalid(frame.at, "is not a plain JSON object")
          const keys = Object.keys(v)
          bytes += 2 + Math.max(0, keys.length - 1) + keys.length
          for (const k of keys) {
            if (bytes > cap) return { _tag: "over", bytes, exact: false }
            bytes += stringBytes(k)
            children.push({ _tag: "visit", value: v[k], at: { parent: frame.at, key: k }, depth })
          }
        }
        open.add(v)
        stack.push({ _tag: "leave", container: v })
        for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!)
        break
      }
      default:
        return invalid(frame.at, `is ${v === undefined ? "undefined" : `a ${typeof v}`}, not JSON`)
    }
    // A lone string is measured exactly whatever its size; structures stop at the cap.
    if (bytes > cap) return { _tag: "over", bytes, exact: stack.length === 0 }
  }
  return { _tag: "ok", bytes }
}

/**
 * The fast path of `measureJson` for the common case: plain JSON within every limit. Returns
 * the exact byte count, or -1 when the value needs the full walk (anything not JSON, too deep,
 * a cycle — it shows up as too deep —, over `budget` inside a structure; a lone string is
 * measured whatever its size), which then says what is wrong. Recursion
 * is bounded by `maxJsonDepth`, work by the byte limit (every value adds at least one byte).
 */
const quickJsonBytes = (value: unknown, depth: number, budget: number): number => {
  switch (typeof value) {
    case "string":
      return stringBytes(value)
    case "number":
      return Number.isFinite(value) ? JSON.stringify(value).length : -1
    case "boolean":
      return value ? 4 : 5
    case "object": {
      if (value === null) return 4
      if (depth >= maxJsonDepth) return -1
      if (Array.isArray(value)) {
        let bytes = 2 + Math.max(0, value.length - 1)
        if (bytes > budget) return -1
        for (let i = 0; i < value.length; i++) {
          const b = quickJsonBytes(value[i], depth + 1, budget - bytes)
          if (b < 0) return -1
          bytes += b
          if (bytes > budget) return -1
        }
        return bytes
      }
      if (!isPlainObject(value)) return -1
      const keys = Object.keys(value)
      let bytes = 2 + Math.max(0, keys.length - 1) + keys.length
      for (const k of keys) {
        if (bytes > budget) return -1
        bytes += stringBytes(k)
        const b = quickJsonBytes(value[k], depth + 1, budget - bytes)
        if (b < 0) return -1
        bytes += b
      }
      return bytes > budget ? -1 : bytes
    }
    default:
      return -1
  }
}

/** Checks a JSON value (`body` / `metadata`): JSON-only, ≤ 128 levels, ≤ 64 KiB encoded. */
const checkJson = (field: "body" | "metadata", value: unknown): Checked<void> => {
  const quick = quickJsonBytes(value, 0, maxBodyBytes)
  if (quick >= 0 && quick <= maxBodyBytes) return Either.void
  const m = measureJson(field, value, measureCap)
  switch (m._tag) {
    case "invalid":
      return fail("invalid_field", `${field} must be JSON: ${shown(m.at)} ${m.problem}`, field)
    case "over":
      return fail("too_large", `Message ${field} exceeds 64 KiB (${m.exact ? "" : "more than "}${m.exact ? m.bytes : measureCap} bytes)`, field)
    case "ok":
      return m.bytes > maxBodyBytes ? fail("too_large", `Message ${field} exceeds 64 KiB (${m.bytes} bytes)`, field) : Either.void
  }
}

/**
 * The UTF-8 byte length of a body's JSON encoding, as the 64 KiB limit counts it (a string body
 * counts with its quotes and escapes: `"héllo"` is 8 bytes). Undefined when it is not JSON.
 */
export const encodedBytes = (value: unknown): number | undefined => {
  const m = measureJson("value", value, Number.POSITIVE_INFINITY)
  return m._tag === "invalid" ? undefined : m.bytes
}

// ---------------------------------------------------------------------------------------------
// Field checks (shared by the Schemas and by `parseEnvelopeInput`, so both accept the same)

const checkAddressField = (field: string, value: unknown, role: "to" | "from"): Checked<string> => {
  if (value === undefined) return fail("invalid_address", `${field} is required`, field)
  if (typeof value !== "string") return fail("invalid_address", `${field} must be an address string`, field)
  const parsed = parseAddress(value)
  if (Either.isLeft(parsed)) {
    // `to` keeps pi-actors' bare texts; other fields say which field it was.
    return fail("invalid_address", field === "to" ? parsed.left.message : `${field}: ${parsed.left.message}`, field)
  }
  const text = formatAddress(parsed.right)
  if (isInspectOnly(parsed.right)) {
    return role === "to"
      ? fail("invalid_address", `${field === "to" ? "" : `${field}: `}Address ${text} is inspect only and cannot be messaged`, field)
      : fail("invalid_address", `${field}: Address ${text} is inspect only and cannot send messages`, field)
  }
  return Either.right(text)
}

const checkTo = (value: unknown): Checked<string> => checkAddressField("to", value, "to")

const checkFrom = (value: unknown): Checked<string> => checkAddressField("from", value, "from")

const checkType = (value: unknown): Checked<string> => {
  if (value === undefined) return fail("invalid_type", "type is required", "type")
  if (typeof value !== "string") return fail("invalid_type", "type must be a string", "type")
  if (!typePattern.test(value)) return fail("invalid_type", `Invalid message type: ${shown(value)} (types match ^[A-Za-z][A-Za-z0-9_.:-]*$)`, "type")
  return Either.right(value)
}

const checkText = (field: "summary" | "reply_to" | "correlation_id", value: unknown): Checked<string> =>
  typeof value === "string" ? Either.right(value) : fail("invalid_field", `${field} must be a string`, field)

/** A body: text, a JSON object or a JSON array. */
export type EnvelopeBody = string | { readonly [key: string]: unknown } | ReadonlyArray<unknown>

/** Envelope metadata: a JSON object (`recipients`, when present, is an array of address strings). */
export type EnvelopeMetadata = { readonly [key: string]: unknown }

const checkBody = (value: unknown): Checked<EnvelopeBody> => {
  if (typeof value !== "string" && (typeof value !== "object" || value === null)) {
    return fail("invalid_field", `body must be a string, object or array (got ${kindOf(value)})`, "body")
  }
  return Either.map(checkJson("body", value), () => value as EnvelopeBody)
}

const checkMetadata = (value: unknown): Checked<EnvelopeMetadata> =>
  Either.gen(function* () {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return yield* fail("invalid_field", "metadata must be a JSON object", "metadata")
    }
    yield* checkJson("metadata", value)
    const meta = value as Record<string, unknown>
    if (!Object.prototype.hasOwnProperty.call(meta, "recipients") || meta.recipients === undefined) return meta
    const recipients = meta.recipients
    if (!Array.isArray(recipients)) {
      return yield* fail("invalid_address", "metadata.recipients must be an array of address strings", "metadata.recipients")
    }
    const canonical: Array<string> = []
    for (let i = 0; i < recipients.length; i++) canonical.push(yield* checkAddressField(`metadata.recipients[${i}]`, recipients[i], "to"))
    return { ...meta, recipients: canonical }
  })

// ---------------------------------------------------------------------------------------------
// Schemas

const fromCheck = <A>(check: (u: unknown) => Checked<A>) => (u: unknown, _: SchemaAST.ParseOptions, ast: SchemaAST.AST) =>
  Either.mapLeft(check(u), (e) => new ParseResult.Type(ast, u, e.message))

/** `to`: a messageable address string, normalized to its canonical text (`room:x/main` → `room:x`). */
export const ToAddress = Schema.transformOrFail(Schema.String, Schema.String, {
  strict: true,
  decode: fromCheck(checkTo),
  encode: ParseResult.succeed
})

/** `from`: an address string that may send (not `vm:`, `recipes`, `session:all`), canonical. */
export const FromAddress = Schema.transformOrFail(Schema.String, Schema.String, {
  strict: true,
  decode: fromCheck(checkFrom),
  encode: ParseResult.succeed
})

/** A message type: `^[A-Za-z][A-Za-z0-9_.:-]*$` (dotted `channel.action` by convention). */
export const MessageType = Schema.String.pipe(
  Schema.filter((s) => Either.match(checkType(s), { onLeft: (e) => e.message, onRight: () => undefined }))
)

const BodyShape = Schema.Union(Schema.String, Schema.Array(Schema.Unknown), Schema.Record({ key: Schema.String, value: Schema.Unknown }))

/** `body`: a string, JSON object or JSON array of at most 65,536 encoded bytes. */
export const Body: Schema.Schema<EnvelopeBody> = Schema.transformOrFail(BodyShape, Schema.typeSchema(BodyShape), {
  strict: true,
  decode: fromCheck(checkBody),
  encode: ParseResult.succeed
})

const MetadataShape = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/** `metadata`: a JSON object of at most 65,536 encoded bytes; `recipients` normalized. */
export const Metadata: Schema.Schema<EnvelopeMetadata> = Schema.transformOrFail(MetadataShape, Schema.typeSchema(MetadataShape), {
  strict: true,
  decode: fromCheck(checkMetadata),
  encode: ParseResult.succeed
})

/**
 * What a sender writes. `to` and `type` are required; `from` is a claim the runtime replaces
 * with the verified sender when the sender is an actor process. Decode with
 * `decodeEnvelopeInput` (typed `EnvelopeError`s) or, at a Schema boundary, with
 * `Schema.decodeUnknown(EnvelopeInput, strictParse)` — both accept exactly the same inputs.
 */
export const EnvelopeInput = Schema.Struct({
  to: ToAddress,
  type: MessageType,
  from: Schema.optional(FromAddress),
  summary: Schema.optional(Schema.String),
  body: Schema.optional(Body),
  reply_to: Schema.optional(Schema.String),
  correlation_id: Schema.optional(Schema.String),
  metadata: Schema.optional(Metadata)
})
export type EnvelopeInput = typeof EnvelopeInput.Type

// ---------------------------------------------------------------------------------------------
// Message ids

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
          ? Effect.map(nextAt(now), (id) => stamped(input, options, id, now))
          : Effect.succeed(stamped(input, options, given, now))
      })
    return { next, nextAt, stamp: stampInput } as const
  })
}) {}

// ---------------------------------------------------------------------------------------------
// Stored envelopes

/**
 * Who vouches for a stored envelope's `from` (SPEC-messaging §2, "Who may speak as whom"):
 *
 * - `token`: an actor process; its run token decided `from` (its run or one of its branches);
 * - `outbox`: a line of a run's `{state_dir}/outbox.jsonl`, sent as that run (pi-actors'
 *   file outbox; the file lives in the run's own state directory);
 * - `runtime`: troupe itself (the `actor.join` a spawn posts to the run's default room);
 * - `session:<id>`: asserted by that session — as `coordinator` / `session:<id>`, or as a run it
 *   owns or one of that run's branches (pi-actors' room workflow: the coordinator posts
 *   `actor.join` for `branch:review/security`).
 *
 * pi-actors recorded no provenance; troupe adds it so `inspect` can tell a token-verified
 * `from` from one the owning session asserted.
 */
export const Sender = Schema.Union(
  Schema.Literal("token", "outbox", "runtime"),
  Schema.TemplateLiteral(Schema.Literal("session:"), Schema.String)
).annotations({ identifier: "troupe/Sender" })
export type Sender = typeof Sender.Type

/**
 * An envelope as the runtime stores and delivers it: the input fields plus `id` (a
 * `MessageId`), `received_at` (epoch ms, from `Clock`), `from` (the verified sender's
 * canonical address — the runtime's decision, not the text the sender wrote) and `sender`
 * (who vouches for that `from`, see {@link Sender}; always set by {@link stamp}, optional in
 * the schema only for envelopes built by hand).
 */
export class Envelope extends Schema.Class<Envelope>("troupe/Envelope")({
  id: MessageId,
  received_at: Schema.Int.pipe(Schema.nonNegative()),
  to: ToAddress,
  from: FromAddress,
  type: MessageType,
  summary: Schema.optional(Schema.String),
  body: Schema.optional(Body),
  reply_to: Schema.optional(Schema.String),
  correlation_id: Schema.optional(Schema.String),
  metadata: Schema.optional(Metadata),
  sender: Schema.optional(Sender)
}) {}

// ---------------------------------------------------------------------------------------------
// Decoding

const allowedText = envelopeFields.join(", ")

const unknownFields = (names: ReadonlyArray<string>): Checked<never> =>
  fail(
    "unknown_field",
    `Unknown envelope field${names.length > 1 ? "s" : ""}: ${names.slice(0, 5).map(shown).join(", ")}${names.length > 5 ? ", …" : ""} (allowed: ${allowedText})`,
    shown(names[0]!)
  )

const parseObject = (input: Record<string, unknown>): Checked<EnvelopeInput> =>
  Either.gen(function* () {
    const extra = Object.keys(input).filter((k) => !(envelopeFields as ReadonlyArray<string>).includes(k))
    if (extra.length > 0) return yield* unknownFields(extra)
    const out: { -readonly [K in keyof EnvelopeInput]: EnvelopeInput[K] } = {
      to: yield* checkTo(input.to),
      type: yield* checkType(input.type)
    }
    if (input.from !== undefined) out.from = yield* checkFrom(input.from)
    if (input.summary !== undefined) out.summary = yield* checkText("summary", input.summary)
    if (input.body !== undefined) out.body = yield* checkBody(input.body)
    if (input.reply_to !== undefined) out.reply_to = yield* checkText("reply_to", input.reply_to)
    if (input.correlation_id !== undefined) out.correlation_id = yield* checkText("correlation_id", input.correlation_id)
    if (input.metadata !== undefined) out.metadata = yield* checkMetadata(input.metadata)
    return out
  })

/**
 * Checks what a sender wrote, field by field in the order `to, type, from, summary, body,
 * reply_to, correlation_id, metadata` (unknown fields first), and reports the first problem.
 * Never throws, whatever `input` is (getters that throw, proxies, cycles). `to`, `from` and
 * `metadata.recipients` come back in canonical form.
 *
 * @returns the input, or an `EnvelopeError` (see its reasons).
 */
export const parseEnvelopeInput = (input: unknown): Either.Either<EnvelopeInput, EnvelopeError> => {
  try {
    if (!isPlainObject(input)) return fail("invalid_field", "Message envelope must be a JSON object")
    return parseObject(input)
  } catch {
    return fail("invalid_field", "Message envelope could not be read as JSON")
  }
}

/**
 * `parseEnvelopeInput` as an Effect: the boundary decoder of `message` (CLI, RPC, Pi tool,
 * `outbox.jsonl` lines).
 * @fails EnvelopeError
 */
export const decodeEnvelopeInput = (input: unknown): Effect.Effect<EnvelopeInput, EnvelopeError> =>
  Effect.suspend(() => parseEnvelopeInput(input))

// ---------------------------------------------------------------------------------------------
// key=value form

const pairForm = /^([A-Za-z_][A-Za-z0-9_.-]*)=([\s\S]*)$/
const metadataKey = /^[A-Za-z_][A-Za-z0-9_-]*$/

/** A value that parses as a JSON object or array is used as such; everything else is text. */
const jsonOrText = (raw: string): unknown => {
  if (/^\s*[[{]/.test(raw)) {
    try {
      const parsed: unknown = JSON.parse(raw)
      if (typeof parsed === "object" && parsed !== null) return parsed
    } catch {
      // plain text that starts with a bracket
    }
  }
  return raw
}

/**
 * Reads the pi-actors CLI form `troupe message to=run:x type=control.continue body=continue
 * metadata={…} metadata.recipients=[…]` into an envelope, then checks it like
 * `parseEnvelopeInput`.
 *
 * - keys: the envelope fields, or `metadata.<key>` (`<key>` matches `^[A-Za-z_][A-Za-z0-9_-]*$`)
 *   which sets one metadata key on top of `metadata=` (whatever the order);
 * - values of `body`, `metadata` and `metadata.<key>` that parse as a JSON object or array are
 *   used as JSON; every other value is text (`body=42` is the text `"42"`);
 * - a key given twice is an error, not "last wins".
 *
 * @returns the input, or an `EnvelopeError`: `invalid_field` for a word without `=`
 *   (`Invalid message argument: x (expected key=value)`) or a repeated key (`Duplicate
 *   message field: to`), `unknown_field` for other keys, then the errors of `parseEnvelopeInput`.
 */
export const parseEnvelopePairs = (pairs: ReadonlyArray<string>): Either.Either<EnvelopeInput, EnvelopeError> => {
  const fields: Record<string, unknown> = {}
  const meta: Record<string, unknown> = {}
  let hasMetaKeys = false
  const seen = new Set<string>()
  for (const pair of pairs) {
    const m = pairForm.exec(pair)
    if (m === null) return fail("invalid_field", `Invalid message argument: ${shown(pair)} (expected key=value)`)
    const key = m[1]!
    const raw = m[2]!
    if (seen.has(key)) return fail("invalid_field", `Duplicate message field: ${shown(key)}`, shown(key))
    seen.add(key)
    if (key.startsWith("metadata.")) {
      const sub = key.slice("metadata.".length)
      if (!metadataKey.test(sub)) {
        return fail("unknown_field", `Unknown envelope field: ${shown(key)} (metadata.<key> takes one key matching ^[A-Za-z_][A-Za-z0-9_-]*$)`, shown(key))
      }
      Object.defineProperty(meta, sub, { value: jsonOrText(raw), enumerable: true, writable: true, configurable: true })
      hasMetaKeys = true
    } else if ((envelopeFields as ReadonlyArray<string>).includes(key)) {
      fields[key] = key === "body" || key === "metadata" ? jsonOrText(raw) : raw
    } else {
      return unknownFields([key])
    }
  }
  if (hasMetaKeys) {
    if (fields.metadata === undefined) fields.metadata = meta
    else if (isPlainObject(fields.metadata)) fields.metadata = { ...fields.metadata, ...meta }
    // otherwise `metadata=` was not an object: parseEnvelopeInput says so
  }
  return parseEnvelopeInput(fields)
}

/**
 * `parseEnvelopePairs` as an Effect (`troupe message k=v …`, the Pi `message` tool's text form).
 * @fails EnvelopeError
 */
export const envelopeFromPairs = (pairs: ReadonlyArray<string>): Effect.Effect<EnvelopeInput, EnvelopeError> =>
  Effect.suspend(() => parseEnvelopePairs(pairs))

// ---------------------------------------------------------------------------------------------
// Stamping

/**
 * What {@link stamp} is told: the verified sender `from`, who vouches for it (`sender`, see
 * {@link Sender}) and, optionally, the id to use instead of a fresh one.
 */
export interface StampOptions {
  readonly from: MessageableAddress
  readonly sender: Sender
  readonly id?: MessageId | undefined
}

/**
 * Turns a checked input into the stored envelope: a fresh `MessageId` (or `options.id`), `received_at` = the
 * `Clock` reading the id was made from (epoch ms), `from` = the verified sender — whatever
 * `from` the sender wrote is replaced (pi-actors: the sending run's token decides, not its text)
 * — and `sender` = its provenance.
 */
export const stamp = (
  input: EnvelopeInput,
  options: StampOptions
): Effect.Effect<Envelope, never, MessageIds> => Effect.flatMap(MessageIds, (ids) => ids.stamp(input, options))

const stamped = (input: EnvelopeInput, options: StampOptions, id: MessageId, now: number): Envelope => {
  const fields: { -readonly [K in keyof Envelope]?: Envelope[K] } = {
    id,
    received_at: Math.max(0, Math.floor(now)),
    to: input.to,
    from: formatAddress(options.from),
    type: input.type
  }
  if (input.summary !== undefined) fields.summary = input.summary
  if (input.body !== undefined) fields.body = input.body
  if (input.reply_to !== undefined) fields.reply_to = input.reply_to
  if (input.correlation_id !== undefined) fields.correlation_id = input.correlation_id
  if (input.metadata !== undefined) fields.metadata = input.metadata
  fields.sender = options.sender
  // Every field was checked by parseEnvelopeInput (and from/id/received_at are ours): no
  // second validation on the hot path.
  return new Envelope(fields as ConstructorParameters<typeof Envelope>[0], true)
}
