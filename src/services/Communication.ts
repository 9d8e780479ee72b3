/**
 * The communication snapshot file (SPEC-messaging §5): `{state_dir}/communication.json`, also
 * injected as `{communication_file}` — `{self, root, parent?, rooms: [{address, name, members}],
 * contacts, updated_at}` for the run, so an actor process can discover who else is in its room
 * without calling troupe. Written atomically (temp file + rename); rewritten by the router
 * after room changes, at most every 250 ms per run.
 *
 * Corresponds to pi-actors' `communication_file` snapshots.
 */
import { FileSystem, Path } from "@effect/platform"
import { Effect } from "effect"
import { Rooms } from "./Rooms.js"
import { privateFileMode } from "./TroupeConfig.js"

/** Least time between two rewrites of one run's snapshot: 250 ms. */
export const snapshotDebounceMs = 250

/**
 * Writes the run's snapshot now. Never fails: a run whose state directory is gone has no
 * snapshot to keep (logged at debug level).
 */
export const writeSnapshot = (input: { readonly run: string; readonly stateDir: string; readonly parent?: string | undefined }) =>
  Effect.gen(function* () {
    const rooms = yield* Rooms
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const snapshot = yield* rooms.snapshot({
      self: `run:${input.run}`,
      root: `run:${input.run}`,
      ...(input.parent === undefined ? {} : { parent: `run:${input.parent}` }),
      rooms: [`room:${input.run}`]
    })
    const file = path.join(input.stateDir, "communication.json")
    const tmp = `${file}.tmp`
    yield* fs.writeFileString(tmp, JSON.stringify(snapshot, null, 2) + "\n", { mode: privateFileMode })
    yield* fs.rename(tmp, file)
  }).pipe(Effect.catchAll((e) => Effect.logDebug(`communication snapshot of run:${input.run} not written: ${e.message}`)))
