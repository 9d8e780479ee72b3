/**
 * The fake fleet's VM model: VMs, commits and tags in memory, with the Vers orchestrator's
 * states and transitions, and the hooks FakeVm (src/testing/FakeVm.ts, an SSH server per VM) plugs into.
 *
 * Everything HTTP-shaped lives in `Routes.ts`; this module only knows VMs. Operations fail with
 * `ApiFailure` carrying the HTTP status the orchestrator answers with (404 unknown VM or
 * commit, 400 invalid request or transition: the document lists no 409 for VM operations).
 *
 * Boot: a new VM is `booting` for `bootMs`, then `running`. Operations that the document gives
 * a `skip_wait_boot` flag (delete, state, commit, branch, disk) wait for the boot to finish,
 * or fail with 400 at once when the flag is set.
 */
import { randomUUID } from "node:crypto"
import { Clock, Data, Deferred, Effect, Fiber } from "effect"
import { ed25519KeyPair } from "../fakeVm/Keys.js"

/** Sizes and images of a VM; a commit carries them to the VMs restored or branched from it. */
export interface VmConfig {
  readonly vcpu_count: number
  readonly mem_size_mib: number
  readonly fs_size_mib: number
  readonly image_name: string
  readonly kernel_name: string
}

/** The defaults of `POST /vm/new_root` when `vm_config` leaves a field out. */
export const defaultVmConfig: VmConfig = { vcpu_count: 1, mem_size_mib: 512, fs_size_mib: 1024, image_name: "default", kernel_name: "default.bin" }

/** How a VM came to be: a root VM, a restore of a commit, or a branch of a VM or commit. */
export type VmOrigin =
  | { readonly kind: "new_root" }
  | { readonly kind: "from_commit"; readonly commit_id: string }
  | { readonly kind: "branch"; readonly commit_id: string; readonly from_vm_id: string | null }

/** One VM of the fake fleet, as hooks and the handle see it (a snapshot: do not keep it). */
export interface FakeVmRecord {
  readonly vm_id: string
  /** `booting` | `running` | `paused` | `sleeping` | `dead`, or anything `setVmState` set. */
  readonly state: string
  readonly labels: Readonly<Record<string, string>>
  readonly config: VmConfig
  /** RFC 3339. */
  readonly created_at: string
  readonly deleted_at: string | null
  readonly ip: string
  readonly parent_commit_id: string | null
  readonly grandparent_vm_id: string | null
  readonly origin: VmOrigin
  /** Which API key created it (`key-1`, `key-2`, … in the order keys were added; never the key). */
  readonly key_id: string
  /** The VM's own ed25519 key pair in OpenSSH format; a restored or branched VM gets a new one. */
  readonly ssh_private_key: string
  readonly ssh_public_key: string
}

/** A commit (snapshot of a VM's memory and disk). */
export interface FakeCommit {
  readonly commit_id: string
  readonly name: string
  readonly description: string | null
  /** RFC 3339. */
  readonly created_at: string
  readonly parent_vm_id: string | null
  readonly grandparent_commit_id: string | null
  readonly config: VmConfig
}

/**
 * Callbacks for what runs beside the API (a FakeVm SSH server, a per-VM root directory). Each
 * may return a Promise; the API answers only after it settles, so a restored VM's directory
 * exists when the client learns its id. A hook that throws makes the request answer 500.
 */
export interface FakeVersHooks {
  readonly onCreate?: (vm: FakeVmRecord) => void | Promise<void>
  readonly onDelete?: (vm: FakeVmRecord) => void | Promise<void>
  readonly onCommit?: (vm: FakeVmRecord, commit: FakeCommit) => void | Promise<void>
  /** A VM restored or branched from `commit` (after `onCreate`). */
  readonly onRestore?: (vm: FakeVmRecord, commit: FakeCommit) => void | Promise<void>
  readonly onStateChange?: (vm: FakeVmRecord, from: string) => void | Promise<void>
}

/** An operation's refusal, with the status and `error` text the API answers with. */
export class ApiFailure extends Data.TaggedError("ApiFailure")<{ readonly status: number; readonly message: string }> {}

interface Entry {
  vm: Mutable<FakeVmRecord>
  readonly booted: Deferred.Deferred<void>
  boot: Fiber.RuntimeFiber<void> | undefined
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/** Runs an effect in the server's scope (it is interrupted when the fake closes). */
export type Fork = (effect: Effect.Effect<void>) => Fiber.RuntimeFiber<void>

const notFound = (id: string) => new ApiFailure({ status: 404, message: `VM ${id} not found` })
const invalid = (message: string) => new ApiFailure({ status: 400, message })

/** RFC 3339 from the Effect clock (so a TestClock drives `created_at` too). */
const nowIso = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms).toISOString())

