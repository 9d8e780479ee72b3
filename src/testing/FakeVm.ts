/**
 * FakeVm — the fake fleet's SSH side (`troupe/testing`): one TLS listener on loopback whose
 * connections are routed by SNI (`<vm_id>.vm.vers.sh`, or any `<vm_id>.<rest>`) to an
 * in-process ssh2 server per VM, as Vers' SSH proxy routes them to the VM's sshd. Each VM has
 * its own host key, accepts user `root` with the VM's key pair only, runs `exec` requests as
 * real local processes (`/bin/sh -c`, own process group) in its root directory
 * `<dir>/vms/<vm_id>/root`, and serves SFTP there.
 *
 * Plug `handle.hooks` into FakeVers (`FakeFleet` does) and the VMs follow the API: a created VM
 * gets a root and a new host key; only `running` VMs accept connections (pausing or deleting cuts
 * every connection and kills every command); a commit copies the root to
 * `<dir>/commits/<commit_id>` and remembers the host key; a restore or branch copies both into
 * the new VM — so a restored VM answers with its source's host key and files, as a snapshot
 * does, and "stale identity after restore" bugs reproduce. Deleting removes the root.
 *
 * Not a sandbox: commands run as this process's user on this machine, absolute SFTP paths are
 * the host's real paths, and nothing is chrooted. Tests build paths under `vm(id).root`.
 *
 * A client connects as pi-vers does: `tls.connect({host: "127.0.0.1", port, servername:
 * "<vm_id>.vm.vers.sh", ca: caPem})`, then SSH over that socket as `root`.
 */
import * as fs from "node:fs/promises"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as tls from "node:tls"
import { Effect, Schema, type Scope } from "effect"
import type { FakeCommit, FakeVersHooks, FakeVmRecord } from "./fakeVers/Model.js"
import { makeCertificates } from "./fakeVm/Certs.js"
import { ed25519KeyPair } from "./fakeVm/Keys.js"
import { Machine } from "./fakeVm/Machine.js"

export { wildcardOf } from "./fakeVm/Certs.js"

/** The fake SSH side could not start (certificates, directories, listening). */
export class FakeVmError extends Schema.TaggedError<FakeVmError>("troupe/FakeVmError")("FakeVmError", {
  message: Schema.String
}) {}

export interface FakeVmOptions {
  /** The fleet directory (VM roots, commits, `ca.pem`); default a new temp dir removed with the scope. */
  readonly dir?: string
  /** Loopback address to listen on (default `127.0.0.1`). */
  readonly host?: string
  /** Port (default 0: any free port). */
  readonly port?: number
  /** Host templates the certificate must cover besides `{vm_id}.vm.vers.sh` (e.g. `{vm_id}.vm.localhost`). */
  readonly hostTemplates?: ReadonlyArray<string>
}

/** One fake VM's SSH side, as tests see it (live values). */
export interface FakeVmMachine {
  readonly vm_id: string
  /** `<dir>/vms/<vm_id>/root`: HOME and cwd of its commands, base of relative SFTP paths. */
  readonly root: string
  /** The state the SSH side follows (`running` accepts connections). */
  readonly state: string
  /** The host key's public half (`ssh-ed25519 AAAA…`), as a client's known_hosts pins it. */
  readonly hostPublicKey: string
  /** Process group ids of the commands running now. */
  readonly runningGroups: ReadonlyArray<number>
}

export interface FakeVmHandle {
  /** The TLS listener's address and port (what `VERS_SSH_ADDRESS` / `VERS_SSH_PORT` should be). */
  readonly host: string
  readonly port: number
  readonly dir: string
  /** The CA certificate (PEM) clients must trust, and the file holding it (mode 0600). */
  readonly caPem: string
  readonly caFile: string
  /** Pass to `FakeVers.make({ hooks })` so VMs follow the API. */
  readonly hooks: Required<FakeVersHooks>
  readonly vm: (vmId: string) => FakeVmMachine | undefined
  /** `<dir>/commits/<commit_id>`: a commit's copy of its VM's root. */
  readonly commitRoot: (commitId: string) => string
  /** Sets a VM's state on the SSH side only (for states the API forces without hooks). */
  readonly setState: (vmId: string, state: string) => void
  /**
   * Drops every SSH connection of a VM now, as a network fault would: sshd's side of each
   * session goes with it (its commands' process groups are killed), the VM stays `running` and
   * accepts new connections; processes that left their group (`setsid`) live on. False for an
   * unknown VM.
   */
  readonly dropConnections: (vmId: string) => boolean
}

const view = (m: Machine): FakeVmMachine => ({
  vm_id: m.vmId,
  root: m.root,
  get state() {
    return m.state
  },
  get hostPublicKey() {
    return m.hostPublicKey
  },
  get runningGroups() {
    return m.runningGroups
  }
})

const newHostKey = () => ed25519KeyPair().private

