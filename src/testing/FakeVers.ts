/**
 * FakeVers — a fake Vers fleet over real HTTP on loopback (`troupe/testing`, `troupe fleet
 * fake`), faithful to the Vers orchestrator's OpenAPI document for its VM operations:
 *
 * | operation id | method & path (under `baseUrl`, which ends in `/api/v1`) | answer |
 * |---|---|---|
 * | `list_vms` | `GET /vms` (and `GET /vm`) | 200 `VM[]` |
 * | `create_new_root_vm` | `POST /vm/new_root[?wait_boot=true]` `{vm_config}` | 201 `{vm_id}` |
 * | `delete_vm` | `DELETE /vm/{id}[?skip_wait_boot=true]` | 200 `{vm_id}` (legacy `{deleted_ids}`) |
 * | `vm_status` | `GET /vm/{id}/status` | 200 `VM` |
 * | `get_vm_metadata` | `GET /vm/{id}/metadata` | 200 `{vm_id, owner_id, created_at, state, ip, deleted_at, …}` |
 * | `label_vm` | `PATCH /vm/{id}/label` `{labels}` | 200, empty (labels replaced) |
 * | `update_vm_state` | `PATCH /vm/{id}/state` `{state: "Paused"|"Running"}` | 200, empty |
 * | `commit_vm` | `POST /vm/{id}/commit[?keep_paused=true]` `{commit_id?, name?, description?}` | 201 `{commit_id}` |
 * | `restore_from_commit` | `POST /vm/from_commit` `{commit_id}` \| `{tag_name}` \| `{ref}` | 201 `{vm_id}` |
 * | `branch_vm` | `POST /vm/{vm_or_commit_id}/branch[?count=n&keep_paused=true]` | 201 `{vms: [{vm_id}]}` (legacy `{vm_id}`) |
 * | `ssh_key` | `GET /vm/{id}/ssh_key` | 200 `{ssh_port, ssh_private_key}` (ed25519, OpenSSH) |
 * | `resize_vm_disk` | `PATCH /vm/{id}/disk` `{fs_size_mib}` (must grow) | 200, empty |
 * | `list_commits` | `GET /commits[?limit&offset]` | 200 `{commits, total, limit, offset}` |
 * | `create_tag` | `POST /commit_tags` `{tag_name, commit_id}` | 201 `{tag_id, tag_name, commit_id}` |
 * | `exec_vm` | `POST /vm/{id}/exec` `{command: argv, env?, stdin?, timeout_secs?, working_dir?}` | 200 `{exit_code, stdout, stderr, exec_id}` |
 * | `read_file_vm` | `GET /vm/{id}/files?path=` | 200 `{content_b64}` |
 * | `write_file_vm` | `PUT /vm/{id}/files` `{path, content_b64, mode?, create_dirs?}` | 200, empty |
 *
 * Errors answer the document's `{error, success: false}`: 401 without a valid Bearer key, 404
 * for an unknown VM or commit, 400 for an invalid body, query or transition (pausing a paused
 * VM, shrinking a disk, `skip_wait_boot=true` on a booting VM). A new VM is `booting` for
 * `bootMs` (default 50 ms), then `running`. Faults (`handle.faults.inject`) and the ledger
 * (`handle.ledger`) are for tests; `hooks` let a fake SSH side follow the VMs. The exec and
 * files operations act on `vmRoot(vm_id)` (FakeFleet points it at FakeVm's roots; without it
 * they answer 500).
 *
 * ```ts
 * const fleet = yield* FakeVers.make({ bootMs: 10 })
 * fleet.faults.inject({ operation: "create_new_root_vm", fault: { kind: "status", status: 500 }, afterEffect: true })
 * // … run the code under test against fleet.baseUrl with fleet.apiKey …
 * expect(fleet.ledger.live()).toEqual([])
 * ```
 */
