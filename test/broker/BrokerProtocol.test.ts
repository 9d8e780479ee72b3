import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import fc from "fast-check"
import { encodeFrame, FrameDecoder, maxFrameBytes } from "../../src/broker/FrameCodec.js"
import { BrokerProtocolError, makeReader } from "../../src/services/internal/BrokerProtocol.js"

const frameTypes = ["hello", "started", "data", "eof", "exit", "error", "credit", "killed", "signaled", "reaped", "resolved", "pong", "fail", "fatal", "spawn", "x"]

/** Headers that look like frames: a known (or unknown) type and arbitrary JSON fields. */
const header = fc.record({
  t: fc.constantFrom(...frameTypes),
  id: fc.oneof(fc.nat(), fc.integer(), fc.string(), fc.constant(undefined)),
  req: fc.oneof(fc.nat(), fc.constant(undefined)),
  stream: fc.constantFrom("stdout", "stderr", "stdin", "other", undefined),
  code: fc.oneof(fc.integer(), fc.double(), fc.constant(null)),
  message: fc.oneof(fc.string(), fc.constant(undefined)),
  extra: fc.jsonValue({ maxDepth: 2 })
})

/** Splits `bytes` at the given (sorted, deduplicated) cut points. */
const split = (bytes: Uint8Array, cuts: ReadonlyArray<number>) => {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const out: Array<Uint8Array> = []
  let from = 0
  for (const point of points) {
    out.push(bytes.subarray(from, point))
    from = point
  }
  out.push(bytes.subarray(from))
  return out
}

describe("broker frame codec", () => {
  it("arbitrary bytes give frames or a typed error, never a throw", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 8 }), (pieces) => {
        const reader = makeReader()
        for (const piece of pieces) {
          const step = reader.push(piece)
          if (Either.isLeft(step)) {
            expect(step.left).toBeInstanceOf(BrokerProtocolError)
            expect(step.left.message).toMatch(/^the exec broker sent (a malformed|an invalid)/)
            // Poisoned: every later push answers the same error.
            expect(reader.push(new Uint8Array([0, 0, 0, 4, 0, 0, 0, 0]))).toEqual(step)
            return
          }
        }
      }),
      { numRuns: 2000 }
    )
  })

  it("well-framed arbitrary headers decode to a schema-checked frame or a typed error", () => {
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 64 }), (head, payload) => {
        const step = makeReader().push(encodeFrame(JSON.parse(JSON.stringify(head)), payload))
        if (Either.isRight(step)) {
          expect(step.right).toHaveLength(1)
          expect(step.right[0]!.frame.t).toBe(head.t)
          expect(Buffer.from(step.right[0]!.payload)).toEqual(Buffer.from(payload))
        } else {
          expect(step.left).toBeInstanceOf(BrokerProtocolError)
        }
      }),
      { numRuns: 2000 }
    )
  })

  it("frames survive any split of the byte stream, payload bytes unchanged and in order", () => {
    const data = fc.record({ id: fc.nat(), stream: fc.constantFrom("stdout", "stderr"), payload: fc.uint8Array({ maxLength: 300 }) })
    fc.assert(
      fc.property(fc.array(data, { minLength: 1, maxLength: 10 }), fc.array(fc.nat(), { maxLength: 20 }), (frames, cuts) => {
        const bytes = Buffer.concat(frames.map((f) => encodeFrame({ t: "data", id: f.id, stream: f.stream } as { t: string }, f.payload)))
        const reader = makeReader()
        const got = split(bytes, cuts).flatMap((piece) => Either.getOrThrow(reader.push(piece)))
        expect(got.map((g) => [g.frame, Buffer.from(g.payload)])).toEqual(
          frames.map((f) => [{ t: "data", id: f.id, stream: f.stream }, Buffer.from(f.payload)])
        )
      }),
      { numRuns: 500 }
    )
  })

  it("refuses impossible lengths at once instead of waiting for bytes that will not come", () => {
    const over = Buffer.alloc(8)
    over.writeUInt32BE(maxFrameBytes + 1, 0)
    expect(new FrameDecoder().push(over)).toMatchObject({ ok: false, error: `frame length ${maxFrameBytes + 1} is outside 4..${maxFrameBytes} bytes` })
    const headTooLong = Buffer.from([0, 0, 0, 6, 0, 0, 0, 9, 1, 2])
    expect(new FrameDecoder().push(headTooLong)).toMatchObject({ ok: false, error: "header length 9 exceeds the frame's 2 bytes" })
    const notObject = encodeFrame("[1]" as unknown as { t: string })
    expect(new FrameDecoder().push(notObject).ok).toBe(false)
  })
})
