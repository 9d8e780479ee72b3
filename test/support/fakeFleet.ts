/**
 * Tests of the fake fleet's SSH side: a started FakeFleet (Promise form, closed by `afterEach`),
 * API calls over real HTTP, and the raw ssh2 `Client` connected as pi-vers connects — TLS with
 * SNI `<vm_id>.vm.vers.sh` to the fleet's listener, trusting the fleet's CA, then SSH as root.
 */
import * as tls from "node:tls"
import ssh2 from "ssh2"
import { type FakeFleetHandle, type FakeFleetOptions, startFakeFleet, type StartedFakeFleet } from "../../src/testing/index.js"

export type StartedFleet = StartedFakeFleet

/** A fleet whose VMs boot at once. */
export const startFleet = (options: FakeFleetOptions = {}): Promise<StartedFleet> => startFakeFleet({ bootMs: 0, ...options })

/** One API call with the fleet's key; the parsed JSON (or undefined for an empty body) and status. */
export const api = async (fleet: FakeFleetHandle, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> => {
  const r = await fetch(`${fleet.vers.baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${fleet.vers.apiKey}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await r.text()
  return { status: r.status, json: text === "" ? undefined : JSON.parse(text) }
}

/** A new running VM (the fleet boots at once); its id and private key from `GET /vm/{id}/ssh_key`. */
export const newVm = async (fleet: FakeFleetHandle): Promise<{ id: string; key: string }> => {
  const created = await api(fleet, "POST", "/vm/new_root", { vm_config: {} })
  if (created.status !== 201) throw new Error(`new_root answered ${created.status}: ${JSON.stringify(created.json)}`)
  return { id: created.json.vm_id, key: await sshKey(fleet, created.json.vm_id) }
}

export const sshKey = async (fleet: FakeFleetHandle, id: string): Promise<string> => (await api(fleet, "GET", `/vm/${id}/ssh_key`)).json.ssh_private_key

export interface Connected {
  readonly client: ssh2.Client
  /** The host key the server presented (raw SSH wire form). */
  readonly hostKey: Buffer
}

/** TLS (SNI `<id>.vm.vers.sh`, the fleet's CA) then SSH as root with `key`; rejects on refusal. */
export const connect = (fleet: FakeFleetHandle, id: string, key: string): Promise<Connected> =>
  new Promise((resolve, reject) => {
    const sock = tls.connect({ host: fleet.ssh.host, port: fleet.ssh.port, servername: `${id}.vm.vers.sh`, ca: fleet.ssh.caPem })
    const client = new ssh2.Client()
    let hostKey: Buffer = Buffer.alloc(0)
    sock.on("error", reject)
    client.on("error", reject)
    client.on("close", () => reject(new Error("connection closed before ready")))
    client.on("ready", () => resolve({ client, hostKey }))
    sock.once("secureConnect", () =>
      client.connect({
        sock,
        username: "root",
        privateKey: key,
        readyTimeout: 10_000,
        hostVerifier: (k: Buffer) => {
          hostKey = k
          return true
        }
      })
    )
  })

export interface ExecResult {
  readonly code: number | null
  readonly signal: string | null
  readonly stdout: string
  readonly stderr: string
  /** Whether an exit-status or exit-signal arrived at all. */
  readonly exited: boolean
}

/** Runs `command` on an open client; resolves when its channel closes. */
export const exec = (client: ssh2.Client, command: string, options: { readonly stdin?: string | Buffer; readonly env?: Record<string, string> } = {}): Promise<ExecResult> =>
  new Promise((resolve, reject) => {
    client.exec(command, options.env === undefined ? {} : { env: options.env }, (err, ch) => {
      if (err) return reject(err)
      let stdout = ""
      let stderr = ""
      let code: number | null = null
      let signal: string | null = null
      let exited = false
      ch.on("data", (d: Buffer) => (stdout += d.toString("utf8")))
      ch.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")))
      ch.on("exit", (c: number | null, s?: string) => {
        exited = true
        code = c
        signal = s ?? null
      })
      ch.on("close", () => resolve({ code, signal, stdout, stderr, exited }))
      ch.end(options.stdin ?? "")
    })
  })