import { randomBytes, randomUUID } from "node:crypto"
import { Cause, Effect, Exit, FiberSet, Random, Scope } from "effect"
import { type FaultRule, Faults } from "./fakeVers/Faults.js"
import { Ledger } from "./fakeVers/Ledger.js"
import { type FakeCommit, type FakeVersHooks, type FakeVmRecord, Model } from "./fakeVers/Model.js"
import { operations, type Settings, type Variants } from "./fakeVers/Routes.js"
import { FakeVersError, Keys, serve } from "./fakeVers/Server.js"

export type { Fault, FaultRule } from "./fakeVers/Faults.js"
export type { Ledger, LedgerRequest, LedgerVm } from "./fakeVers/Ledger.js"
export type { FakeCommit, FakeVersHooks, FakeVmRecord, VmConfig, VmOrigin } from "./fakeVers/Model.js"
export { operations } from "./fakeVers/Routes.js"
export type { Variants } from "./fakeVers/Routes.js"
export { FakeVersError }
/** @deprecated The VM record is `FakeVmRecord` now (`FakeVm` names the fake SSH side, src/testing/FakeVm.ts). */
export type FakeVm = FakeVmRecord

export interface FakeVersOptions {
  /** Loopback address to listen on (default `127.0.0.1`). */
  readonly host?: string
  /** Port (default 0: any free port). */
  readonly port?: number
  /** The API key clients must send (default a random `fake-vers-…` key). */
  readonly apiKey?: string
  /** More keys accepted beside `apiKey`. */
  readonly extraKeys?: ReadonlyArray<string>
  /** How long a new VM stays `booting`, in ms (default 50; 0 = born `running`). */
  readonly bootMs?: number
  /** Seed of the generator behind probabilistic faults (default 1). */
  readonly seed?: number
  /** Response variants (default both `current`, as the document says). */
  readonly variants?: Partial<Variants>
  /** The `ssh_port` answered by `GET /vm/{id}/ssh_key` (default 22). */
  readonly sshPort?: number | ((vm: FakeVmRecord) => number)
  /** The `owner_id` of every VM and commit (default a random uuid). */
  readonly ownerId?: string
  readonly hooks?: FakeVersHooks
  /** A VM's root directory for `exec_vm` and the files operations (FakeFleet sets it to FakeVm's). */
  readonly vmRoot?: (vmId: string) => string | undefined
}

/** A running fake fleet. Every method is synchronous (the state is in memory). */
export interface FakeVersHandle {
  /** `http://127.0.0.1:<port>/api/v1` — what `VERS_BASE_URL` should be. */
  readonly baseUrl: string
  readonly port: number
  /** The key most recently set: the initial one, or the last `rotateKey`/`addKey`. */
  readonly apiKey: string
  readonly ownerId: string
  /** From now on only `newKey` is accepted (requests with an older key get 401). */
  readonly rotateKey: (newKey: string) => void
  /** Accept `key` too (several keys may be valid at once). */
  readonly addKey: (key: string) => void
  readonly ledger: Pick<Ledger, "created" | "live" | "requests" | "reset">
  readonly faults: {
    /** Arms a rule; throws RangeError for an operation id the fake does not have, or a probability outside 0..1. */
    readonly inject: (rule: FaultRule) => void
    readonly clear: () => void
    readonly pending: () => ReadonlyArray<FaultRule & { readonly remaining: number }>
  }
  /** The VMs that exist now. */
  readonly vms: () => ReadonlyArray<FakeVmRecord>
  readonly vm: (vmId: string) => FakeVmRecord | undefined
  readonly commits: () => ReadonlyArray<FakeCommit>
  /** Forces a VM's state (`sleeping`, `dead`, or any word a client must keep); false for an unknown VM. */
  readonly setVmState: (vmId: string, state: string) => boolean
  /** Points a legacy tag (`from_commit {tag_name}`) at a commit; throws for an unknown commit. */
  readonly tag: (tagName: string, commitId: string) => void
  /** Points a repository reference (`from_commit {ref: "repo:tag"}`) at a commit; throws for an unknown commit. */
  readonly ref: (repo: string, tagName: string, commitId: string) => void
  readonly setVariants: (variants: Partial<Variants>) => void
  readonly setSshPort: (port: number | ((vm: FakeVmRecord) => number)) => void
}

