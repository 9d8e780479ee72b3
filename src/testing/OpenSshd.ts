/**
 * A real OpenSSH `sshd` on loopback behind a TLS-terminating proxy (`troupe/testing`): the
 * proxy stands in for Vers' SSH-over-TLS front (SNI `<vm>.vm.test`, a self-signed certificate
 * to trust as `VERS_SSH_CA`), counts the TLS connections it accepts (a positive signal for
 * pooling) and can cut them all (a dropped connection). `sshd` can be restarted with a new
 * host key behind the same proxy. Everything is scoped; `startOpenSshd()` is the Promise form
 * for plain scripts (the `ssh-exec` benchmark). Used by the `Ssh` interop tests so that troupe
 * is checked against OpenSSH, not only against its own fake (`FakeVm`).
 *
 * Needs `/usr/sbin/sshd` (Debian: `apt-get install openssh-server`; `.ci/run` installs it)
 * and `ssh-keygen`; root logins are allowed on the loopback listener only. A missing sshd is
 * an error saying how to install it, never a skip.
 */
import { Effect, Exit, Schedule, Scope } from "effect"
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as tls from "node:tls"
import { generate } from "selfsigned"

export const sshdPath = "/usr/sbin/sshd"
/** The SNI domain of the fake front: VM `x` is `x.vm.test`. */
export const sshDomain = "vm.test"

const requireSshd = () => {
  if (!existsSync(sshdPath)) {
    throw new Error(`OpenSSH's sshd is needed at ${sshdPath} for the Ssh interop tests: apt-get install -y openssh-server (.ci/run does)`)
  }
}

const keygen = (path: string, type: "ed25519" | "ecdsa") => execFileSync("ssh-keygen", ["-q", "-t", type, "-N", "", "-f", path], { stdio: "ignore" })

const freePort = () =>
  Effect.async<number>((resume) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resume(Effect.succeed(port)))
    })
  })

/** Resolves once `port` accepts a TCP connection (bounded). */
const waitListening = (port: number) =>
  Effect.async<void, Error>((resume) => {
    const socket = net.connect(port, "127.0.0.1")
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.void)
    })
    socket.once("error", (e) => resume(Effect.fail(e)))
  }).pipe(Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("10 seconds"))))

export interface Sshd {
  readonly port: number
  readonly hostKeyPath: string
}

/** Starts sshd on a free loopback port with `hostKey` (a file made by ssh-keygen), killed in the finalizer. */
export const startSshd = (dir: string, hostKey: string, authorizedKeys: string) =>
  Effect.gen(function* () {
    const port = yield* freePort()
    const config = join(dir, `sshd_config-${port}`)
    writeFileSync(config, [
      "ListenAddress 127.0.0.1",
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      "PermitRootLogin yes",
      "StrictModes no",
      "UsePAM no",
      "PidFile none",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "Subsystem sftp internal-sftp",
      "MaxSessions 100",
      "MaxStartups 100",
      "LogLevel ERROR",
      ""
    ].join("\n"))
    mkdirSync("/run/sshd", { recursive: true })
    let stderr = ""
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const c = spawn(sshdPath, ["-D", "-e", "-f", config, "-p", String(port), "-h", hostKey], { stdio: ["ignore", "ignore", "pipe"] })
        c.stderr?.on("data", (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-4000)))
        return c
      }),
      (c: ChildProcess) => Effect.sync(() => void c.kill("SIGKILL"))
    )
    yield* waitListening(port).pipe(Effect.orElse(() => Effect.dieMessage(`sshd did not listen on ${port}: ${stderr} (exit ${child.exitCode})`)))
    return { port, hostKeyPath: hostKey } satisfies Sshd
  })

export interface OpenSshd {
  readonly dir: string
  /** The client key (OpenSSH private key text) VersApi hands out for every VM. */
  readonly privateKey: string
  /** The proxy's certificate (PEM file path), trusted as `sshCa`. */
  readonly caFile: string
  /** The proxy's port (`sshPort`, dialled at `sshAddress` 127.0.0.1). */
  readonly proxyPort: number
  /** TLS connections the proxy accepted so far. */
  readonly connections: () => number
  /** SNI names of the accepted TLS connections, in order. */
  readonly servernames: () => ReadonlyArray<string>
  /** Cuts every proxied connection. */
  readonly dropAll: () => void
  /** Points the proxy at another sshd. */
  readonly retarget: (port: number) => void
  /** Starts another sshd with a fresh host key (in the caller's scope). */
  readonly startOther: () => Effect.Effect<Sshd, never, Scope.Scope>
  readonly sshd: Sshd
}

/** Keys, a certificate, sshd and the TLS proxy in front of it, all removed when the scope closes. */
export const make: Effect.Effect<OpenSshd, never, Scope.Scope> = Effect.gen(function* () {
  requireSshd()
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "troupe-ssh-"))),
    (d) => Effect.sync(() => rmSync(d, { recursive: true, force: true }))
  )
  keygen(join(dir, "client"), "ed25519")
  const authorizedKeys = join(dir, "authorized_keys")
  writeFileSync(authorizedKeys, readFileSync(join(dir, "client.pub")))
  const privateKey = readFileSync(join(dir, "client"), "utf8")
  let hostKeys = 0
  const newHostKey = () => {
    const path = join(dir, `host-${hostKeys++}`)
    keygen(path, "ed25519")
    return path
  }
  const pems = yield* Effect.promise(() =>
    generate([{ name: "commonName", value: `*.${sshDomain}` }], {
      keyType: "ec",
      curve: "P-256",
      extensions: [
        { name: "basicConstraints", cA: true },
        { name: "subjectAltName", altNames: [{ type: 2, value: `*.${sshDomain}` }] }
      ]
    })
  )
  const caFile = join(dir, "ca.pem")
  writeFileSync(caFile, pems.cert)

  const sshd = yield* startSshd(dir, newHostKey(), authorizedKeys)
  let target = sshd.port
  let accepted = 0
  const names: Array<string> = []
  const live = new Set<net.Socket>()
  const server = tls.createServer({ key: pems.private, cert: pems.cert }, (front) => {
    accepted++
    names.push((front as tls.TLSSocket & { servername?: string }).servername ?? "")
    const back = net.connect({ port: target, host: "127.0.0.1", noDelay: true })
    front.setNoDelay(true)
    live.add(front).add(back)
    const cut = () => {
      front.destroy()
      back.destroy()
      live.delete(front)
      live.delete(back)
    }
    front.on("error", cut).on("close", cut)
    back.on("error", cut).on("close", cut)
    front.pipe(back).pipe(front)
  })
  const proxyPort = yield* Effect.acquireRelease(
    Effect.async<number>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as net.AddressInfo).port)))),
    () =>
      Effect.sync(() => {
        for (const s of live) s.destroy()
        server.close()
      })
  )
  return {
    dir,
    privateKey,
    caFile,
    proxyPort,
    connections: () => accepted,
    servernames: () => names,
    dropAll: () => {
      for (const s of live) s.destroy()
    },
    retarget: (port: number) => void (target = port),
    startOther: () => startSshd(dir, newHostKey(), authorizedKeys),
    sshd
  } satisfies OpenSshd
})

/** {@link make} for plain scripts: resolves with the fixture and a `close()` that tears it all down. */
export const startOpenSshd = async (): Promise<OpenSshd & { readonly close: () => Promise<void> }> => {
  const scope = Effect.runSync(Scope.make())
  const fixture = await Effect.runPromise(Scope.extend(make, scope))
  return { ...fixture, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}
