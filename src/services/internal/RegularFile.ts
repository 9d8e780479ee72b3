/**
 * Reads a file only when it is a regular file, with a bound on the bytes actually read: the
 * recipe roots are user-writable folders, so a FIFO, a socket, a device or a symlink to
 * `/dev/zero` named `x.json` must be a diagnostic, never a hang or an unbounded read.
 *
 * Order: `lstat` (a non-regular entry that is not a symlink is refused without opening it),
 * then `open` with `O_NONBLOCK` (opening a FIFO never waits for a writer, even if the entry was
 * swapped after the `lstat`), then `fstat` on the descriptor (a symlink is followed only to a
 * regular file), then reads of at most `maxBytes + 1` bytes, whatever `stat` says.
 */
import { Data, Effect } from "effect"
import { constants } from "node:fs"
import * as fsp from "node:fs/promises"

/**
 * Why a file was not read: `missing` (no such file or unreadable), `not_regular` (a FIFO,
 * socket, device or directory, or a symlink to one), `too_large` (more than `maxBytes` bytes).
 * `message` is one sentence naming the path.
 */
export class RegularFileError extends Data.TaggedError("RegularFileError")<{
  readonly reason: "missing" | "not_regular" | "too_large"
  readonly message: string
}> {}

const kind = (s: { isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isDirectory(): boolean }) =>
  s.isFIFO()
    ? "a FIFO"
    : s.isSocket()
      ? "a socket"
      : s.isCharacterDevice() || s.isBlockDevice()
        ? "a device"
        : s.isDirectory()
          ? "a directory"
          : "not a regular file"

const notRegular = (file: string, what: string) =>
  new RegularFileError({ reason: "not_regular", message: `${file} is ${what}, not a regular file; only regular files are read` })

const readBounded = async (file: string, maxBytes: number): Promise<Uint8Array | RegularFileError> => {
  const entry = await fsp.lstat(file)
  if (!entry.isFile() && !entry.isSymbolicLink()) return notRegular(file, kind(entry))
  // O_NOFOLLOW is not used: a symlink to a regular file is allowed; fstat decides below.
  const handle = await fsp.open(file, constants.O_RDONLY | constants.O_NONBLOCK | (constants.O_NOCTTY ?? 0))
  try {
    const info = await handle.stat()
    if (!info.isFile()) return notRegular(file, entry.isSymbolicLink() ? `a symlink to ${kind(info)}` : kind(info))
    const chunks: Array<Uint8Array> = []
    let total = 0
    for (;;) {
      const want = Math.min(64 * 1024, maxBytes + 1 - total)
      const buffer = new Uint8Array(want)
      const { bytesRead } = await handle.read(buffer, 0, want, null)
      if (bytesRead === 0) break
      chunks.push(buffer.subarray(0, bytesRead))
      total += bytesRead
      if (total > maxBytes) return new RegularFileError({ reason: "too_large", message: `${file} is larger than ${maxBytes} bytes` })
    }
    return Buffer.concat(chunks, total)
  } finally {
    await handle.close()
  }
}

/**
 * The bytes of `file` (at most `maxBytes`), read only when it is a regular file or a symlink
 * to one.
 * @fails RegularFileError `missing` (ENOENT, EACCES, …), `not_regular`, `too_large`
 *   (more than `maxBytes` bytes actually read; `stat` sizes are not trusted).
 */
export const readRegularFile = (file: string, maxBytes: number): Effect.Effect<Uint8Array, RegularFileError> =>
  Effect.tryPromise({
    try: () => readBounded(file, maxBytes),
    catch: (e) => new RegularFileError({ reason: "missing", message: `Cannot read ${file}: ${e instanceof Error ? e.message : String(e)}` })
  }).pipe(Effect.flatMap((r) => (r instanceof RegularFileError ? Effect.fail(r) : Effect.succeed(r))))
