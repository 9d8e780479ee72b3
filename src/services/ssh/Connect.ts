/**
 * One SSH connection to one VM (docs/ssh.md "Connection"): TLS to the VM's templated host
 * (SPEC-vers §3; `<vm_id>.vm.vers.sh:443`, SNI = that host, certificates checked against the
 * system roots plus `VERS_SSH_CA`), then an ssh2 `Client` over that socket as `root` with the
 * key from `GET /vm/{id}/ssh_key`, held in memory only. The host key is checked against the
 * pinned one before authentication (`SshHostKeys`).
 *
 * pi-vers ran `ssh -o ProxyCommand="openssl s_client -connect %h:443 -servername %h"` once per
 * command (~250 ms of handshakes each); here a connection is made once and pooled (`Ssh`).
 */
import { Clock, Effect, Option, Redacted, Runtime, type Scope } from "effect"
import { readFile } from "node:fs/promises"
import * as tls from "node:tls"
import { Client } from "ssh2"
import { PersistenceError } from "../../domain/PersistenceError.js"
import { SshAuthError, SshConnectError, type SshError, SshHostKeyChanged, SshMessages, SshTimeout } from "../../domain/SshErrors.js"
import type { SshHostKeyPolicy } from "../VersConfig.js"
import { describeHostKey, type SshHostKeysShape } from "./HostKeys.js"

/** Keepalive: a ping every 10 s, the connection is dead after 6 unanswered (SPEC-vers §3). */
export const keepaliveIntervalMs = 10_000
export const keepaliveCountMax = 6

export interface ConnectOptions {
  readonly vmId: string
  /** The templated host: TLS SNI and the name the certificate must carry. */
  readonly host: string
  /** What to dial (`VERS_SSH_ADDRESS`), else `host`. */
  readonly address: string
  readonly port: number
  /** Extra trusted CA certificates (PEM file path), in addition to the system roots. */
  readonly caFile: Option.Option<string>
  readonly privateKey: Redacted.Redacted<string>
  /** Bound on TLS + SSH handshake, ms. */
  readonly readyTimeoutMs: number
  readonly hostKeyPolicy: SshHostKeyPolicy
  readonly hostKeys: SshHostKeysShape
}

/** A ready ssh2 client and the TLS socket under it; `closed` is set once either went away. */
export interface Connection {
  readonly vmId: string
  readonly client: Client
  readonly socket: tls.TLSSocket
}

const detailOf = (e: unknown): string => (e instanceof Error ? e.message : String(e))

/** Reads the CA file once per connect (a rotated fake-fleet CA needs no restart). */
const trustedCas = (vmId: string, target: string, caFile: Option.Option<string>) =>
  Option.match(caFile, {
    onNone: () => Effect.succeed<ReadonlyArray<string> | undefined>(undefined),
    onSome: (path) =>
      Effect.tryPromise({
        try: () => readFile(path, "utf8"),
        catch: (e) => new SshConnectError({ vmId, message: SshMessages.connect(vmId, target, `the CA file ${path} (VERS_SSH_CA) could not be read: ${detailOf(e)}`) })
      }).pipe(Effect.map((pem): ReadonlyArray<string> | undefined => [...tls.rootCertificates, pem]))
  })

/** TLS to `address:port` with SNI `host`; resolves on `secureConnect`. */
const openTls = (o: ConnectOptions, target: string, ca: ReadonlyArray<string> | undefined) =>
  Effect.async<tls.TLSSocket, SshConnectError>((resume) => {
    const socket = tls.connect({ host: o.address, port: o.port, servername: o.host, ...(ca === undefined ? {} : { ca: [...ca] }) })
    const onError = (e: Error) => {
      socket.destroy()
      resume(Effect.fail(new SshConnectError({ vmId: o.vmId, message: SshMessages.connect(o.vmId, target, detailOf(e)) })))
    }
    socket.once("error", onError)
    socket.once("secureConnect", () => {
      socket.off("error", onError)
      // SSH is many small packets; Nagle + delayed ACK would add ~40 ms to each round trip.
      socket.setNoDelay(true)
      resume(Effect.succeed(socket))
    })
    return Effect.sync(() => socket.destroy())
  })

/**
 * Opens a connection in the current scope (closing the scope ends it).
 * @fails SshConnectError (TLS/TCP/handshake, unreadable CA file, store fault),
 *   SshAuthError (key refused), SshTimeout (no ready within `readyTimeoutMs`),
 *   SshHostKeyChanged (policy `pin` and a key other than the pinned one).
 */
