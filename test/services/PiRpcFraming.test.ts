import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Stream } from "effect"
import fc from "fast-check"
import { encodeLine, parseRecord, splitLines } from "../../src/services/PiRpc.js"

const encoder = new TextEncoder()

/** `bytes` cut at the given offsets (sorted, deduplicated), as a stream of chunks. */
const chunked = (bytes: Uint8Array, cuts: ReadonlyArray<number>) => {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const chunks: Array<Uint8Array> = []
  let at = 0
  for (const p of [...points, bytes.length]) {
    if (p > at) chunks.push(bytes.slice(at, p))
    at = Math.max(at, p)
  }
  return Stream.fromIterable(chunks)
}

const records = (input: Stream.Stream<Uint8Array>) =>
  splitLines(input).pipe(Stream.mapEffect(parseRecord), Stream.runCollect, Effect.map(Chunk.toArray))

/** Strings rich in what breaks naive framing: U+2028/U+2029, CR, LF, multi-byte and astral characters. */
const tricky = fc.string({
  unit: fc.oneof(
    fc.constantFrom("\u2028", "\u2029", "\r", "\n", "\r\n", "é", "€", "😀", "\u0000", "\""),
    fc.string({ unit: "grapheme", maxLength: 1 })
  ),
  maxLength: 30
})

const record = fc.record({
  type: fc.constantFrom("message_update", "response", "agent_settled", "x"),
  text: tricky,
  nested: fc.array(fc.record({ k: tricky, n: fc.integer() }), { maxLength: 3 })
})

describe("PiRpc framing (LF only, never readline)", () => {
  it.effect.prop(
    "records with U+2028/U+2029, CR and multi-byte characters, cut at any byte, come back exactly",
    [fc.array(record, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), fc.boolean()],
    ([objects, cuts, crlf]) =>
      Effect.gen(function* () {
        const text = objects.map((o) => `${JSON.stringify(o)}${crlf ? "\r\n" : "\n"}`).join("")
        const bytes = encoder.encode(text)
        expect(yield* records(chunked(bytes, cuts))).toEqual(objects)
      }),
    { fastCheck: { numRuns: 100 } }
  )

  it.effect("U+2028 and U+2029 are written raw and do not split a record", () =>
    Effect.gen(function* () {
      const object = { type: "t", text: "a\u2028b\u2029c" }
      const bytes = encodeLine(object)
      expect(new TextDecoder().decode(bytes)).toContain("\u2028")
      expect(yield* records(Stream.make(bytes))).toEqual([object])
    }))

  it.effect("a last record without LF is kept when the input ends; empty CRLF lines are empty strings", () =>
    Effect.gen(function* () {
      const lines = yield* splitLines(Stream.make(encoder.encode("a\r\n\r\nb"))).pipe(Stream.runCollect)
      expect(Chunk.toArray(lines)).toEqual(["a", "", "b"])
    }))

  it.effect("a 10 MB record arriving in 64 KB chunks is one record", () =>
    Effect.gen(function* () {
      const big = "é".repeat(5 * 1024 * 1024) // 10 MiB of UTF-8
      const bytes = encodeLine({ type: "message_update", delta: big })
      const chunks: Array<Uint8Array> = []
      for (let at = 0; at < bytes.length; at += 65_536) chunks.push(bytes.subarray(at, at + 65_536))
      const got = yield* records(Stream.fromIterable(chunks))
      expect(got).toHaveLength(1)
      expect((got[0] as { delta: string }).delta.length).toBe(big.length)
      expect((got[0] as { delta: string }).delta === big).toBe(true)
    }))

  it.effect("a line over the limit fails with PiRpcProtocolError", () =>
    Effect.gen(function* () {
      const exit = yield* splitLines(Stream.make(encoder.encode("x".repeat(100))), 50).pipe(Stream.runDrain, Effect.exit)
      expect(Exit.isFailure(exit) && String(exit.cause)).toMatch(/longer than 50 bytes/)
    }))

  it.effect("a line that is not a JSON object is a PiRpcProtocolError naming the line, shortened", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(parseRecord(`Debugger listening ${"x".repeat(300)}`))
      expect(error._tag).toBe("PiRpcProtocolError")
      expect(error.message).toMatch(/^Pi sent a line that is not a JSON object: Debugger listening x+…$/)
      expect(error.message.length).toBeLessThan(200)
      expect((yield* Effect.flip(parseRecord("[1,2]")))._tag).toBe("PiRpcProtocolError")
      expect((yield* Effect.flip(parseRecord('{"id":"1"}'))).message).toBe('Pi sent a record without a type: {"id":"1"}')
    }))
})
