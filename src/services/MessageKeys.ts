/**
 * `MessageKeys`: idempotency keys of sends, in the store's `message_keys` table. A client that
 * may have to retry a `message` (its connection dropped, the daemon restarted) sends it with a
 * key it chose; the first send records `(scope, key) → message id`, a retry with the same key
 * gets the same id back, and the stores dedupe on ids (`Rooms.post` and `Mailbox.enqueue`
 * return the stored entry / record for an id they already hold). So a retried message is
 * stored once, whether the first attempt was committed or not.
 *
 * pi-actors had no retries to dedupe (every send was one local file append).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Clock, Duration, Effect, Layer } from "effect"
import type { MessageId } from "../domain/Envelope.js"
import { storeFault } from "../domain/PersistenceError.js"
import { groupCommit } from "./internal/GroupCommit.js"

/** How long a key is remembered: a retry must come within a day of the first attempt. */
export const keyRetention = Duration.hours(24)

/** Expired keys are swept at most this often (by the writer, in a batch's transaction). */
const sweepEvery = Duration.hours(1)

/** Largest number of reservations one group-commit transaction takes. */
const maxBatch = 500

interface Reservation {
  readonly scope: string
  readonly key: string
  readonly id: MessageId
}

export interface MessageKeysOptions {
  /** Keys older than this are forgotten (default {@link keyRetention}). */
  readonly retention?: Duration.DurationInput | undefined
}

/**
 * Builds the service over the store's `SqlClient` (the `4_message_keys` migration must have
 * run: `Store.sqlite(file)`). Scoped: it owns the group-commit writer.
 */
export const makeMessageKeys = (options: MessageKeysOptions = {}) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const retentionMs = Duration.toMillis(options.retention ?? keyRetention)
    let lastSweep = Number.NEGATIVE_INFINITY

    const writeReservations = (batch: ReadonlyArray<Reservation>) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const sweep = now - lastSweep >= Duration.toMillis(sweepEvery)
        const ids = yield* sql.withTransaction(
          Effect.gen(function* () {
            if (sweep) yield* sql`DELETE FROM message_keys WHERE created_at < ${now - retentionMs}`
            const inserted = yield* sql<{ scope: string; key: string; id: string }>`INSERT INTO message_keys ${sql.insert(
              batch.map((r) => ({ scope: r.scope, key: r.key, id: r.id, created_at: now }))
            )} ON CONFLICT (scope, key) DO NOTHING RETURNING scope, key, id`
            const known = new Map<string, string>()
            for (const r of inserted) known.set(`${r.scope}\u0000${r.key}`, r.id)
            // Keys recorded before this batch (retries): one lookup each, they are rare.
            for (const r of batch) {
              const k = `${r.scope}\u0000${r.key}`
              if (known.has(k)) continue
              const [row] = yield* sql<{ id: string }>`SELECT id FROM message_keys WHERE scope = ${r.scope} AND key = ${r.key}`
              known.set(k, row?.id ?? r.id)
            }
            return batch.map((r) => known.get(`${r.scope}\u0000${r.key}`) as MessageId)
          })
        ).pipe(Effect.mapError(storeFault("MessageKeys.reserve")))
        if (sweep) lastSweep = now
        return ids
      })

    const reserveWrite = yield* groupCommit(writeReservations, { max: maxBatch, name: "MessageKeys.reserve" })

    /**
     * The message id of `key` in `scope` (the sender: `run:<id>` for an actor, `session:<id>`
     * for a session): `id` when the key is new — recorded now —, else the id recorded by the
     * first send with this key (within {@link keyRetention}). Concurrent reservations are
     * committed in batches; a reservation completes when committed.
     * @fails ActorsError `unavailable` (closing), `persistence`.
     */
    // Untraced: one call per keyed message.
    const reserve = Effect.fnUntraced(function* (scope: string, key: string, id: MessageId) {
      return yield* reserveWrite({ scope, key, id })
    })

    return { reserve } as const
  })

/** Idempotency keys of sends (see the module comment). Needs the store's `SqlClient`. */
export class MessageKeys extends Effect.Service<MessageKeys>()("troupe/MessageKeys", {
  scoped: makeMessageKeys()
}) {
  /** The service with other options (tests: a short retention). */
  static readonly layer = (options: MessageKeysOptions): Layer.Layer<MessageKeys, never, SqlClient.SqlClient> =>
    Layer.scoped(MessageKeys, Effect.map(makeMessageKeys(options), (impl) => MessageKeys.make(impl)))
}
