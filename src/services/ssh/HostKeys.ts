/**
 * Pinned SSH host keys (docs/ssh.md "Host keys"): the key a VM presented on its first
 * connection, kept so that a later connection presenting another key is refused with
 * `SshHostKeyChanged` (unless the policy is `accept-changed`). `SshHostKeys.layerSql` keeps
 * them in the store's table `ssh_host_keys` (migration `8_ssh_host_keys`); `layerMemory` in a
 * map, for tests and embedders without a store.
 *
 * pi-vers passed `-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null`: it pinned nothing.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Context, Effect, Layer, Option, Schema } from "effect"
import { createHash } from "node:crypto"
import { persistenceError, type PersistenceError } from "../../domain/PersistenceError.js"

/** One pinned key: algorithm (`ssh-ed25519`, …), fingerprint `SHA256:<base64 without padding>`, first seen (epoch ms). */
export const PinnedHostKey = Schema.Struct({
  vmId: Schema.String,
  algorithm: Schema.String,
  fingerprint: Schema.String,
  firstSeenMs: Schema.Number
})
export type PinnedHostKey = typeof PinnedHostKey.Type

export interface SshHostKeysShape {
  /** The key pinned for `vmId`, if any. @fails PersistenceError */
  readonly get: (vmId: string) => Effect.Effect<Option.Option<PinnedHostKey>, PersistenceError>
  /** Pins `key`, replacing any earlier one. @fails PersistenceError */
  readonly pin: (key: PinnedHostKey) => Effect.Effect<void, PersistenceError>
  /** Forgets the key of `vmId` (a deleted or restored VM); true when one was pinned. @fails PersistenceError */
  readonly forget: (vmId: string) => Effect.Effect<boolean, PersistenceError>
}

const Row = Schema.Struct({ vm_id: Schema.String, algorithm: Schema.String, fingerprint: Schema.String, first_seen_ms: Schema.Number })
const decodeRows = Schema.decodeUnknown(Schema.Array(Row))

export class SshHostKeys extends Context.Tag("troupe/SshHostKeys")<SshHostKeys, SshHostKeysShape>() {
  /** Over the store's `SqlClient` (the `Store` layer has applied migration `8_ssh_host_keys`). */
  static readonly layerSql: Layer.Layer<SshHostKeys, never, SqlClient.SqlClient> = Layer.effect(
    SshHostKeys,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      return {
        get: (vmId) =>
          sql`SELECT * FROM ssh_host_keys WHERE vm_id = ${vmId}`.pipe(
            Effect.flatMap(decodeRows),
            Effect.map((rows) =>
              Option.map(Option.fromNullable(rows[0]), (r) => ({ vmId: r.vm_id, algorithm: r.algorithm, fingerprint: r.fingerprint, firstSeenMs: r.first_seen_ms }))
            ),
            Effect.mapError(persistenceError("SshHostKeys.get"))
          ),
        pin: (k) =>
          sql`INSERT INTO ssh_host_keys ${sql.insert({ vm_id: k.vmId, algorithm: k.algorithm, fingerprint: k.fingerprint, first_seen_ms: k.firstSeenMs })}
            ON CONFLICT (vm_id) DO UPDATE SET algorithm = excluded.algorithm, fingerprint = excluded.fingerprint, first_seen_ms = excluded.first_seen_ms`.pipe(
            Effect.asVoid,
            Effect.mapError(persistenceError("SshHostKeys.pin"))
          ),
        forget: (vmId) =>
          sql<{ vm_id: string }>`DELETE FROM ssh_host_keys WHERE vm_id = ${vmId} RETURNING vm_id`.pipe(
            Effect.map((rows) => rows.length > 0),
            Effect.mapError(persistenceError("SshHostKeys.forget"))
          )
      }
    })
  )

  /** In memory (one map per layer build): tests, and embedders without a store. */
  static readonly layerMemory: Layer.Layer<SshHostKeys> = Layer.sync(SshHostKeys, () => {
    const keys = new Map<string, PinnedHostKey>()
    return {
      get: (vmId) => Effect.sync(() => Option.fromNullable(keys.get(vmId))),
      pin: (key) => Effect.sync(() => void keys.set(key.vmId, key)),
      forget: (vmId) => Effect.sync(() => keys.delete(vmId))
    }
  })
}

/**
 * The algorithm and OpenSSH-style fingerprint of a raw SSH public key blob (RFC 4253 §6.6:
 * `string algorithm`, then key data): `{ algorithm: "ssh-ed25519", fingerprint: "SHA256:…" }`.
 */
export const describeHostKey = (blob: Uint8Array): { readonly algorithm: string; readonly fingerprint: string } => {
  const buf = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength)
  const length = buf.length >= 4 ? buf.readUInt32BE(0) : 0
  const algorithm = length > 0 && length + 4 <= buf.length ? buf.subarray(4, 4 + length).toString("latin1") : "unknown"
  const fingerprint = `SHA256:${createHash("sha256").update(buf).digest("base64").replace(/=+$/, "")}`
  return { algorithm, fingerprint }
}