const newKeyPair = () => {
  const pair = ed25519KeyPair()
  return { ssh_private_key: pair.private, ssh_public_key: pair.public }
}

const runHook = <A extends ReadonlyArray<unknown>>(hook: ((...args: A) => void | Promise<void>) | undefined, ...args: A) =>
  hook === undefined ? Effect.void : Effect.promise(() => Promise.resolve(hook(...args)))

const snapshot = (vm: FakeVmRecord): FakeVmRecord => ({ ...vm, labels: { ...vm.labels } })

export interface ModelOptions {
  readonly bootMs: number
  readonly ownerId: string
  readonly hooks: FakeVersHooks
  readonly fork: Fork
  /** Called with every VM the moment it exists, and with its id when it is deleted. */
  readonly onCreated: (vm: FakeVmRecord) => void
  readonly onDeleted: (vm: FakeVmRecord) => void
}

/** The fleet: VMs, deleted VMs (their metadata stays readable), commits, tags and repository refs. */
export class Model {
  private readonly vms = new Map<string, Entry>()
  private readonly gone = new Map<string, FakeVmRecord>()
  private readonly commits = new Map<string, FakeCommit>()
  private readonly tags = new Map<string, { readonly commit_id: string; readonly tag_id: string }>()
  private readonly refs = new Map<string, string>()
  private ipCounter = 0

  constructor(private readonly options: ModelOptions) {}

  get ownerId(): string {
    return this.options.ownerId
  }

  /** Live VMs in creation order. */
  list(): ReadonlyArray<FakeVmRecord> {
    return [...this.vms.values()].map((e) => snapshot(e.vm))
  }

  find(id: string): FakeVmRecord | undefined {
    const e = this.vms.get(id)
    return e === undefined ? undefined : snapshot(e.vm)
  }

  /** A live VM, or 404. */
  get(id: string): Effect.Effect<FakeVmRecord, ApiFailure> {
    const e = this.vms.get(id)
    return e === undefined ? Effect.fail(notFound(id)) : Effect.succeed(snapshot(e.vm))
  }

  /** A live or deleted VM (metadata keeps answering for deleted VMs, with `deleted_at`), or 404. */
  getWithDeleted(id: string): Effect.Effect<FakeVmRecord, ApiFailure> {
    const e = this.vms.get(id)
    if (e !== undefined) return Effect.succeed(snapshot(e.vm))
    const g = this.gone.get(id)
    return g === undefined ? Effect.fail(notFound(id)) : Effect.succeed(g)
  }

  commitList(): ReadonlyArray<FakeCommit> {
    return [...this.commits.values()]
  }

  /** Points tag `name` (legacy org-scoped tag) at a commit; 404 for an unknown commit. */
  tag(name: string, commitId: string): Effect.Effect<void, ApiFailure> {
    if (!this.commits.has(commitId)) return Effect.fail(new ApiFailure({ status: 404, message: `Commit ${commitId} not found` }))
    return Effect.sync(() => void this.tags.set(name, { commit_id: commitId, tag_id: this.tags.get(name)?.tag_id ?? randomUUID() }))
  }

  hasTag(name: string): boolean {
    return this.tags.has(name)
  }

  tagId(name: string): string | undefined {
    return this.tags.get(name)?.tag_id
  }

  /** Points the repository reference `repo:tag` at a commit; 404 for an unknown commit. */
  ref(repo: string, tag: string, commitId: string): Effect.Effect<void, ApiFailure> {
    if (!this.commits.has(commitId)) return Effect.fail(new ApiFailure({ status: 404, message: `Commit ${commitId} not found` }))
    return Effect.sync(() => void this.refs.set(`${repo}:${tag}`, commitId))
  }

  /** Forces a VM's state (e.g. `sleeping`, `dead`, or an unknown word a client must keep). */
  setState(id: string, state: string): boolean {
    const e = this.vms.get(id)
    if (e === undefined) return false
    e.vm.state = state
    return true
  }

  /** `POST /vm/new_root`: a booting VM; with `waitBoot` it answers once it runs. */
  createRoot = (config: VmConfig, labels: Record<string, string>, keyId: string, waitBoot: boolean) =>
    Effect.gen(this, function* () {
      const e = yield* this.spawn({ kind: "new_root" }, config, labels, keyId, null, null)
      if (waitBoot) yield* this.awaitBoot(e, false)
      return e.vm.vm_id
    })

