/**
 * A run's output as users read it: `logs` (the run's `stdout.log` / `stderr.log` as byte
 * chunks, optionally followed until the run ends) and `logTail` (the last bytes, UTF-8 safe).
 * Corresponds to pi-actors' `bg_logs` / `actor_logs` over the detached runner's log files.
 */
import type { FileSystem, Path } from "@effect/platform"
import { Effect, Option, Schedule, Stream } from "effect"
import * as Output from "../../domain/Output.js"
import type { ActorsError, Caller } from "../../domain/Run.js"
import type { StoredRun } from "../Store.js"
import type { Entries } from "./RunEntry.js"

/** How often `logs --follow` looks for new bytes in a live run's log file. */
const logFollowPoll = Schedule.spaced("100 millis")

/** Largest piece `logs` reads (and sends) at once: 1 MiB. */
const logChunkBytes = 1024 * 1024

/** Log reading over the file system, the access-checked run lookup and the active runs. */
export const makeRunLogs = (
  fs: FileSystem.FileSystem,
  path: Path.Path,
  get: (caller: Caller, ref: string) => Effect.Effect<StoredRun, ActorsError>,
  entries: Entries
) => {
  /** Up to `length` bytes of `file` from `offset` (what exists now; empty on any error). */
  const readSlice = (file: string, offset: number, length: number) =>
    Effect.gen(function* () {
      const size = yield* fs.stat(file).pipe(Effect.map((i) => Number(i.size)))
      const wanted = Math.min(length, size - offset)
      if (wanted <= 0) return new Uint8Array(0)
      const bytes = yield* Effect.scoped(
        Effect.flatMap(fs.open(file, { flag: "r" }), (h) => Effect.flatMap(h.seek(offset, "start"), () => h.readAlloc(wanted)))
      )
      return Option.getOrElse(bytes, () => new Uint8Array(0))
    }).pipe(Effect.orElseSucceed(() => new Uint8Array(0)))

  /**
   * The run's `stdout.log` or `stderr.log` as byte chunks. With `follow`, keeps reading new
   * bytes until the run is terminal and the file is drained. The files only grow (appends),
   * so a later read starts with everything an earlier one showed, and after `wait` reports
   * the run terminal they hold all of its output.
   * @fails ActorsError `not_found`, `forbidden`.
   */
  const logs = (caller: Caller, ref: string, stream: "stdout" | "stderr", follow: boolean): Stream.Stream<Uint8Array, ActorsError> =>
    Stream.unwrap(
      Effect.gen(function* () {
        const run = yield* get(caller, ref)
        const file = path.join(run.info.state_dir, `${stream}.log`)
        let offset = 0
        const readMore = Effect.gen(function* () {
          const bytes = yield* readSlice(file, offset, logChunkBytes)
          offset += bytes.length
          return bytes
        })
        const untilDrained = Stream.repeatEffectOption(
          Effect.flatMap(readMore, (bytes) => (bytes.length === 0 ? Effect.fail(Option.none()) : Effect.succeed(bytes)))
        )
        if (!follow) return untilDrained
        // Follow this run, not the id: a later run reusing the id is not followed.
        const entry = entries.get(run.info.id)
        const ended = () => entry === undefined || entry.finished
        return Stream.repeatEffectOption(
          Effect.gen(function* () {
            const wasEnded = ended()
            const bytes = yield* readMore
            if (bytes.length === 0 && wasEnded) return yield* Effect.fail(Option.none())
            return bytes
          })
        ).pipe(
          Stream.filter((b) => b.length > 0),
          Stream.schedule(logFollowPoll)
        )
      })
    )

  /**
   * The last `maxBytes` of a live run's `stdout.log` / `stderr.log` (a UTF-8 character cut at
   * the start is dropped). Empty when the file does not exist.
   * @fails ActorsError `not_found`, `forbidden`.
   */
  const logTail = Effect.fn("Supervisor.logTail")(function* (caller: Caller, ref: string, stream: "stdout" | "stderr", maxBytes: number) {
    const run = yield* get(caller, ref)
    const file = path.join(run.info.state_dir, `${stream}.log`)
    const size = yield* fs.stat(file).pipe(Effect.map((i) => Number(i.size)), Effect.orElseSucceed(() => 0))
    const bytes = yield* readSlice(file, Math.max(0, size - maxBytes), maxBytes)
    return Output.decodeUtf8(Output.utf8SafeTail(bytes, maxBytes))
  })

  return { logs, logTail } as const
}
