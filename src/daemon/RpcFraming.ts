/**
 * The daemon socket's framing: newline-delimited JSON, as `@effect/rpc`'s `ndjson`
 * serialization, but linear in the bytes received and bounded per frame.
 *
 * `ndjson` re-scans its whole pending text for a newline on every chunk and keeps it as one
 * growing string, so a newline-less 15 MiB frame cost quadratic CPU and left the daemon at
 * 750 MB (issue 18). Here each byte is scanned once, pending bytes are kept as chunks and
 * joined only when a frame is complete, and a frame longer than {@link maxFrameBytes} fails
 * the connection as soon as it passes the limit (not when its newline finally arrives).
 */
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import { Layer } from "effect"

/** Largest frame either side accepts: 16 MiB (the ndjson default), in bytes. */
export const maxFrameBytes = 16 * 1024 * 1024

const newline = 0x0a
const encoder = new TextEncoder()

/**
 * One connection's decoder: `decode(chunk)` returns the frames the chunk completes.
 * @throws RpcSerializationError `BufferSizeExceeded` when a frame passes `limit` bytes, or the
 *   JSON.parse SyntaxError of a malformed frame (either ends the connection).
 */
export const makeFrameDecoder = (limit: number = maxFrameBytes) => {
  const decoder = new TextDecoder()
  let pending: Array<Uint8Array> = []
  let pendingBytes = 0
  const exceeded = (bufferSize: number) => {
    pending = []
    pendingBytes = 0
    return new RpcSerialization.RpcSerializationError({ reason: "BufferSizeExceeded", maxBufferSize: limit, bufferSize })
  }
  const complete = (last: Uint8Array): unknown => {
    let bytes = last
    if (pending.length > 0) {
      pending.push(last)
      bytes = Buffer.concat(pending, pendingBytes + last.length)
      pending = []
      pendingBytes = 0
    }
    return JSON.parse(decoder.decode(bytes))
  }
  return (data: Uint8Array | string): ReadonlyArray<unknown> => {
    const chunk = typeof data === "string" ? encoder.encode(data) : data
    const frames: Array<unknown> = []
    let start = 0
    for (let at = chunk.indexOf(newline); at !== -1; at = chunk.indexOf(newline, start)) {
      if (pendingBytes + at - start > limit) throw exceeded(pendingBytes + at - start)
      frames.push(complete(chunk.subarray(start, at)))
      start = at + 1
    }
    if (start < chunk.length) {
      const rest = chunk.length - start
      if (pendingBytes + rest > limit) throw exceeded(pendingBytes + rest)
      // Copied: the socket may reuse the chunk's memory.
      pending.push(chunk.slice(start))
      pendingBytes += rest
    }
    return frames
  }
}

const encode = (response: unknown): string | undefined => {
  if (!Array.isArray(response)) return JSON.stringify(response) + "\n"
  if (response.length === 0) return undefined
  let data = ""
  for (const item of response) data += JSON.stringify(item) + "\n"
  return data
}

/** The serialization both ends of the daemon socket use (`application/ndjson`, framed). */
export const ndjsonLinear: RpcSerialization.RpcSerialization["Type"] = RpcSerialization.RpcSerialization.of({
  contentType: "application/ndjson",
  includesFraming: true,
  unsafeMake: () => ({ decode: makeFrameDecoder(), encode })
})

/** Layer of {@link ndjsonLinear}. */
export const layer: Layer.Layer<RpcSerialization.RpcSerialization> = Layer.succeed(RpcSerialization.RpcSerialization, ndjsonLinear)
