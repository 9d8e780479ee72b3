/**
 * Installing the exec broker on a VM (docs/vmhost.md): the bytes of `dist/broker/exec-broker.mjs`
 * go to `.troupe/broker/exec-broker-<first 12 hex of their sha256>.mjs`, relative to the login
 * home, uploaded over SFTP only when that file is absent or of another size. The name carries
 * the version, so brokers of different troupe versions live side by side.
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { Effect, Stream } from "effect"
import type { VmId } from "../../domain/Vers.js"
import { defaultProgram } from "../BrokerHost.js"
import { HostError } from "../Host.js"
import type { SshShape } from "../Ssh.js"

/** The broker's bytes and where they go on a VM (relative to the login home). */
export interface BrokerProgram {
  readonly bytes: Uint8Array
  /** `.troupe/broker/exec-broker-<12 hex>.mjs` */
  readonly remotePath: string
}

const unavailable = (message: string) => new HostError({ reason: "unavailable", code: 1, message })

/** The remote path for broker bytes: `.troupe/broker/exec-broker-<first 12 hex of sha256>.mjs`. */
export const remotePathOf = (bytes: Uint8Array): string =>
  `.troupe/broker/exec-broker-${createHash("sha256").update(bytes).digest("hex").slice(0, 12)}.mjs`

/**
 * Reads the local broker program (`program`, default the built `dist/broker/exec-broker.mjs`).
 * @fails HostError `unavailable` when it is missing (run `npm run build`).
 */
export const readProgram = (program?: string) =>
  Effect.try({
    try: (): BrokerProgram => {
      const file = program ?? defaultProgram()
      if (file === undefined) throw new Error("dist/broker/exec-broker.mjs is missing")
      const bytes = new Uint8Array(fs.readFileSync(file))
      return { bytes, remotePath: remotePathOf(bytes) }
    },
    catch: (e) => unavailable(`the exec broker program could not be read (${e instanceof Error ? e.message : String(e)}); run npm run build`)
  })

/**
 * Makes sure `program` is on `vmId`: `stat`s its remote path and uploads it (mkdir -p, atomic
 * write, mode 0o644) when absent or of another size. Returns whether it uploaded.
 * @fails HostError `unavailable` naming the VM when SSH or SFTP fails.
 */
export const ensureInstalled = (ssh: SshShape, vmId: VmId, program: BrokerProgram) =>
  Effect.gen(function* () {
    const present = yield* ssh.stat(vmId, program.remotePath).pipe(
      Effect.map((st) => st.size === program.bytes.byteLength),
      Effect.catchTag("SftpError", () => Effect.succeed(false))
    )
    if (present) return false
    yield* ssh.mkdir(vmId, ".troupe/broker", { recursive: true })
    yield* ssh.writeFile(vmId, program.remotePath, Stream.make(program.bytes), { mode: 0o644 })
    return true
  }).pipe(
    Effect.mapError((e) => unavailable(`the exec broker could not be installed on VM ${vmId}: ${e.message}`)),
    Effect.withSpan("VmHost.installBroker")
  )