export const connect = (o: ConnectOptions): Effect.Effect<Connection, SshError, Scope.Scope> =>
  Effect.gen(function* () {
    const target = o.address === o.host ? `${o.host}:${o.port}` : `${o.host}:${o.port} (via ${o.address})`
    const runtime = yield* Effect.runtime<never>()
    const ca = yield* trustedCas(o.vmId, target, o.caFile)

    /** Decides on the presented key; a refusal is remembered so the failure says why. */
    let refusal: SshError | undefined
    const verify = (blob: Buffer) =>
      Effect.gen(function* () {
        const { algorithm, fingerprint } = describeHostKey(blob)
        const pinned = yield* o.hostKeys.get(o.vmId)
        if (Option.isSome(pinned) && pinned.value.fingerprint === fingerprint) return true
        if (Option.isSome(pinned) && o.hostKeyPolicy === "pin") {
          refusal = new SshHostKeyChanged({
            vmId: o.vmId,
            expected: pinned.value.fingerprint,
            actual: fingerprint,
            message: SshMessages.hostKeyChanged(o.vmId, pinned.value.fingerprint, fingerprint)
          })
          return false
        }
        const now = yield* Clock.currentTimeMillis
        yield* o.hostKeys.pin({ vmId: o.vmId, algorithm, fingerprint, firstSeenMs: now })
        return true
      }).pipe(
        Effect.catchTag("PersistenceError", (e: PersistenceError) => {
          refusal = new SshConnectError({ vmId: o.vmId, message: SshMessages.connect(o.vmId, target, `the pinned host key could not be checked (${e.message})`) })
          return Effect.succeed(false)
        })
      )

    const handshake = Effect.acquireRelease(
      Effect.gen(function* () {
        const socket = yield* openTls(o, target, ca)
        return yield* Effect.async<Connection, SshError>((resume) => {
          const client = new Client()
          // Every running command listens for the connection's close.
          client.setMaxListeners(0)
          // Errors after the handshake settled surface as the connection's close (the pool
          // drops it, commands fail SshDisconnected); without a listener Node would throw.
          client.on("error", () => {})
          let settled = false
          const settle = (e: Effect.Effect<Connection, SshError>) => {
            if (settled) return
            settled = true
            client.off("ready", onReady)
            client.off("error", onError)
            client.off("close", onClose)
            resume(e)
          }
          const onReady = () => settle(Effect.succeed({ vmId: o.vmId, client, socket }))
          const onError = (e: Error & { level?: string }) => {
            client.end()
            socket.destroy()
            if (refusal !== undefined) return settle(Effect.fail(refusal))
            if (e.level === "client-authentication") return settle(Effect.fail(new SshAuthError({ vmId: o.vmId, message: SshMessages.auth(o.vmId) })))
            if (e.level === "client-timeout") {
              return settle(Effect.fail(new SshTimeout({ vmId: o.vmId, timeoutMs: o.readyTimeoutMs, message: SshMessages.timeout(o.vmId, o.readyTimeoutMs) })))
            }
            settle(Effect.fail(new SshConnectError({ vmId: o.vmId, message: SshMessages.connect(o.vmId, target, detailOf(e)) })))
          }
          const onClose = () =>
            settle(Effect.fail(refusal ?? new SshConnectError({ vmId: o.vmId, message: SshMessages.connect(o.vmId, target, "the server closed the connection during the handshake") })))
          client.on("ready", onReady).on("error", onError).on("close", onClose)
          client.connect({
            sock: socket,
            username: "root",
            privateKey: Redacted.value(o.privateKey),
            readyTimeout: o.readyTimeoutMs,
            keepaliveInterval: keepaliveIntervalMs,
            keepaliveCountMax,
            hostVerifier: (key: Buffer, done: (ok: boolean) => void) => {
              Runtime.runCallback(runtime)(verify(key), { onExit: (exit) => done(exit._tag === "Success" ? exit.value : false) })
            }
          })
          return Effect.sync(() => {
            client.end()
            socket.destroy()
          })
        })
      }),
      (c) =>
        Effect.sync(() => {
          c.client.end()
          c.socket.destroy()
        })
    )

    return yield* handshake.pipe(
      Effect.timeoutFail({
        duration: o.readyTimeoutMs,
        onTimeout: () => new SshTimeout({ vmId: o.vmId, timeoutMs: o.readyTimeoutMs, message: SshMessages.timeout(o.vmId, o.readyTimeoutMs) })
      })
    )
  })
