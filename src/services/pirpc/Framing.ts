/**
 * JSONL framing of Pi's RPC stream (Pi's `docs/rpc.md`, "Framing"): records are split on LF
 * (byte 0x0A) only, one trailing CR is stripped, and each line is decoded as UTF-8 as a whole.
 * Never Node's `readline`, which also splits on U+2028/U+2029 — valid inside JSON strings.
 * Splitting on the byte, before decoding, is what keeps multi-byte characters cut across chunks
 * intact: 0x0A never occurs inside a UTF-8 multi-byte sequence.
 */
import { Chunk, Effect, Stream } from "effect"
import { PiRpcProtocolError, piRpcMessages } from "../../domain/PiRpc.js"

/** The longest line accepted (bytes, CR included): 64 MiB. A longer one fails the stream with `PiRpcProtocolError`. */
export const defaultMaxLineBytes = 64 * 1024 * 1024

const LF = 0x0a
const CR = 0x0d
const decoder = new TextDecoder("utf-8")
const encoder = new TextEncoder()

/**
 * The lines of `input` (without LF and one trailing CR). A last line without LF is emitted when
 * `input` ends. Parts of a line are kept as a list of chunks and joined once, so a 10 MB line
 * costs one copy.
 * @fails PiRpcProtocolError when a line exceeds `maxLineBytes`; `input`'s own error otherwise.
 */
export const splitLines = <E>(input: Stream.Stream<Uint8Array, E>, maxLineBytes = defaultMaxLineBytes): Stream.Stream<string, E | PiRpcProtocolError> =>
  Stream.suspend(() => {
    let parts: Array<Uint8Array> = []
    let partBytes = 0
    const takeLine = (last: Uint8Array): string => {
      let bytes: Uint8Array
      if (parts.length === 0) bytes = last
      else {
        bytes = new Uint8Array(partBytes + last.length)
        let at = 0
        for (const p of parts) {
          bytes.set(p, at)
          at += p.length
        }
        bytes.set(last, at)
      }
      parts = []
      partBytes = 0
      const end = bytes.length > 0 && bytes[bytes.length - 1] === CR ? bytes.length - 1 : bytes.length
      return decoder.decode(bytes.subarray(0, end))
    }
    const tooLong = () => new PiRpcProtocolError({ line: "", message: piRpcMessages.tooLong(maxLineBytes) })
    const lines = input.pipe(
      Stream.mapChunksEffect((chunks) => {
        const out: Array<string> = []
        for (const chunk of chunks) {
          let start = 0
          for (;;) {
            const lf = chunk.indexOf(LF, start)
            if (lf === -1) break
            if (partBytes + (lf - start) > maxLineBytes) return Effect.fail(tooLong())
            out.push(takeLine(chunk.subarray(start, lf)))
            start = lf + 1
          }
          if (start < chunk.length) {
            partBytes += chunk.length - start
            if (partBytes > maxLineBytes) return Effect.fail(tooLong())
            // Copy: the producer may reuse its buffer.
            parts.push(chunk.slice(start))
          }
        }
        return Effect.succeed(Chunk.unsafeFromArray(out))
      })
    )
    const rest = Stream.suspend(() => (partBytes > 0 ? Stream.make(takeLine(new Uint8Array(0))) : Stream.empty))
    return Stream.concat(lines, rest)
  })

/** One record as it goes on the wire: its JSON and an LF, as UTF-8 bytes. */
export const encodeLine = (record: unknown): Uint8Array => encoder.encode(`${JSON.stringify(record)}\n`)

/**
 * The JSON object on `line`.
 * @fails PiRpcProtocolError when the line is not JSON, not an object, or an object without a string `type`.
 */
export const parseRecord = (line: string): Effect.Effect<Record<string, unknown>, PiRpcProtocolError> =>
  Effect.suspend(() => {
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch {
      return Effect.fail(new PiRpcProtocolError({ line: line.slice(0, 200), message: piRpcMessages.notJson(line) }))
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return Effect.fail(new PiRpcProtocolError({ line: line.slice(0, 200), message: piRpcMessages.notJson(line) }))
    }
    return typeof (value as { type?: unknown }).type === "string"
      ? Effect.succeed(value as Record<string, unknown>)
      : Effect.fail(new PiRpcProtocolError({ line: line.slice(0, 200), message: piRpcMessages.noType(line) }))
  })
