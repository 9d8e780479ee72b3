/**
 * Outboxes (SPEC-messaging §4, pi-actors compatible): an actor appends envelopes, one JSON
 * object per line, to `{state_dir}/outbox.jsonl`; each complete new line is sent as that run
 * (provenance `outbox`). A bad line is logged with its run and skipped; the offset only moves
 * past complete lines, and restarts at 0 for a new generation.
 */
import type { FileSystem, Path } from "@effect/platform"
import { Effect, Either } from "effect"
import type { ActorsError, Caller } from "../domain/Run.js"

/** An active run as the outbox scan needs it. */
export interface OutboxRun {
  readonly id: string
  readonly owner: string
  readonly generation: string
  readonly stateDir: string
}

export interface OutboxDeps {
  readonly fs: FileSystem.FileSystem
  readonly path: Path.Path
  /** The runs active now. */
  readonly activeRuns: Effect.Effect<ReadonlyArray<OutboxRun>>
  /** Sends one parsed line as `caller` (the run) with `outbox` provenance. */
  readonly send: (caller: Caller, input: unknown) => Effect.Effect<unknown, ActorsError>
}

/** One scan of every active run's outbox (run it on a schedule). */
export const makeOutboxScan = ({ fs, path, activeRuns, send }: OutboxDeps) => {
  const offsets = new Map<string, { generation: string; offset: number }>()
  return Effect.gen(function* () {
    const runs = yield* activeRuns
    const active = new Set(runs.map((r) => r.id))
    for (const run of offsets.keys()) if (!active.has(run)) offsets.delete(run)
    for (const info of runs) {
      const run = info.id
      const file = path.join(info.stateDir, "outbox.jsonl")
      const size = yield* fs.stat(file).pipe(Effect.map((i) => Number(i.size)), Effect.orElseSucceed(() => 0))
      const seen = offsets.get(run)
      const offset = seen !== undefined && seen.generation === info.generation ? seen.offset : 0
      if (size <= offset) {
        offsets.set(run, { generation: info.generation, offset: Math.min(offset, size) })
        continue
      }
      const bytes = yield* fs.readFile(file).pipe(Effect.orElseSucceed(() => new Uint8Array()))
      const text = new TextDecoder().decode(bytes.subarray(offset))
      const end = text.lastIndexOf("\n")
      if (end < 0) continue
      offsets.set(run, { generation: info.generation, offset: offset + Buffer.byteLength(text.slice(0, end + 1)) })
      const caller: Caller = { session: info.owner, all: false, run }
      for (const line of text.slice(0, end).split("\n")) {
        if (line.trim() === "") continue
        const parsed = Either.try(() => JSON.parse(line) as unknown)
        if (Either.isLeft(parsed)) {
          yield* Effect.logWarning(`run:${run} outbox.jsonl: not JSON: ${line.slice(0, 120)}`)
          continue
        }
        yield* send(caller, parsed.right).pipe(Effect.catchAll((e) => Effect.logWarning(`run:${run} outbox.jsonl message rejected: ${e.message}`)))
      }
    }
  })
}
