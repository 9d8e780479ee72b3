/**
 * The exec broker's wire framing (docs/broker.md "Frames"), shared by the broker program and
 * `BrokerHost`. Plain Node: the broker is bundled into one dependency-free file, so nothing here
 * may import `effect` or any package.
 *
 * A frame is `u32 BE rest-length | u32 BE header-length | header (UTF-8 JSON object with a
 * string "t") | payload (raw bytes)`; `rest-length` counts everything after itself.
 */

/** Protocol version both sides announce in `hello`; a different number is refused. */
export const protocolVersion = 1

/** Largest `rest-length` accepted (header + payload + 4), in bytes: 1 MiB. */
export const maxFrameBytes = 1024 * 1024

/** Largest payload of one `data` / `write` frame, in bytes: 64 KiB. */
export const maxChunkBytes = 64 * 1024

/** Default per-stream flow-control window (bytes a side may send before credit returns): 256 KiB. */
export const defaultWindowBytes = 256 * 1024

/** Default limit of commands one broker runs at once: 256. */
export const defaultMaxCommands = 256

/** Environment variable the broker sets on every command to its unique marker. */
export const markerVariable = "TROUPE_LEAF_ID"

/** A frame before its header is interpreted: the parsed JSON header and the raw payload. */
export interface RawFrame {
  readonly header: { readonly t: string; readonly [key: string]: unknown }
  readonly payload: Uint8Array
}

/** Encodes one frame. `header` must be a JSON object with a string `t`. */
export const encodeFrame = (header: { readonly t: string }, payload?: Uint8Array): Buffer => {
  const head = Buffer.from(JSON.stringify(header), "utf8")
  const bodyLength = payload === undefined ? 0 : payload.length
  const out = Buffer.allocUnsafe(8 + head.length + bodyLength)
  out.writeUInt32BE(4 + head.length + bodyLength, 0)
  out.writeUInt32BE(head.length, 4)
  head.copy(out, 8)
  if (payload !== undefined && bodyLength > 0) out.set(payload, 8 + head.length)
  return out
}

/** Result of feeding bytes to a {@link FrameDecoder}: the frames completed, or why the stream is unusable. */
export type DecodeStep =
  | { readonly ok: true; readonly frames: ReadonlyArray<RawFrame> }
  | { readonly ok: false; readonly frames: ReadonlyArray<RawFrame>; readonly error: string }

/**
 * Incremental decoder of a byte stream into frames. Never throws: a frame with an impossible
 * length, a header that is not a JSON object with a string `t`, or bytes after an error yield
 * `ok: false` with a one-sentence reason (the framing is lost; the connection must end). Memory
 * held is at most one frame (≤ {@link maxFrameBytes} + 4 bytes) plus the last chunk pushed.
 */
export class FrameDecoder {
  private chunks: Array<Buffer> = []
  private held = 0
  private failed: string | undefined

  constructor(private readonly maxFrame: number = maxFrameBytes) {}

  /** Bytes received but not yet part of a complete frame. */
  get pending(): number {
    return this.held
  }

  push(chunk: Uint8Array): DecodeStep {
    if (this.failed !== undefined) return { ok: false, frames: [], error: this.failed }
    if (chunk.length > 0) {
      this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length))
      this.held += chunk.length
    }
    const frames: Array<RawFrame> = []
    for (;;) {
      if (this.held < 4) return { ok: true, frames }
      const rest = this.peekU32()
      if (rest < 4 || rest > this.maxFrame) {
        return this.fail(frames, `frame length ${rest} is outside 4..${this.maxFrame} bytes`)
      }
      if (this.held < 4 + rest) return { ok: true, frames }
      const frame = this.take(4 + rest)
      const headLength = frame.readUInt32BE(4)
      if (headLength > rest - 4) {
        return this.fail(frames, `header length ${headLength} exceeds the frame's ${rest - 4} bytes`)
      }
      let header: unknown
      try {
        header = JSON.parse(frame.toString("utf8", 8, 8 + headLength))
      } catch {
        return this.fail(frames, "frame header is not valid JSON")
      }
      if (typeof header !== "object" || header === null || Array.isArray(header) || typeof (header as { t?: unknown }).t !== "string") {
        return this.fail(frames, "frame header is not a JSON object with a string \"t\"")
      }
      frames.push({ header: header as RawFrame["header"], payload: frame.subarray(8 + headLength) })
    }
  }

  private fail(frames: ReadonlyArray<RawFrame>, error: string): DecodeStep {
    this.failed = error
    this.chunks = []
    this.held = 0
    return { ok: false, frames, error }
  }

  private peekU32(): number {
    const first = this.chunks[0]!
    if (first.length >= 4) return first.readUInt32BE(0)
    return this.take(4, true).readUInt32BE(0)
  }

  /** The next `n` held bytes as one buffer; consumed unless `peek`. */
  private take(n: number, peek = false): Buffer {
    const first = this.chunks[0]!
    if (first.length >= n) {
      if (peek) return first.subarray(0, n)
      if (first.length === n) this.chunks.shift()
      else this.chunks[0] = first.subarray(n)
      this.held -= n
      return first.subarray(0, n)
    }
    const all = Buffer.concat(this.chunks)
    if (peek) {
      this.chunks = [all]
      return all.subarray(0, n)
    }
    this.chunks = all.length > n ? [all.subarray(n)] : []
    this.held -= n
    return all.subarray(0, n)
  }
}
