/**
 * Message envelopes (SPEC-messaging §2): required fields, the type pattern, the 64 KiB body
 * limit counted in UTF-8 JSON bytes, metadata and recipients, unknown fields, the `key=value`
 * form, message id layout and order, and properties (no input throws or defects; the
 * Schema and the parser accept the same inputs; sizes are exact).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, Schema } from "effect"
import * as fc from "fast-check"
import {
  decodeEnvelopeInput,
  derivedMessageId,
  encodedBytes,
  Envelope,
  envelopeFromPairs,
  EnvelopeError,
  EnvelopeInput,
  formatMessageId,
  initialMessageIdState,
  maxBodyBytes,
  MessageId,
  messageIdMillis,
  nextMessageIdState,
  parseEnvelopeInput,
  parseEnvelopePairs,
  seqPerMs
} from "../../src/domain/Envelope.js"
import { strictParse } from "../../src/domain/Template.js"

const base = { to: "run:review", type: "control.continue" } as const

const ok = (input: unknown): EnvelopeInput => {
  const r = parseEnvelopeInput(input)
  if (Either.isLeft(r)) throw new Error(`expected an envelope, got ${r.left.reason}: ${r.left.message}`)
  return r.right
}

const err = (input: unknown): EnvelopeError => {
  const r = parseEnvelopeInput(input)
  if (Either.isRight(r)) throw new Error(`expected an EnvelopeError, got ${JSON.stringify(r.right)}`)
  return r.left
}

const expectError = (input: unknown, reason: EnvelopeError["reason"], message: string, field?: string) => {
  const e = err(input)
  expect(e).toBeInstanceOf(EnvelopeError)
  expect({ reason: e.reason, message: e.message }).toEqual({ reason, message })
  if (field !== undefined) expect(e.field).toBe(field)
  expect(e.message).not.toMatch(/\n/)
}

const allowed = "(allowed: to, type, from, summary, body, reply_to, correlation_id, metadata)"

describe("valid envelopes", () => {
  it("the SPEC example", () => {
    const spec = {
      to: "run:review",
      from: "coordinator",
      type: "control.continue",
      summary: "Continue after checkpoint",
      body: "continue",
      reply_to: "msg_123",
      correlation_id: "task_456",
      metadata: {}
    }
    expect(ok(spec)).toEqual(spec)
  })

  it("only to and type", () => {
    expect(ok(base)).toEqual(base)
  })

  it("object and array bodies, empty string body", () => {
    expect(ok({ ...base, body: { a: [1, "x", null, true, { b: -0.5 }] } }).body).toEqual({ a: [1, "x", null, true, { b: -0.5 }] })
    expect(ok({ ...base, body: [] }).body).toEqual([])
    expect(ok({ ...base, body: "" }).body).toBe("")
  })

  it("undefined fields count as absent", () => {
    const got = ok({ ...base, from: undefined, summary: undefined, body: undefined, metadata: undefined })
    expect(got).toEqual(base)
    expect(Object.keys(got)).toEqual(["to", "type"])
  })

  it("to, from and recipients come back canonical", () => {
    const got = ok({ to: " room:r/main ", type: "chat.message", from: "branch:r/a\n", metadata: { recipients: ["branch:r/b", " branch:r/c"], other: 1 } })
    expect(got).toEqual({ to: "room:r", type: "chat.message", from: "branch:r/a", metadata: { recipients: ["branch:r/b", "branch:r/c"], other: 1 } })
  })

  it.each(["run:r", "branch:r/a", "room:r", "coordinator", "session:s1", "tool:lint"])("to=%s is messageable", (to) => {
    expect(ok({ ...base, to }).to).toBe(to)
  })
})

describe("required fields and addresses", () => {
  it.each([
    [{ type: "x" }, "invalid_address", "to is required", "to"],
    [{ to: undefined, type: "x" }, "invalid_address", "to is required", "to"],
    [{ to: 42, type: "x" }, "invalid_address", "to must be an address string", "to"],
    [{ to: null, type: "x" }, "invalid_address", "to must be an address string", "to"],
    [{ to: "review", type: "x" }, "invalid_address", "Actor address must include kind: review", "to"],
    [{ to: "", type: "x" }, "invalid_address", "Actor address is required", "to"],
    [{ to: "file:x", type: "x" }, "invalid_address", "Unsupported actor address kind: file", "to"],
    [{ to: "room:r/side", type: "x" }, "invalid_address", "Rooms do not support named subrooms; use room:r.", "to"],
    [{ to: "branch:r", type: "x" }, "invalid_address", "branch id is required", "to"],
    [{ to: "vm:abc", type: "x" }, "invalid_address", "Address vm:abc is inspect only and cannot be messaged", "to"],
    [{ to: "recipes", type: "x" }, "invalid_address", "Address recipes is inspect only and cannot be messaged", "to"],
    [{ to: "session:all", type: "x" }, "invalid_address", "Address session:all is inspect only and cannot be messaged", "to"],
    [{ to: "run:r" }, "invalid_type", "type is required", "type"],
    [{ to: "run:r", type: 1 }, "invalid_type", "type must be a string", "type"],
    [{ ...base, from: 7 }, "invalid_address", "from must be an address string", "from"],
    [{ ...base, from: "file:x" }, "invalid_address", "from: Unsupported actor address kind: file", "from"],
    [{ ...base, from: "run:" }, "invalid_address", "from: run address is required", "from"],
    [{ ...base, from: "vm:abc" }, "invalid_address", "from: Address vm:abc is inspect only and cannot send messages", "from"],
    // to is checked before type
    [{}, "invalid_address", "to is required", "to"]
  ] as const)("%j → %s: %s", (input, reason, message, field) => {
    expectError(input, reason, message, field)
  })
})

describe("type pattern", () => {
  it.each(["control.continue", "a", "Z", "task.follow_up", "player:next", "x-y.z_w:v", "A1.2"])("%j is a type", (type) => {
    expect(ok({ ...base, type }).type).toBe(type)
  })

  it.each(["", "1abc", ".x", "_x", "-x", "a b", "é", "a/b", "a\nb", " control.continue", "control.continue "])("%j is not a type", (type) => {
    const e = err({ ...base, type })
    expect(e.reason).toBe("invalid_type")
    expect(e.field).toBe("type")
    expect(e.message).toMatch(/^Invalid message type: .* \(types match \^\[A-Za-z\]\[A-Za-z0-9_\.:-\]\*\$\)$/)
  })

  it("exact message", () => {
    expectError({ ...base, type: "1abc" }, "invalid_type", "Invalid message type: 1abc (types match ^[A-Za-z][A-Za-z0-9_.:-]*$)")
  })
})

describe("body", () => {
  it.each([
    [null, "null"],
    [42, "number"],
    [true, "boolean"]
  ] as const)("%j is not a body", (body, kind) => {
    expectError({ ...base, body }, "invalid_field", `body must be a string, object or array (got ${kind})`, "body")
  })

  // A string body counts with its quotes: "a" × 65,534 encodes to 65,536 bytes.
  const sizes: ReadonlyArray<readonly [name: string, body: unknown, bytes: number]> = [
    ["ASCII string at the limit", "a".repeat(65_534), 65_536],
    ["ASCII string one over", "a".repeat(65_535), 65_537],
    ["2-byte é × 32,767 at the limit", "é".repeat(32_767), 65_536],
    ["2-byte é × 32,767 + 1 byte over", "é".repeat(32_767) + "a", 65_537],
    ["3-byte € × 21,844 + é at the limit", "€".repeat(21_844) + "é", 65_536],
    ["3-byte € × 21,845 over", "€".repeat(21_845), 65_537],
    ["4-byte 😀 × 16,383 + 'ab' at the limit", "😀".repeat(16_383) + "ab", 65_536],
    ["4-byte 😀 × 16,384 over (counted in bytes, not UTF-16 units)", "😀".repeat(16_384), 65_538],
    ["escaped \\n × 32,767 at the limit", "\n".repeat(32_767), 65_536],
    ["escaped \\u0001 × 10,922 + 'aa' at the limit", "\u0001".repeat(10_922) + "aa", 65_536],
    ["escaped \\u0001 × 10,922 + 'aaa' over", "\u0001".repeat(10_922) + "aaa", 65_537],
    ["object at the limit", { a: "x".repeat(65_528) }, 65_536],
    ["object one over", { a: "x".repeat(65_529) }, 65_537],
    ["array at the limit", ["é".repeat(32_766)], 65_536],
    ["array one over", ["é".repeat(32_766) + "a"], 65_537],
    ["array of numbers at the limit", [10, ...Array.from({ length: 32_766 }, () => 1)], 65_536],
    ["array of numbers one over", [10, ...Array.from({ length: 32_767 }, () => 1)], 65_538],
    ["nested object at the limit", { k: { "ключ": ["é".repeat(32_755) + "aaa"] } }, 65_536]
  ]

  it.each(sizes)("%s (%#)", (_name, body, bytes) => {
    expect(encodedBytes(body)).toBe(bytes)
    expect(Buffer.byteLength(JSON.stringify(body), "utf8")).toBe(bytes)
    if (bytes <= maxBodyBytes) expect(ok({ ...base, body }).body).toEqual(body)
    else expectError({ ...base, body }, "too_large", `Message body exceeds 64 KiB (${bytes} bytes)`, "body")
  })

  it("a huge string body is measured exactly", () => {
    expectError({ ...base, body: "x".repeat(5_000_000) }, "too_large", "Message body exceeds 64 KiB (5000002 bytes)")
  })

  it("huge structures stop at 1 MiB of measuring", () => {
    expectError({ ...base, body: Array.from({ length: 200_000 }, () => "xxxxxxx") }, "too_large", "Message body exceeds 64 KiB (more than 1048576 bytes)")
    expectError({ ...base, body: new Array(1e9) }, "too_large", "Message body exceeds 64 KiB (more than 1048576 bytes)")
  })

  it("shared sub-objects do not blow up the work", () => {
    let node: unknown = { leaf: "x" }
    for (let i = 0; i < 60; i++) node = { l: node, r: node }
    // 2^60 leaves when written out: measuring stops at the cap instead of walking them
    expectError({ ...base, body: node }, "too_large", "Message body exceeds 64 KiB (more than 1048576 bytes)", "body")
  })

  it.each([
    [{ a: undefined }, "body must be JSON: body.a is undefined, not JSON"],
    [{ a: [1, () => 1] }, "body must be JSON: body.a[1] is a function, not JSON"],
    [{ n: Number.NaN }, "body must be JSON: body.n is NaN, not a JSON number"],
    [[Number.POSITIVE_INFINITY], "body must be JSON: body[0] is Infinity, not a JSON number"],
    [{ big: 1n }, "body must be JSON: body.big is a bigint, not JSON"],
    [{ "a b": new Date(0) }, 'body must be JSON: body["a b"] is not a plain JSON object'],
    [{ m: new Map() }, "body must be JSON: body.m is not a plain JSON object"],
    [[undefined], "body must be JSON: body[0] is undefined, not JSON"],
    [new Array(3), "body must be JSON: body[0] is undefined, not JSON"]
  ] as const)("%# is not JSON: %s", (body, message) => {
    expectError({ ...base, body }, "invalid_field", message, "body")
  })

  it("cycles are rejected, shared (acyclic) references are not", () => {
    const cyclic: Record<string, unknown> = { a: 1 }
    cyclic.self = { back: cyclic }
    expectError({ ...base, body: cyclic }, "invalid_field", "body must be JSON: body.self.back is a circular reference", "body")
    const shared = { x: 1 }
    expect(ok({ ...base, body: [shared, shared, { shared }] }).body).toEqual([{ x: 1 }, { x: 1 }, { shared: { x: 1 } }])
  })

  it("nesting: 128 levels are fine, 129 are not", () => {
    const nest = (n: number): unknown => {
      let v: unknown = "x"
      for (let i = 0; i < n; i++) v = [v]
      return v
    }
    expect(ok({ ...base, body: nest(128) }).body).toEqual(nest(128))
    const e = err({ ...base, body: nest(129) })
    expect(e.reason).toBe("invalid_field")
    expect(e.message.startsWith("body must be JSON: body[0][0]")).toBe(true)
    expect(e.message.endsWith("… is nested deeper than 128 levels")).toBe(true)
    expect(e.message.length).toBeLessThan(250)
    // depth is bounded, so deep input never overflows the stack (JSON.stringify fails at ~5,000)
    expect(err({ ...base, body: nest(100_000) }).reason).toBe("invalid_field")
  })
})

describe("text fields, metadata and recipients", () => {
  it.each([
    [{ ...base, summary: 3 }, "summary must be a string", "summary"],
    [{ ...base, reply_to: {} }, "reply_to must be a string", "reply_to"],
    [{ ...base, correlation_id: null }, "correlation_id must be a string", "correlation_id"]
  ] as const)("%j", (input, message, field) => {
    expectError(input, "invalid_field", message, field)
  })

  it.each([[[]], [["a"]], ["text"], [null], [3], [true]] as const)("metadata %j is not an object", (metadata) => {
    expectError({ ...base, metadata }, "invalid_field", "metadata must be a JSON object", "metadata")
  })

  it("metadata objects pass through", () => {
    expect(ok({ ...base, metadata: { a: { b: [1] }, recipients: [] } }).metadata).toEqual({ a: { b: [1] }, recipients: [] })
  })

  it("metadata is limited like the body", () => {
    expect(ok({ ...base, metadata: { k: "x".repeat(65_528) } }).metadata).toBeDefined()
    expectError({ ...base, metadata: { k: "x".repeat(65_529) } }, "too_large", "Message metadata exceeds 64 KiB (65537 bytes)", "metadata")
    expectError({ ...base, metadata: { k: undefined } }, "invalid_field", "metadata must be JSON: metadata.k is undefined, not JSON", "metadata")
  })

  it.each([
    [{ recipients: "branch:r/a" }, "invalid_address", "metadata.recipients must be an array of address strings", "metadata.recipients"],
    [{ recipients: { a: 1 } }, "invalid_address", "metadata.recipients must be an array of address strings", "metadata.recipients"],
    [{ recipients: null }, "invalid_address", "metadata.recipients must be an array of address strings", "metadata.recipients"],
    [{ recipients: ["branch:r/a", 3] }, "invalid_address", "metadata.recipients[1] must be an address string", "metadata.recipients[1]"],
    [{ recipients: ["branch:r/a", "nope"] }, "invalid_address", "metadata.recipients[1]: Actor address must include kind: nope", "metadata.recipients[1]"],
    [{ recipients: ["branch:r/a/b"] }, "invalid_address", "metadata.recipients[0]: Branch address has too many parts", "metadata.recipients[0]"],
    [{ recipients: ["vm:x"] }, "invalid_address", "metadata.recipients[0]: Address vm:x is inspect only and cannot be messaged", "metadata.recipients[0]"]
  ] as const)("metadata %j", (metadata, reason, message, field) => {
    expectError({ ...base, metadata }, reason, message, field)
  })
})

describe("unknown fields and non-objects", () => {
  it("an unknown field is named, not dropped", () => {
    expectError({ ...base, priority: 1 }, "unknown_field", `Unknown envelope field: priority ${allowed}`, "priority")
  })

  it("runtime-assigned fields are unknown to senders", () => {
    expectError({ ...base, id: "msg_1" }, "unknown_field", `Unknown envelope field: id ${allowed}`, "id")
    expectError({ ...base, received_at: 1 }, "unknown_field", `Unknown envelope field: received_at ${allowed}`, "received_at")
  })

  it("several unknown fields are all named (the first is the field)", () => {
    expectError({ ...base, b: 1, a: 2 }, "unknown_field", `Unknown envelope fields: b, a ${allowed}`, "b")
  })

  it("unknown fields are reported before other problems", () => {
    expectError({ extra: true }, "unknown_field", `Unknown envelope field: extra ${allowed}`)
  })

  it.each([["text"], [[]], [[base]], [null], [undefined], [42], [new Date(0)]] as const)("%j is not an envelope", (input) => {
    expectError(input, "invalid_field", "Message envelope must be a JSON object")
  })

  it("a getter that throws is an EnvelopeError, not a throw", () => {
    const input = { ...base }
    Object.defineProperty(input, "body", { enumerable: true, get: () => { throw new Error("boom") } })
    expectError(input, "invalid_field", "Message envelope could not be read as JSON")
  })

  it("decodeEnvelopeInput fails with EnvelopeError in the error channel", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(decodeEnvelopeInput({ to: "review", type: "x" }))
      expect(e._tag).toBe("EnvelopeError")
      expect(e.message).toBe("Actor address must include kind: review")
      expect(yield* decodeEnvelopeInput(base)).toEqual(base)
    }).pipe(Effect.runSync))

  it("the EnvelopeInput Schema agrees (strict: unknown fields are errors)", () => {
    const decode = Schema.decodeUnknownEither(EnvelopeInput, strictParse)
    expect(decode({ to: "room:r/main", type: "x" })).toEqual(Either.right({ to: "room:r", type: "x" }))
    expect(Either.isLeft(decode({ ...base, priority: 1 }))).toBe(true)
    const tooBig = decode({ ...base, body: "a".repeat(65_535) })
    expect(Either.isLeft(tooBig) && tooBig.left.message).toContain("Message body exceeds 64 KiB (65537 bytes)")
  })
})

describe("key=value pairs (pi-actors CLI form)", () => {
  const cases: ReadonlyArray<readonly [name: string, pairs: ReadonlyArray<string>, expected: unknown]> = [
    ["to, type, text body", ["to=run:x", "type=control.continue", "body=continue"], { to: "run:x", type: "control.continue", body: "continue" }],
    ["JSON object body", ["to=run:x", "type=t", 'body={"a":[1,2]}'], { to: "run:x", type: "t", body: { a: [1, 2] } }],
    ["JSON array body", ["to=run:x", "type=t", "body=[1, 2]"], { to: "run:x", type: "t", body: [1, 2] }],
    ["text that looks like a bracket stays text", ["to=run:x", "type=t", "body=[WIP] fix it"], { to: "run:x", type: "t", body: "[WIP] fix it" }],
    ["numbers and JSON strings stay text", ["to=run:x", "type=t", "body=42"], { to: "run:x", type: "t", body: "42" }],
    ["quoted JSON string stays text", ["to=run:x", "type=t", 'body="hi"'], { to: "run:x", type: "t", body: '"hi"' }],
    ["= inside a value", ["to=run:x", "type=t", "body=a=b=c"], { to: "run:x", type: "t", body: "a=b=c" }],
    ["empty body", ["to=run:x", "type=t", "body="], { to: "run:x", type: "t", body: "" }],
    ["multi-line body", ["to=run:x", "type=t", "body=line 1\nline 2"], { to: "run:x", type: "t", body: "line 1\nline 2" }],
    ["summary stays text even when JSON", ["to=run:x", "type=t", "summary={}"], { to: "run:x", type: "t", summary: "{}" }],
    [
      "all fields",
      ["to=room:r/main", "from=branch:r/a", "type=chat.message", "summary=hi", "body=hello", "reply_to=msg_1", "correlation_id=c1", 'metadata={"k":1}'],
      { to: "room:r", from: "branch:r/a", type: "chat.message", summary: "hi", body: "hello", reply_to: "msg_1", correlation_id: "c1", metadata: { k: 1 } }
    ],
    [
      "metadata.recipients",
      ["to=room:r", "type=chat.message", 'metadata.recipients=["branch:r/a", "branch:r/b"]'],
      { to: "room:r", type: "chat.message", metadata: { recipients: ["branch:r/a", "branch:r/b"] } }
    ],
    [
      "metadata.<key> on top of metadata=, whatever the order",
      ["to=run:x", "type=t", "metadata.b=2", 'metadata={"a":1,"b":1}', "metadata.c={}"],
      { to: "run:x", type: "t", metadata: { a: 1, b: "2", c: {} } }
    ],
    ["metadata.__proto__ is an own key", ["to=run:x", "type=t", "metadata.__proto__=x"], { to: "run:x", type: "t", metadata: JSON.parse('{"__proto__":"x"}') }]
  ]

  it.each(cases)("%s", (_name, pairs, expected) => {
    expect(Either.getOrThrow(parseEnvelopePairs(pairs))).toEqual(expected)
  })

  const failures: ReadonlyArray<readonly [pairs: ReadonlyArray<string>, reason: EnvelopeError["reason"], message: string]> = [
    [[], "invalid_address", "to is required"],
    [["type=t"], "invalid_address", "to is required"],
    [["to=run:x"], "invalid_type", "type is required"],
    [["to=run:x", "type=t", "continue"], "invalid_field", "Invalid message argument: continue (expected key=value)"],
    [["to=run:x", "type=t", "=x"], "invalid_field", "Invalid message argument: =x (expected key=value)"],
    [["to=run:x", "type=t", "to=run:y"], "invalid_field", "Duplicate message field: to"],
    [["to=run:x", "type=t", "metadata.a=1", "metadata.a=2"], "invalid_field", "Duplicate message field: metadata.a"],
    [["to=run:x", "type=t", "priority=high"], "unknown_field", `Unknown envelope field: priority ${allowed}`],
    [["to=run:x", "type=t", "metadata.a.b=1"], "unknown_field", "Unknown envelope field: metadata.a.b (metadata.<key> takes one key matching ^[A-Za-z_][A-Za-z0-9_-]*$)"],
    [["to=run:x", "type=t", "metadata.=1"], "unknown_field", "Unknown envelope field: metadata. (metadata.<key> takes one key matching ^[A-Za-z_][A-Za-z0-9_-]*$)"],
    [["to=review", "type=t"], "invalid_address", "Actor address must include kind: review"],
    [["to=run:x", "type=1t"], "invalid_type", "Invalid message type: 1t (types match ^[A-Za-z][A-Za-z0-9_.:-]*$)"],
    [["to=run:x", "type=t", "metadata=oops"], "invalid_field", "metadata must be a JSON object"],
    [["to=run:x", "type=t", "metadata=[1]"], "invalid_field", "metadata must be a JSON object"],
    [["to=run:x", "type=t", "metadata=oops", "metadata.a=1"], "invalid_field", "metadata must be a JSON object"],
    [["to=run:x", "type=t", "metadata.recipients=branch:x/a"], "invalid_address", "metadata.recipients must be an array of address strings"],
    [["to=run:x", "type=t", 'metadata.recipients=["branch:x/a","oops"]'], "invalid_address", "metadata.recipients[1]: Actor address must include kind: oops"],
    [["to=run:x", "type=t", `body=${"a".repeat(65_535)}`], "too_large", "Message body exceeds 64 KiB (65537 bytes)"]
  ]

  it.each(failures)("%j → %s: %s", (pairs, reason, message) => {
    const r = parseEnvelopePairs(pairs)
    expect(Either.isLeft(r)).toBe(true)
    if (Either.isLeft(r)) expect({ reason: r.left.reason, message: r.left.message }).toEqual({ reason, message })
  })

  it.effect("envelopeFromPairs is the Effect form", () =>
    Effect.gen(function* () {
      expect(yield* envelopeFromPairs(["to=run:x", "type=t"])).toEqual({ to: "run:x", type: "t" })
      expect((yield* Effect.flip(envelopeFromPairs(["nope"]))).reason).toBe("invalid_field")
    }))
})

describe("message ids", () => {
  it("the state never goes back: a clock stepping back keeps counting in the last millisecond", () => {
    let s = nextMessageIdState(initialMessageIdState, 5_000)
    expect(s).toEqual({ ms: 5_000, seq: 0 })
    s = nextMessageIdState(s, 4_000)
    expect(s).toEqual({ ms: 5_000, seq: 1 })
    s = nextMessageIdState(s, 5_000)
    expect(s).toEqual({ ms: 5_000, seq: 2 })
    s = nextMessageIdState(s, 5_001)
    expect(s).toEqual({ ms: 5_001, seq: 0 })
  })

  it("a full millisecond borrows the next one", () => {
    const full = { ms: 10, seq: seqPerMs - 1 }
    const next = nextMessageIdState(full, 10)
    expect(next).toEqual({ ms: 11, seq: 0 })
    expect(formatMessageId(full, 36 ** 8 - 1) < formatMessageId(next, 0)).toBe(true)
  })

  it("id layout: msg_ + 9 time digits + 4 sequence digits + 8 random digits", () => {
    expect(formatMessageId({ ms: 0, seq: 0 }, 0)).toBe("msg_000000000000000000000")
    expect(formatMessageId({ ms: 1_700_000_000_000, seq: 35 }, 36 ** 8 - 1)).toBe(`msg_${(1_700_000_000_000).toString(36).padStart(9, "0")}000zzzzzzzzz`)
    expect(messageIdMillis(formatMessageId({ ms: 1_700_000_000_000, seq: 3 }, 77))).toBe(1_700_000_000_000)
  })

  it.prop("string order of ids is (ms, seq) order", [fc.tuple(fc.nat(36 ** 9 - 1), fc.nat(seqPerMs - 1), fc.nat(36 ** 8 - 1)), fc.tuple(fc.nat(36 ** 9 - 1), fc.nat(seqPerMs - 1), fc.nat(36 ** 8 - 1))], ([[m1, s1, r1], [m2, s2, r2]]) => {
    const a = formatMessageId({ ms: m1, seq: s1 }, r1)
    const b = formatMessageId({ ms: m2, seq: s2 }, r2)
    if (m1 < m2 || (m1 === m2 && s1 < s2)) expect(a < b).toBe(true)
    expect(a.length).toBe(25)
  })
})

describe("derived message ids (multicast copies)", () => {
  it("keep the original's time and sequence digits, are valid ids, and depend only on (id, salt)", () => {
    const original = formatMessageId({ ms: 1_700_000_000_000, seq: 7 }, 12345) as MessageId
    const a = derivedMessageId(original, "branch:r/a")
    const b = derivedMessageId(original, "branch:r/b")
    expect(Schema.is(MessageId)(a)).toBe(true)
    expect(a.slice(0, 17)).toBe(original.slice(0, 17))
    expect(messageIdMillis(a)).toBe(1_700_000_000_000)
    expect(derivedMessageId(original, "branch:r/a")).toBe(a)
    expect(new Set([original, a, b]).size).toBe(3)
    expect(derivedMessageId(formatMessageId({ ms: 1_700_000_000_000, seq: 8 }, 12345) as MessageId, "branch:r/a")).not.toBe(a)
  })
})

describe("stored envelopes", () => {
  it("the Envelope Schema validates stored rows", () => {
    const decode = Schema.decodeUnknownEither(Envelope, strictParse)
    const row = { id: "msg_000000000000000000000", received_at: 0, to: "run:r", from: "coordinator", type: "t" }
    expect(Either.isRight(decode(row))).toBe(true)
    expect(Either.isLeft(decode({ ...row, id: "msg_123" }))).toBe(true)
    expect(Either.isLeft(decode({ ...row, from: "vm:x" }))).toBe(true)
    expect(Either.isLeft(decode({ ...row, extra: 1 }))).toBe(true)
    for (const sender of ["token", "outbox", "runtime", "session:s1"]) expect(Either.isRight(decode({ ...row, sender }))).toBe(true)
    for (const sender of ["", "session", "root", 1]) expect(Either.isLeft(decode({ ...row, sender }))).toBe(true)
  })
})

// ---------------------------------------------------------------------------------------------
// Properties

const mostly = <A>(good: fc.Arbitrary<A>, bad: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> =>
  fc.oneof({ arbitrary: good, weight: 6 }, { arbitrary: bad, weight: 1 })
const addressText = mostly(
  fc.constantFrom("run:r", "branch:r/a", "room:r", " room:r/main", "coordinator", "session:s", "session:all", "tool:t", "vm:v", "recipes"),
  fc.string({ maxLength: 12 })
)
const messageable = fc.constantFrom("run:r", "branch:r/a", "room:r", "room:r/main", "coordinator", "session:s", "tool:t")
const typeText = mostly(fc.constantFrom("control.continue", "chat.message", "t", "a:b-c_d"), fc.string({ maxLength: 8 }))
const anyJson = fc.jsonValue({ maxDepth: 4 })
const fieldValue = fc.oneof(anyJson, fc.anything({ maxDepth: 2 }))

/**
 * Envelope-shaped objects: mostly plausible values (so every check is reached, and many are
 * valid), sometimes arbitrary ones, sometimes a missing required field or an extra field.
 */
