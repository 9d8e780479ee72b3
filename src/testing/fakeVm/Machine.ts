/**
 * One fake VM's SSH side: an in-process ssh2 `Server` (never listening itself: the fleet's TLS
 * listener hands it each connection routed to this VM) with the VM's own host key, accepting
 * user `root` with the VM's key pair only (`GET /vm/{id}/ssh_key`'s private key), serving
 * `exec` and the `sftp` subsystem in the VM's root directory. No pty, no shell, no forwarding.
 *
 * Only a `running` VM accepts connections; pausing or deleting it drops every connection and
 * kills every command's process group (their channels close with no exit status).
 */
import type { Duplex } from "node:stream"
import ssh2, { type Connection, type ParsedKey } from "ssh2"
import { type RunningCommand, runCommand } from "./Exec.js"
import { serveSftp } from "./Sftp.js"

const parse = (key: string): ParsedKey => {
  const parsed = ssh2.utils.parseKey(key)
  if (parsed instanceof Error) throw parsed
  return Array.isArray(parsed) ? (parsed[0] as ParsedKey) : parsed
}

/** What a machine is made from: the VM's id, root directory, host key and client public key. */
export interface MachineSpec {
  readonly vmId: string
  readonly root: string
  /** The host's private key (OpenSSH format). */
  readonly hostKey: string
  /** The one client public key accepted for `root` (OpenSSH `ssh-ed25519 AAAA…`). */
  readonly clientPublicKey: string
  readonly state: string
}

export class Machine {
  readonly vmId: string
  readonly root: string
  hostKey: string
  state: string
  private server: ssh2.Server
  private readonly clientKey: ParsedKey
  private readonly sockets = new Set<Duplex>()
  private readonly commands = new Set<RunningCommand>()

  constructor(spec: MachineSpec) {
    this.vmId = spec.vmId
    this.root = spec.root
    this.hostKey = spec.hostKey
    this.state = spec.state
    this.clientKey = parse(spec.clientPublicKey)
    this.server = this.makeServer()
  }

  /** The host key's public half in OpenSSH `authorized_keys` form (`ssh-ed25519 AAAA…`). */
  get hostPublicKey(): string {
    const k = parse(this.hostKey)
    return `${k.type} ${k.getPublicSSH().toString("base64")}`
  }

  /** Live processes' group ids (a test reads /proc with them). */
  get runningGroups(): ReadonlyArray<number> {
    return [...this.commands].flatMap((c) => (c.pgid === undefined ? [] : [c.pgid]))
  }

  /** Replaces the host key (a restored VM takes its commit's); later connections see the new one. */
  setHostKey(hostKey: string): void {
    this.hostKey = hostKey
    this.server = this.makeServer()
  }

  /** Takes a connection routed to this VM, or drops it when the VM does not run. */
  accept(socket: Duplex): void {
    if (this.state !== "running") return void socket.destroy()
    this.sockets.add(socket)
    socket.on("close", () => this.sockets.delete(socket))
    socket.on("error", () => {})
    this.server.injectSocket(socket as never)
  }

  /** Drops every connection and kills every command (pause, delete, fleet shutdown). */
  cutAll(): void {
    for (const c of [...this.commands]) c.cut()
    for (const s of [...this.sockets]) s.destroy()
  }

  /** Follows the API's state; leaving `running` cuts everything. */
  setState(state: string): void {
    this.state = state
    if (state !== "running") this.cutAll()
  }

  private makeServer(): ssh2.Server {
    return new ssh2.Server({ hostKeys: [this.hostKey], ident: "OpenSSH_9.2p1 troupe-fake" }, (conn) => this.serve(conn))
  }

  private serve(conn: Connection): void {
    conn.on("error", () => {})
    conn.on("authentication", (ctx) => {
      if (ctx.method !== "publickey" || ctx.username !== "root") return ctx.reject(["publickey"])
      const key = this.clientKey
      if (ctx.key.algo !== key.type || !ctx.key.data.equals(key.getPublicSSH())) return ctx.reject(["publickey"])
      // Without a signature the client only asks whether the key would do.
      if (ctx.signature === undefined) return ctx.accept()
      if (ctx.blob === undefined || key.verify(ctx.blob, ctx.signature, ctx.hashAlgo as never) !== true) return ctx.reject(["publickey"])
      ctx.accept()
    })
    conn.on("ready", () => {
      conn.on("session", (acceptSession) => {
        const session = acceptSession()
        const env: Record<string, string> = {}
        session.on("env", (accept, _reject, info) => {
          env[info.key] = info.val
          accept?.()
        })
        session.on("pty", (_accept, reject) => reject?.())
        session.on("shell", (_accept, reject) => reject?.())
        session.on("exec", (accept, _reject, info) => {
          const channel = accept()
          if (this.state !== "running") return void channel.close()
          const command: RunningCommand = runCommand(channel, info.command, this.root, env, () => this.commands.delete(command))
          this.commands.add(command)
        })
        session.on("sftp", (accept) => serveSftp(accept(), this.root))
      })
    })
  }
}
