/**
 * Pinned SSH host keys (docs/ssh.md "Host keys"): the key a VM presented on its first
 * connection, kept so that a later connection presenting another key is refused with
 * `SshHostKeyChanged` (unless the policy is `accept-changed`). `SshHostKeys.layerFile(dir)`
 * keeps one small JSON file per VM under `dir` (`TROUPE_HOME/ssh/host_keys/<vm_id>.json`,
 * 0600), so the daemon, `troupe run`, `troupe vm exec|cp` and the Pi adapter — separate
 * processes — share the pins without a lock (each pin is one atomic file write); `layerMemory`
 * keeps them in a map, for tests and embedders.
 *
 * pi-vers passed `-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null`: it pinned nothing.
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import { createHash, randomBytes } from "node:crypto"
import * as fsp from "node:fs/promises"
import { join } from "node:path"
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

const decodePin = Schema.decodeUnknown(Schema.parseJson(PinnedHostKey))

/** VM ids become file names: anything but letters, digits, `_`, `.` and `-` is refused. */
const safeId = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/

const errnoOf = (e: unknown) => (typeof e === "object" && e !== null && "code" in e ? String(e.code) : "")

export class SshHostKeys extends Context.Tag("troupe/SshHostKeys")<SshHostKeys, SshHostKeysShape>() {
  /**
   * One JSON file per VM under `dir` (created 0700; files 0600, written to a temp file and
   * renamed). A file that does not decode is reported, never taken as "no pin".
   */
  static readonly layerFile = (dir: string): Layer.Layer<SshHostKeys> =>
    Layer.succeed(SshHostKeys, {
      get: (vmId) =>
        Effect.gen(function* () {
          const file = yield* fileOf(dir, vmId, "SshHostKeys.get")
          const text = yield* Effect.tryPromise({
            try: () => fsp.readFile(file, "utf8").catch((e: unknown) => (errnoOf(e) === "ENOENT" ? undefined : Promise.reject(e))),
            catch: (e) => persistenceError("SshHostKeys.get")({ message: `cannot read ${file}: ${(e as Error).message}`, cause: e })
          })
          if (text === undefined) return Option.none()
          const pin = yield* decodePin(text).pipe(
            Effect.mapError((e) => persistenceError("SshHostKeys.get")({ message: `${file} is not a pinned host key; delete it to pin the VM's key again`, cause: e }))
          )
          return Option.some(pin)
        }),
      pin: (key) =>
        Effect.gen(function* () {
          const file = yield* fileOf(dir, key.vmId, "SshHostKeys.pin")
          const temp = `${file}.tmp-${randomBytes(6).toString("hex")}`
          yield* Effect.tryPromise({
            try: async () => {
              await fsp.mkdir(dir, { recursive: true, mode: 0o700 })
              try {
                await fsp.writeFile(temp, JSON.stringify(key), { mode: 0o600, flag: "wx" })
                await fsp.rename(temp, file)
              } catch (e) {
                await fsp.rm(temp, { force: true })
                throw e
              }
            },
            catch: (e) => persistenceError("SshHostKeys.pin")({ message: `cannot write ${file}: ${(e as Error).message}`, cause: e })
          })
        }),
      forget: (vmId) =>
        Effect.gen(function* () {
          const file = yield* fileOf(dir, vmId, "SshHostKeys.forget")
          return yield* Effect.tryPromise({
            try: () => fsp.unlink(file).then(() => true, (e: unknown) => (errnoOf(e) === "ENOENT" ? false : Promise.reject(e))),
            catch: (e) => persistenceError("SshHostKeys.forget")({ message: `cannot delete ${file}: ${(e as Error).message}`, cause: e })
          })
        })
    })

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

/** The pin file of `vmId` under `dir`. @fails PersistenceError for an id unfit for a file name. */
const fileOf = (dir: string, vmId: string, operation: string): Effect.Effect<string, PersistenceError> =>
  safeId.test(vmId)
    ? Effect.succeed(join(dir, `${vmId}.json`))
    : Effect.fail(persistenceError(operation)({ message: `cannot pin a host key for VM ${JSON.stringify(vmId.slice(0, 40))}: not a VM id` }))

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