const listen = (server: tls.Server, host: string, port: number) =>
  Effect.async<number, FakeVmError>((resume) => {
    const onError = (e: NodeJS.ErrnoException) => resume(Effect.fail(new FakeVmError({ message: `The fake VM listener cannot listen on ${host}:${port}: ${e.code ?? e.message}` })))
    server.once("error", onError)
    server.listen(port, host, () => {
      server.off("error", onError)
      resume(Effect.succeed((server.address() as AddressInfo).port))
    })
  })

const attempt = <A>(what: string, f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (e) => new FakeVmError({ message: `The fake VM side cannot ${what}: ${e instanceof Error ? e.message : String(e)}` }) })

/**
 * Starts the SSH side for the life of the scope; closing it cuts every connection, kills every
 * command and removes the directory when it made it.
 * @fails FakeVmError when it cannot make its certificates or directory, or cannot listen.
 */
export const make = (options: FakeVmOptions = {}): Effect.Effect<FakeVmHandle, FakeVmError, Scope.Scope> =>
  Effect.gen(function* () {
    const host = options.host ?? "127.0.0.1"
    const dir = options.dir === undefined
      ? yield* Effect.acquireRelease(attempt("make its directory", () => fs.mkdtemp(path.join(os.tmpdir(), "troupe-fleet-"))), (d) => Effect.promise(() => fs.rm(d, { recursive: true, force: true })))
      : path.resolve(options.dir)
    yield* attempt("make its directory", () => fs.mkdir(path.join(dir, "commits"), { recursive: true }).then(() => fs.mkdir(path.join(dir, "vms"), { recursive: true })))
    const certs = yield* attempt("make its certificates", () => makeCertificates(options.hostTemplates ?? []))
    const caFile = path.join(dir, "ca.pem")
    yield* attempt("write its CA certificate", () => fs.writeFile(caFile, certs.caPem, { mode: 0o600 }).then(() => fs.chmod(caFile, 0o600)))

    const machines = new Map<string, Machine>()
    const commitKeys = new Map<string, string>()
    const vmDir = (id: string) => path.join(dir, "vms", id)
    const commitRoot = (id: string) => path.join(dir, "commits", id)

    const server = tls.createServer({ key: certs.keyPem, cert: certs.certPem })
    // Connections still in their TLS handshake belong to no VM yet; closing must drop them too.
    const raw = new Set<import("node:net").Socket>()
    server.on("connection", (s: import("node:net").Socket) => {
      raw.add(s)
      s.on("close", () => raw.delete(s))
    })
    server.on("secureConnection", (socket) => {
      const name = typeof socket.servername === "string" ? socket.servername : ""
      const m = machines.get(name.split(".")[0] ?? "")
      if (m === undefined) socket.destroy()
      else m.accept(socket)
    })
    // A client that fails the handshake (wrong CA, no SNI) is its own problem.
    server.on("tlsClientError", () => {})
    const port = yield* Effect.acquireRelease(listen(server, host, options.port ?? 0), () =>
      Effect.async<void>((resume) => {
        for (const m of machines.values()) m.cutAll()
        for (const s of raw) s.destroy()
        server.close(() => resume(Effect.void))
      })
    )

    const hooks: Required<FakeVersHooks> = {
      onCreate: async (vm: FakeVmRecord) => {
        const root = path.join(vmDir(vm.vm_id), "root")
        await fs.mkdir(root, { recursive: true, mode: 0o700 })
        machines.set(vm.vm_id, new Machine({ vmId: vm.vm_id, root, hostKey: newHostKey(), clientPublicKey: vm.ssh_public_key, state: vm.state }))
      },
      onDelete: async (vm: FakeVmRecord) => {
        const m = machines.get(vm.vm_id)
        machines.delete(vm.vm_id)
        m?.setState("dead")
        await fs.rm(vmDir(vm.vm_id), { recursive: true, force: true })
      },
      onCommit: async (vm: FakeVmRecord, commit: FakeCommit) => {
        const m = machines.get(vm.vm_id)
        if (m === undefined) return
        await fs.cp(m.root, commitRoot(commit.commit_id), { recursive: true, preserveTimestamps: true, verbatimSymlinks: true })
        commitKeys.set(commit.commit_id, m.hostKey)
      },
      onRestore: async (vm: FakeVmRecord, commit: FakeCommit) => {
        const m = machines.get(vm.vm_id)
        if (m === undefined) return
        await fs.rm(m.root, { recursive: true, force: true })
        await fs.cp(commitRoot(commit.commit_id), m.root, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true })
        const key = commitKeys.get(commit.commit_id)
        if (key !== undefined) m.setHostKey(key)
      },
      onStateChange: (vm: FakeVmRecord) => {
        machines.get(vm.vm_id)?.setState(vm.state)
      }
    }

    return {
      host,
      port,
      dir,
      caPem: certs.caPem,
      caFile,
      hooks,
      vm: (id) => {
        const m = machines.get(id)
        return m === undefined ? undefined : view(m)
      },
      commitRoot,
      setState: (id, state) => machines.get(id)?.setState(state),
      dropConnections: (id) => {
        const m = machines.get(id)
        m?.cutAll()
        return m !== undefined
      }
    } satisfies FakeVmHandle
  })