const envelopeish = fc
  .tuple(
    fc.record(
      {
        to: mostly(messageable, fc.oneof(addressText, fieldValue)),
        type: mostly(typeText, fieldValue),
        from: mostly(messageable, fc.oneof(addressText, fieldValue)),
        summary: mostly(fc.string(), fieldValue),
        body: mostly(fc.oneof(fc.string(), fc.array(anyJson, { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), anyJson, { maxKeys: 3 })), fieldValue),
        reply_to: mostly(fc.string(), fieldValue),
        correlation_id: mostly(fc.string(), fieldValue),
        metadata: mostly(
          fc.oneof(
            fc.record({ recipients: mostly(fc.array(addressText, { maxLength: 3 }), fieldValue) }, { requiredKeys: [] }),
            fc.dictionary(fc.string({ maxLength: 5 }), anyJson, { maxKeys: 3 })
          ),
          fieldValue
        )
      },
      { requiredKeys: ["to", "type"] }
    ),
    fc.oneof({ arbitrary: fc.constant(null), weight: 9 }, { arbitrary: fc.dictionary(fc.string({ maxLength: 4 }), fieldValue, { minKeys: 1, maxKeys: 2 }), weight: 1 }),
    fc.nat(19)
  )
  .map(([envelope, extra, drop]) => {
    const out: Record<string, unknown> = { ...(extra ?? {}), ...envelope }
    if (drop === 0) delete out.to
    if (drop === 1) delete out.type
    return out
  })