  /** `POST /vm/from_commit`: a new VM (new SSH key) from a commit, tag or `repo:tag` reference. */
  restore = (source: { readonly commit_id: string } | { readonly tag_name: string } | { readonly ref: string }, keyId: string) =>
    Effect.gen(this, function* () {
      const commit = yield* this.resolveCommit(source)
      const e = yield* this.spawn({ kind: "from_commit", commit_id: commit.commit_id }, commit.config, {}, keyId, commit.commit_id, commit.parent_vm_id)
      yield* runHook(this.options.hooks.onRestore, snapshot(e.vm), commit)
      return e.vm.vm_id
    })

  /** `POST /vm/{vm_or_commit_id}/branch`: `count` new VMs from a commit, or from a VM (committed first). */
  branch = (id: string, count: number, keepPaused: boolean, skipWaitBoot: boolean, keyId: string) =>
    Effect.gen(this, function* () {
      let commit = this.commits.get(id)
      let fromVm: string | null = null
      if (commit === undefined) {
        if (!this.vms.has(id)) return yield* notFound(id)
        commit = yield* this.commit(id, { keepPaused, skipWaitBoot })
        fromVm = id
      }
      const ids: Array<string> = []
      for (let i = 0; i < count; i++) {
        const e = yield* this.spawn({ kind: "branch", commit_id: commit.commit_id, from_vm_id: fromVm }, commit.config, {}, keyId, commit.commit_id, commit.parent_vm_id)
        yield* runHook(this.options.hooks.onRestore, snapshot(e.vm), commit)
        ids.push(e.vm.vm_id)
      }
      return ids
    })

  /** `DELETE /vm/{id}`: removes the VM (a booting one after its boot unless `skipWaitBoot`). */
  remove = (id: string, skipWaitBoot: boolean) =>
    Effect.gen(this, function* () {
      const e = yield* this.live(id)
      yield* this.awaitBoot(e, skipWaitBoot)
      if (this.vms.get(id) !== e) return yield* notFound(id)
      this.vms.delete(id)
      e.vm.deleted_at = yield* nowIso
      e.vm.state = "dead"
      const last = snapshot(e.vm)
      this.gone.set(id, last)
      this.options.onDeleted(last)
      yield* runHook(this.options.hooks.onDelete, last)
      return id
    })

  /** `PATCH /vm/{id}/state`: `Paused` from running, `Running` from paused or sleeping; else 400. */
  changeState = (id: string, requested: "Paused" | "Running", skipWaitBoot: boolean) =>
    Effect.gen(this, function* () {
      const e = yield* this.live(id)
      yield* this.awaitBoot(e, skipWaitBoot)
      const from = e.vm.state
      const allowed = requested === "Paused" ? from === "running" : from === "paused" || from === "sleeping"
      if (!allowed) return yield* invalid(`VM ${id} is ${from}; it cannot change to ${requested}`)
      yield* this.transition(e, requested === "Paused" ? "paused" : "running")
    })

  /** `POST /vm/{id}/commit`: a commit of a running or paused VM; `keepPaused` leaves it paused. */
  commit = (id: string, request: { readonly keepPaused: boolean; readonly skipWaitBoot: boolean; readonly commitId?: string | null | undefined; readonly name?: string | null | undefined; readonly description?: string | null | undefined }) =>
    Effect.gen(this, function* () {
      const e = yield* this.live(id)
      yield* this.awaitBoot(e, request.skipWaitBoot)
      if (e.vm.state !== "running" && e.vm.state !== "paused") return yield* invalid(`VM ${id} is ${e.vm.state}; only a running or paused VM can be committed`)
      const commitId = request.commitId ?? randomUUID()
      if (this.commits.has(commitId)) return yield* invalid(`Commit ${commitId} already exists`)
      const commit: FakeCommit = {
        commit_id: commitId,
        name: request.name ?? `commit-${commitId.slice(0, 8)}`,
        description: request.description ?? null,
        created_at: yield* nowIso,
        parent_vm_id: id,
        grandparent_commit_id: e.vm.parent_commit_id,
        config: e.vm.config
      }
      this.commits.set(commitId, commit)
      yield* runHook(this.options.hooks.onCommit, snapshot(e.vm), commit)
      if (request.keepPaused && e.vm.state === "running") yield* this.transition(e, "paused")
      return commit
    })