/** The plain-Promise form: the handle plus `close()`. */
export interface StartedFakeVers extends FakeVersHandle {
  /** Stops listening, drops open connections (hanging requests end) and stops boot timers. */
  readonly close: () => Promise<void>
}

const portFn = (p: number | ((vm: FakeVmRecord) => number)) => (typeof p === "number" ? () => p : p)

/**
 * Starts a fake fleet on loopback for the life of the scope.
 * @fails FakeVersError when it cannot listen (e.g. the port is taken).
 */
export const make = (options: FakeVersOptions = {}): Effect.Effect<FakeVersHandle, FakeVersError, Scope.Scope> =>
  Effect.gen(function* () {
    const run = yield* FiberSet.makeRuntime<never, void, never>()
    const host = options.host ?? "127.0.0.1"
    const keys = new Keys(options.apiKey ?? `fake-vers-${randomBytes(16).toString("hex")}`, options.extraKeys ?? [])
    const ledger = new Ledger()
    const faults = new Faults(Random.make(options.seed ?? 1))
    const settings: Settings = { variants: { delete: "current", branch: "current", ...options.variants }, sshPort: portFn(options.sshPort ?? 22), vmRoot: options.vmRoot }
    const model = new Model({
      bootMs: options.bootMs ?? 50,
      ownerId: options.ownerId ?? randomUUID(),
      hooks: options.hooks ?? {},
      fork: run,
      onCreated: (vm) => ledger.vmCreated(vm),
      onDeleted: (vm) => ledger.vmDeleted(vm)
    })
    const port = yield* serve({ model, settings, faults, ledger, keys }, run, host, options.port ?? 0)
    const handle: FakeVersHandle = {
      baseUrl: `http://${host.includes(":") ? `[${host}]` : host}:${port}/api/v1`,
      port,
      get apiKey() {
        return keys.current
      },
      ownerId: model.ownerId,
      rotateKey: (k) => keys.rotate(k),
      addKey: (k) => keys.add(k),
      ledger: { created: () => ledger.created(), live: () => ledger.live(), requests: () => ledger.requests(), reset: () => ledger.reset() },
      faults: {
        inject: (r) => {
          // A misspelt operation would never fire, and the test would pass for the wrong reason.
          if (r.operation !== "*" && !operations.includes(r.operation)) throw new RangeError(`FakeVers has no operation ${r.operation} (one of: ${operations.join(", ")}, or "*")`)
          faults.inject(r)
        },
        clear: () => faults.clear(), pending: () => faults.pending() },
      vms: () => model.list(),
      vm: (id) => model.find(id),
      commits: () => model.commitList(),
      setVmState: (id, state) => model.setState(id, state),
      tag: (name, commitId) => Effect.runSync(Effect.orDieWith(model.tag(name, commitId), (e) => new Error(e.message))),
      ref: (repo, name, commitId) => Effect.runSync(Effect.orDieWith(model.ref(repo, name, commitId), (e) => new Error(e.message))),
      setVariants: (v) => void (settings.variants = { ...settings.variants, ...v }),
      setSshPort: (p) => void (settings.sshPort = portFn(p))
    }
    return handle
  })

/**
 * Starts a fake fleet for code outside Effect; `close()` it when done.
 * @throws FakeVersError when it cannot listen.
 */
export const startFakeVers = async (options: FakeVersOptions = {}): Promise<StartedFakeVers> => {
  const scope = Effect.runSync(Scope.make())
  const exit = await Effect.runPromiseExit(Scope.extend(make(options), scope))
  if (Exit.isFailure(exit)) {
    await Effect.runPromise(Scope.close(scope, exit))
    throw Cause.squash(exit.cause)
  }
  const handle = exit.value
  // Spread would copy the `apiKey` getter's value once; keep it live.
  return Object.defineProperties(Object.create(null) as StartedFakeVers, {
    ...Object.getOwnPropertyDescriptors(handle),
    close: { value: () => Effect.runPromise(Scope.close(scope, Exit.void)), enumerable: true }
  })
}