const anyInput = fc.oneof(fc.jsonValue(), fc.anything(), envelopeish)

describe("properties", () => {
  it.effect.prop("any input decodes to an envelope or fails with an EnvelopeError, never a defect", [anyInput], ([input]) =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(decodeEnvelopeInput(input))
      if (Exit.isFailure(exit)) {
        expect(exit.cause._tag).toBe("Fail")
        if (exit.cause._tag === "Fail") {
          expect(exit.cause.error).toBeInstanceOf(EnvelopeError)
          expect(exit.cause.error.message).not.toMatch(/\n/)
        }
      }
    }), { fastCheck: { numRuns: 300 } })

  it.prop("parseEnvelopeInput never throws, on many more inputs", [anyInput], ([input]) => {
    const r = parseEnvelopeInput(input)
    if (Either.isLeft(r)) expect(r.left).toBeInstanceOf(EnvelopeError)
    else expect(Object.keys(r.right).every((k) => (["to", "type", "from", "summary", "body", "reply_to", "correlation_id", "metadata"] as ReadonlyArray<string>).includes(k))).toBe(true)
  }, { fastCheck: { numRuns: 3000 } })

  it.prop("the Schema (strict) and the parser accept the same inputs, with the same result", [fc.oneof(envelopeish, fc.jsonValue())], ([input]) => {
    const parsed = parseEnvelopeInput(input)
    const decoded = Schema.decodeUnknownEither(EnvelopeInput, strictParse)(input)
    expect(Either.isRight(decoded)).toBe(Either.isRight(parsed))
    if (Either.isRight(parsed) && Either.isRight(decoded)) expect(decoded.right).toEqual(parsed.right)
  }, { fastCheck: { numRuns: 1000 } })

  it.prop("encodedBytes is the UTF-8 length of JSON.stringify", [fc.jsonValue({ maxDepth: 6 })], ([value]) => {
    expect(encodedBytes(value)).toBe(Buffer.byteLength(JSON.stringify(value), "utf8"))
  }, { fastCheck: { numRuns: 1000 } })

  it.prop("string bodies: accepted exactly when their JSON encoding fits in 65,536 bytes", [fc.fullUnicodeString({ maxLength: 40 }), fc.integer({ min: 65_400, max: 65_600 })], ([unit, target]) => {
    const unitBytes = Buffer.byteLength(JSON.stringify(unit), "utf8") - 2
    const body = unitBytes === 0 ? "a".repeat(target) : unit.repeat(Math.floor(target / unitBytes))
    const bytes = Buffer.byteLength(JSON.stringify(body), "utf8")
    expect(Either.isRight(parseEnvelopeInput({ ...base, body }))).toBe(bytes <= maxBodyBytes)
  }, { fastCheck: { numRuns: 200 } })

  it.prop("key=value words never throw", [fc.array(fc.oneof(fc.string(), fc.constantFrom("to=run:x", "type=t", "body={\"a\":1}", "metadata.recipients=[\"branch:x/a\"]", "metadata=[]")), { maxLength: 6 })], ([pairs]) => {
    const r = parseEnvelopePairs(pairs)
    if (Either.isLeft(r)) expect(r.left).toBeInstanceOf(EnvelopeError)
  }, { fastCheck: { numRuns: 1000 } })
})
