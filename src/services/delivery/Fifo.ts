/**
 * Writing one line to an actor's `control.fifo` (SPEC-messaging §4 `fifo` delivery, pi-actors
 * compatible): only when the file is a FIFO that a process holds open for reading — opening
 * for write without blocking tells (`ENXIO` = nobody reads), so a message is never written
 * into the void and never blocks the runtime.
 */
import { Duration, Effect } from "effect"
import { constants } from "node:fs"
import { open, stat } from "node:fs/promises"

/** How a line write ended: written, no process reading the FIFO, or no FIFO at the path. */
export type FifoWrite = "written" | "no_reader" | "absent"

/** How long a full pipe may stall one line before the write gives up: 2 s. */
export const fifoStallMs = 2_000

const code = (e: unknown) => (e as { code?: string } | null)?.code

/**
 * Writes `line` (a newline is added) to the FIFO at `file`.
 * Lines up to the pipe's atomic size (4 KiB) never interleave with other writers; longer ones
 * are written in pieces, retrying while the pipe is full, for at most {@link fifoStallMs}.
 * Never fails: a reader that goes away mid-line (`EPIPE`) is `no_reader`.
 */
export const writeLine = (file: string, line: string): Effect.Effect<FifoWrite> =>
  Effect.gen(function* () {
    const info = yield* Effect.tryPromise(() => stat(file)).pipe(Effect.option)
    if (info._tag === "None" || !info.value.isFIFO()) return "absent" as const
    const handle = yield* Effect.tryPromise(() => open(file, constants.O_WRONLY | constants.O_NONBLOCK)).pipe(Effect.either)
    if (handle._tag === "Left") return code(handle.left.error) === "ENXIO" ? "no_reader" as const : "absent" as const
    const fh = handle.right
    return yield* Effect.gen(function* () {
      const bytes = Buffer.from(line.endsWith("\n") ? line : `${line}\n`, "utf8")
      let offset = 0
      let stalled = 0
      while (offset < bytes.length) {
        const wrote = yield* Effect.tryPromise(() => fh.write(bytes, offset, bytes.length - offset)).pipe(Effect.either)
        if (wrote._tag === "Right") {
          offset += wrote.right.bytesWritten
          stalled = 0
          continue
        }
        const c = code(wrote.left.error)
        if (c !== "EAGAIN" || stalled >= fifoStallMs) return "no_reader" as const
        yield* Effect.sleep(Duration.millis(5))
        stalled += 5
      }
      return "written" as const
    }).pipe(Effect.ensuring(Effect.promise(() => fh.close().catch(() => undefined))))
  })
