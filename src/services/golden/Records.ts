/**
 * The golden image records: `TROUPE_HOME/goldens.json` (`{"goldens": [GoldenImage…]}`, oldest
 * first), read by `troupe vm golden ls` without the daemon. Writes are atomic (a temp file in
 * the same directory, then rename). A file that no longer decodes is a `GoldenError` `records`
 * naming the file and the problem in one sentence.
 */
import { FileSystem } from "@effect/platform"
import { Effect, Schema } from "effect"
import { join } from "node:path"
import { describeParseError, jsonProblem } from "../../domain/Diagnostic.js"
import { GoldenError, GoldenFile, type GoldenImage } from "../../domain/Golden.js"

/** The records file of a troupe home. */
export const recordsPath = (home: string) => join(home, "goldens.json")

const decode = Schema.decodeUnknown(GoldenFile)
const encode = Schema.encode(GoldenFile)

const recordsError = (message: string) => new GoldenError({ reason: "records", step: null, message })

/**
 * The recorded golden images of `home`, oldest first; none when the file does not exist.
 * @fails GoldenError `records` (unreadable, not JSON, not the shape)
 */
export const listGoldens = (home: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const file = recordsPath(home)
    if (!(yield* fs.exists(file).pipe(Effect.orElseSucceed(() => false)))) return [] as ReadonlyArray<GoldenImage>
    const text = yield* fs.readFileString(file).pipe(Effect.mapError((e) => recordsError(`The golden image records ${file} could not be read: ${e.message}`)))
    const json = yield* Effect.try({ try: () => JSON.parse(text) as unknown, catch: (e) => recordsError(`The golden image records ${file} are not JSON: ${jsonProblem(e)}`) })
    const parsed = yield* decode(json).pipe(Effect.mapError((e) => recordsError(`The golden image records ${file} are not valid: ${describeParseError(e, json)}`)))
    return parsed.goldens
  }).pipe(Effect.withSpan("GoldenImages.list"))

/**
 * Appends `image` to the records of `home` (atomically).
 * @fails GoldenError `records`
 */
export const addGolden = (home: string, image: GoldenImage) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const file = recordsPath(home)
    const goldens = yield* listGoldens(home)
    const body = yield* encode({ goldens: [...goldens, image] }).pipe(Effect.orDie)
    const temp = `${file}.${image.commit_id.slice(0, 8)}.tmp`
    yield* fs.makeDirectory(home, { recursive: true }).pipe(
      Effect.zipRight(fs.writeFileString(temp, `${JSON.stringify(body, null, 2)}\n`)),
      Effect.zipRight(fs.rename(temp, file)),
      Effect.mapError((e) => recordsError(`The golden image records ${file} could not be written: ${e.message}`))
    )
  }).pipe(Effect.withSpan("GoldenImages.add"))
