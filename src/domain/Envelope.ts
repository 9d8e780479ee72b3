/**
 * Message envelopes (SPEC-messaging §2): what a sender writes (`EnvelopeInput`), what the
 * runtime stores (`Envelope` = input + `id`, `received_at` and the verified `from`; its
 * sortable `MessageId` format is in `MessageId.ts`, the `MessageIds` service that assigns them in
 * src/services/MessageIds.ts), and the pi-actors CLI `key=value` form.
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
import { Effect, Either, ParseResult, Schema, type SchemaAST } from "effect"
import { formatAddress, isInspectOnly, type MessageableAddress, parseAddress, shown } from "./Address.js"
import { MessageId } from "./MessageId.js"
import { encodedBytes, isPlainObject, kindOf, maxJsonDepth, measureJson, quickJsonBytes } from "./EnvelopeJson.js"

export { encodedBytes, maxJsonDepth }
export * from "./MessageId.js"

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

/** Structured values are measured exactly up to this many bytes; beyond it messages say "more than". */
const measureCap = 16 * maxBodyBytes

/** The pattern of message types: a letter, then letters, digits, `_ . : -` (`channel.action`). */
export const typePattern = /^[A-Za-z][A-Za-z0-9_.:-]*$/

/** The fields a sender may write, in the order they are checked. */
export const envelopeFields = ["to", "type", "from", "summary", "body", "reply_to", "correlation_id", "metadata"] as const

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
 * The stored envelope of a checked input: `id`, `received_at` = `now` (epoch ms, the `Clock`
 * reading the id was made from), `from` = the verified sender — whatever `from` the sender wrote
 * is replaced (pi-actors: the sending run's token decides, not its text) — and `sender` = its
 * provenance. `MessageIds.stamp` (src/services/MessageIds.ts) calls it with a fresh id.
 */
export const stampedEnvelope = (input: EnvelopeInput, options: StampOptions, id: MessageId, now: number): Envelope => {
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
