/**
 * FakeFleet — a whole fake Vers fleet on loopback (`troupe/testing`, `troupe fleet fake`): the
 * API (FakeVers) and the VMs' SSH side (FakeVm) wired through FakeVers' hooks, so creating,
 * pausing, committing, restoring, branching and deleting VMs through the API acts on the SSH
 * side, and the API's exec/files operations act on the same VM roots.
 *
 * `env` holds what a client needs, in the variables troupe reads:
 *
 * | variable | value |
 * |---|---|
 * | `VERS_BASE_URL` | `http://127.0.0.1:<port>/api/v1` |
 * | `VERS_API_KEY` | the fake's key |
 * | `VERS_SSH_HOST` | `{vm_id}.vm.vers.sh` (the SNI / certificate name template) |
 * | `VERS_SSH_ADDRESS` | `127.0.0.1` (where to connect instead of resolving the name) |
 * | `VERS_SSH_PORT` | the TLS listener's port |
 * | `VERS_SSH_CA` | `<dir>/ca.pem` (mode 0600): the CA to trust instead of the system's |
 *
 * ```ts
 * const fleet = yield* FakeFleet.make({ bootMs: 0 })
 * // … run code with fleet.env; fleet.ssh.vm(id)?.root is the VM's filesystem …
 * ```
 */
import { Cause, Effect, Exit, Scope } from "effect"
import * as FakeVers from "./FakeVers.js"
import * as FakeVm from "./FakeVm.js"

/** Where a VM's SSH name comes from: `{vm_id}` is replaced by the VM's id. */
export const defaultSshHost = "{vm_id}.vm.vers.sh"

export interface FakeFleetOptions extends Omit<FakeVers.FakeVersOptions, "hooks" | "sshPort" | "vmRoot"> {
  /** The fleet directory (VM roots, commits, `ca.pem`); default a temp dir removed with the scope. */
  readonly dir?: string
  /** Port of the SSH (TLS) listener (default 0: any free port). */
  readonly sshPort?: number
  /** The `VERS_SSH_HOST` template (default `{vm_id}.vm.vers.sh`); the certificate covers it. */
  readonly sshHost?: string
}

/** The fleet's client environment (see the module doc). */
export interface FakeFleetEnv {
  readonly VERS_BASE_URL: string
  readonly VERS_API_KEY: string
  readonly VERS_SSH_HOST: string
  readonly VERS_SSH_ADDRESS: string
  readonly VERS_SSH_PORT: string
  readonly VERS_SSH_CA: string
}

export interface FakeFleetHandle {
  /** The API side (ledger, faults, VMs, commits, …). */
  readonly vers: FakeVers.FakeVersHandle
  /** The SSH side (VM roots, host keys, running commands). */
  readonly ssh: FakeVm.FakeVmHandle
  readonly dir: string
  /** Read at each access (the API key may rotate). */
  readonly env: FakeFleetEnv
  /** `FakeVers.setVmState` that the SSH side follows too (only `running` accepts connections). */
  readonly setVmState: (vmId: string, state: string) => boolean
}

/**
 * Starts the API and the SSH side for the life of the scope.
 * @fails FakeVersError when the API cannot listen; FakeVmError when the SSH side cannot start.
 */
export const make = (options: FakeFleetOptions = {}): Effect.Effect<FakeFleetHandle, FakeVers.FakeVersError | FakeVm.FakeVmError, Scope.Scope> =>
  Effect.gen(function* () {
    const sshHost = options.sshHost ?? defaultSshHost
    const { dir, sshPort, sshHost: _template, ...versOptions } = options
    const ssh = yield* FakeVm.make({
      ...(dir === undefined ? {} : { dir }),
      ...(options.host === undefined ? {} : { host: options.host }),
      ...(sshPort === undefined ? {} : { port: sshPort }),
      hostTemplates: [sshHost]
    })
    const vers = yield* FakeVers.make({ ...versOptions, hooks: ssh.hooks, sshPort: ssh.port, vmRoot: (id) => ssh.vm(id)?.root })
    return {
      vers,
      ssh,
      dir: ssh.dir,
      get env(): FakeFleetEnv {
        return {
          VERS_BASE_URL: vers.baseUrl,
          VERS_API_KEY: vers.apiKey,
          VERS_SSH_HOST: sshHost,
          VERS_SSH_ADDRESS: ssh.host,
          VERS_SSH_PORT: String(ssh.port),
          VERS_SSH_CA: ssh.caFile
        }
      },
      setVmState: (id, state) => {
        const known = vers.setVmState(id, state)
        if (known) ssh.setState(id, state)
        return known
      }
    }
  })

/** The plain-Promise form: the handle plus `close()`. */
export interface StartedFakeFleet extends FakeFleetHandle {
  /** Stops both sides: connections drop, commands are killed, a temp fleet directory is removed. */
  readonly close: () => Promise<void>
}

/**
 * Starts a fake fleet for code outside Effect; `close()` it when done.
 * @throws FakeVersError or FakeVmError when a side cannot start.
 */
export const startFakeFleet = async (options: FakeFleetOptions = {}): Promise<StartedFakeFleet> => {
  const scope = Effect.runSync(Scope.make())
  const exit = await Effect.runPromiseExit(Scope.extend(make(options), scope))
  if (Exit.isFailure(exit)) {
    await Effect.runPromise(Scope.close(scope, exit))
    throw Cause.squash(exit.cause)
  }
  const handle = exit.value
  // Spread would copy the `env` getter's value once; keep it live.
  return Object.defineProperties(Object.create(null) as StartedFakeFleet, {
    ...Object.getOwnPropertyDescriptors(handle),
    close: { value: () => Effect.runPromise(Scope.close(scope, Exit.void)), enumerable: true }
  })
}