  /** `PATCH /vm/{id}/label`: replaces the VM's labels (`null` clears them). */
  label = (id: string, labels: Record<string, string> | null) =>
    Effect.gen(this, function* () {
      const e = yield* this.live(id)
      e.vm.labels = { ...labels }
    })

  /** `PATCH /vm/{id}/disk`: grows the disk; a size not larger than the current one is 400. */
  resize = (id: string, fsSizeMib: number, skipWaitBoot: boolean) =>
    Effect.gen(this, function* () {
      const e = yield* this.live(id)
      yield* this.awaitBoot(e, skipWaitBoot)
      if (fsSizeMib <= e.vm.config.fs_size_mib) {
        return yield* invalid(`The new disk size ${fsSizeMib} MiB is not larger than the current ${e.vm.config.fs_size_mib} MiB`)
      }
      e.vm.config = { ...e.vm.config, fs_size_mib: fsSizeMib }
    })

  /** Interrupts the boot fibers (the server's scope closes them too; this makes it prompt). */
  close = Effect.suspend(() => Effect.forEach([...this.vms.values()], (e) => (e.boot === undefined ? Effect.void : Fiber.interrupt(e.boot)), { discard: true }))

  private live(id: string): Effect.Effect<Entry, ApiFailure> {
    const e = this.vms.get(id)
    return e === undefined ? Effect.fail(notFound(id)) : Effect.succeed(e)
  }

  private resolveCommit(source: { readonly commit_id: string } | { readonly tag_name: string } | { readonly ref: string }): Effect.Effect<FakeCommit, ApiFailure> {
    const [what, id] =
      "commit_id" in source
        ? [`Commit ${source.commit_id}`, source.commit_id]
        : "tag_name" in source
          ? [`Tag ${source.tag_name}`, this.tags.get(source.tag_name)?.commit_id]
          : [`Reference ${source.ref}`, this.refs.get(source.ref)]
    const commit = id === undefined ? undefined : this.commits.get(id)
    return commit === undefined ? Effect.fail(new ApiFailure({ status: 404, message: `${what} not found` })) : Effect.succeed(commit)
  }

  /** Waits until a booting VM runs (or fails at once with `skip`); 404 when it was deleted meanwhile. */
  private awaitBoot(e: Entry, skip: boolean): Effect.Effect<void, ApiFailure> {
    if (e.vm.state !== "booting") return Effect.void
    if (skip) return Effect.fail(invalid(`VM ${e.vm.vm_id} is still booting`))
    const id = e.vm.vm_id
    return Deferred.await(e.booted).pipe(Effect.zipRight(Effect.suspend(() => (this.vms.get(id) === e ? Effect.void : Effect.fail(notFound(id))))))
  }

  private transition(e: Entry, to: string) {
    const from = e.vm.state
    e.vm.state = to
    return runHook(this.options.hooks.onStateChange, snapshot(e.vm), from)
  }

  private spawn(origin: VmOrigin, config: VmConfig, labels: Record<string, string>, keyId: string, parentCommit: string | null, grandparentVm: string | null) {
    return Effect.gen(this, function* () {
      const booting = this.options.bootMs > 0
      this.ipCounter += 1
      const vm: Mutable<FakeVmRecord> = {
        vm_id: randomUUID(),
        state: booting ? "booting" : "running",
        labels: { ...labels },
        config,
        created_at: yield* nowIso,
        deleted_at: null,
        ip: `fd00:fa4e::${this.ipCounter.toString(16)}`,
        parent_commit_id: parentCommit,
        grandparent_vm_id: grandparentVm,
        origin,
        key_id: keyId,
        ...newKeyPair()
      }
      const e: Entry = { vm, booted: yield* Deferred.make<void>(), boot: undefined }
      this.vms.set(vm.vm_id, e)
      this.options.onCreated(snapshot(vm))
      yield* runHook(this.options.hooks.onCreate, snapshot(vm))
      if (!booting) yield* Deferred.succeed(e.booted, undefined)
      else e.boot = this.options.fork(this.finishBoot(e))
      return e
    })
  }

  private finishBoot(e: Entry): Effect.Effect<void> {
    return Effect.sleep(this.options.bootMs).pipe(
      Effect.zipRight(Effect.suspend(() => (this.vms.get(e.vm.vm_id) === e && e.vm.state === "booting" ? this.transition(e, "running") : Effect.void))),
      // Waiters wake whether the VM now runs or was deleted while booting.
      Effect.ensuring(Deferred.succeed(e.booted, undefined)),
      Effect.asVoid
    )
  }
}
