/**
 * Captured output of one stream (stdout or stderr) of one leaf command.
 *
 * Capture keeps at most {@link captureLimitBytes} (1 MiB) in memory. When a stream grows past
 * that, the complete stream (from its first byte) is written to a spill file in the run's
 * state directory and only a bounded tail stays in memory. Consumers that need the complete
 * output (sequence piping, `troupe run` final stdout) read the spill file; consumers that
 * need a preview use {@link tailText}.
 *
 * Corresponds to pi-actors' "full output saved to" spill files.
 */
export interface CapturedOutput {
  /** Total bytes the stream produced. */
  readonly size: number
  /** The complete stream when `spill` is absent; otherwise the last bytes (≤ tail budget). */
  readonly bytes: Uint8Array
  /** Absolute path of the file holding the complete stream, when it exceeded the capture limit. */
  readonly spill?: string | undefined
  /**
   * The run log that holds the stream (with the run's other output, up to its limit) when it
   * exceeded the capture limit and no spill was written because nothing needed it complete.
   */
  readonly log?: string | undefined
}

/** Default size limit of each run log (`stdout.log`, `stderr.log`): 64 MiB. */
export const defaultMaxLogBytes = 64 * 1024 * 1024

/** In-memory capture per stream before spilling to disk: 1 MiB. */
export const captureLimitBytes = 1024 * 1024

/** Bytes kept in memory after a spill, enough for every tail view (≥ 50 KiB). */
export const spilledTailBytes = 64 * 1024

/** Model/CLI-facing tail bound: 50 KiB. */
export const tailMaxBytes = 50 * 1024

/** Model/CLI-facing tail bound: 2,000 lines. */
export const tailMaxLines = 2000

export const emptyOutput: CapturedOutput = { size: 0, bytes: new Uint8Array(0) }

/** Output built from bytes already in memory (never spilled). */
export const outputFromBytes = (bytes: Uint8Array): CapturedOutput => ({ size: bytes.length, bytes })

const isContinuation = (b: number) => (b & 0xc0) === 0x80

/**
 * The last at most `maxBytes` bytes of `bytes`, starting on a UTF-8 character boundary
 * (never a continuation byte), so decoding a tail never yields a replacement character
 * for a split sequence.
 */
export const utf8SafeTail = (bytes: Uint8Array, maxBytes: number): Uint8Array => {
  if (bytes.length <= maxBytes) return bytes
  let start = bytes.length - maxBytes
  while (start < bytes.length && isContinuation(bytes[start]!)) start++
  return bytes.subarray(start)
}

/**
 * The first at most `maxBytes` bytes of `bytes`, ending on a UTF-8 character boundary.
 */
export const utf8SafeHead = (bytes: Uint8Array, maxBytes: number): Uint8Array => {
  if (bytes.length <= maxBytes) return bytes
  let end = maxBytes
  while (end > 0 && isContinuation(bytes[end]!)) end--
  return bytes.subarray(0, end)
}

const decoder = new TextDecoder("utf-8")

/** Decodes bytes as UTF-8 (invalid sequences become U+FFFD). */
export const decodeUtf8 = (bytes: Uint8Array): string => decoder.decode(bytes)

export interface Tail {
  readonly text: string
  readonly truncated: boolean
  readonly totalLines: number
  readonly shownLines: number
  readonly totalBytes: number
  readonly shownBytes: number
}

/**
 * A bounded tail of `text`: at most `maxLines` lines and `maxBytes` UTF-8 bytes, cut on a
 * character boundary. `totalLines` counts the lines of `text` (a trailing newline does not
 * start a new line).
 */
export const boundedTail = (
  text: string,
  maxBytes: number = tailMaxBytes,
  maxLines: number = tailMaxLines,
  totalBytesHint?: number
): Tail => {
  const lines = text.split("\n")
  if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop()
  const totalLines = lines.length
  let kept = lines.length > maxLines ? lines.slice(lines.length - maxLines) : lines
  let joined = kept.join("\n")
  const encoded = new TextEncoder().encode(joined)
  let cut = false
  if (encoded.length > maxBytes) {
    cut = true
    joined = decodeUtf8(utf8SafeTail(encoded, maxBytes))
    const nl = joined.indexOf("\n")
    // Drop the partial first line so every shown line is whole.
    if (nl >= 0 && nl < joined.length - 1) joined = joined.slice(nl + 1)
    kept = joined.split("\n")
  }
  const totalBytes = totalBytesHint ?? new TextEncoder().encode(text).length
  const shownBytes = new TextEncoder().encode(joined).length
  return {
    text: joined,
    truncated: cut || kept.length < totalLines || (totalBytesHint !== undefined && totalBytesHint > encoded.length + 1),
    totalLines,
    shownLines: kept.length,
    totalBytes,
    shownBytes
  }
}

const kb = (n: number) => (n / 1024).toFixed(1)

/**
 * The spec's truncation notice:
 * `[Output truncated: <n> of <m> lines (<x>KB of <y>KB). Full output saved to: <path>]`.
 */
export const truncationNotice = (tail: Tail, path: string | undefined): string =>
  `[Output truncated: ${tail.shownLines} of ${tail.totalLines} lines (${kb(tail.shownBytes)}KB of ${kb(tail.totalBytes)}KB).` +
  (path === undefined ? "]" : ` Full output saved to: ${path}]`)
