/**
 * `VersApi`: the typed Vers REST client (SPEC-vers §2) — what pi-vers' `vers_vm_*` tools call,
 * as one service over `@effect/platform`'s `HttpClient`. Every call sends
 * `Authorization: Bearer <key>` (the key is looked up per call, see `VersConfig`), has a
 * timeout (`VersConfig.requestTimeoutMs`, default 60 s), decodes its answer with the Schemas of
 * `domain/Vers.ts`, and fails with one of the `VersError`s of `domain/VersErrors.ts`.
 *
 * Retries: reads and idempotent writes (GET, DELETE, PATCH) retry transient failures (5xx,
 * 429 after its `retry-after-ms` / `retry-after`, timeouts, connection errors, an answer that
 * is not JSON at all) with jittered exponential backoff, 3 attempts in all; a well-formed
 * answer of the wrong shape is a `VersDecodeError` at once. Creates never retry blindly: `createRoot` labels the
 * VM with a unique request id and, after an ambiguous failure, adopts the VM carrying that
 * label or creates again (bounded); `restore` reconciles by listing (docs/vers.md "API
 * client"); `branch` and `commit` are not retried.
 *
 * The implementation lives in `src/services/vers/`.
 */
import { Context, type Effect, Layer } from "effect"
import type { HttpClient } from "@effect/platform"
import type { CommitResponse, CommitRequest, Labels, RestoreSource, SshKey, Vm, VmId, VmMetadata, VmTargetState } from "../domain/Vers.js"
import type { VersError } from "../domain/VersErrors.js"
import { make } from "./vers/Client.js"
import type { VersConfig } from "./VersConfig.js"

/** The size and image of a new root VM (`vm_config` of `POST /vm/new_root`), sizes in MiB. */
export interface VmConfigInput {
  readonly vcpuCount?: number | undefined
  readonly memSizeMib?: number | undefined
  readonly fsSizeMib?: number | undefined
  /** Must currently be `"default"` (the server's default). */
  readonly imageName?: string | undefined
  /** Must currently be `"default.bin"` (the server's default). */
  readonly kernelName?: string | undefined
}

export interface CreateRootOptions {
  readonly config?: VmConfigInput | undefined
  /** Labels of the new VM (troupe adds its request label, {@link requestLabel}). */
  readonly labels?: Labels | undefined
  /** `?wait_boot=true`: the server answers once the VM has booted. */
  readonly waitBoot?: boolean | undefined
}

export interface RestoreOptions {
  /** Labels set on the restored VM right after it exists (`PATCH /vm/{id}/label`). */
  readonly labels?: Labels | undefined
}

export interface BranchOptions {
  /** How many VMs to branch (default 1). */
  readonly count?: number | undefined
  /** Keep the parent paused after its snapshot. */
  readonly keepPaused?: boolean | undefined
}

export interface CommitOptions extends Partial<CommitRequest> {
  /** `?keep_paused=true`: leave the VM paused after the commit (golden images). */
  readonly keepPaused?: boolean | undefined
}

export { requestLabel } from "../domain/Vers.js"

export interface VersApiShape {
  /**
   * `GET /vms`: every VM the key can see (a bare array).
   * @fails VersError
   */
  readonly list: () => Effect.Effect<ReadonlyArray<Vm>, VersError>
  /**
   * `GET /vm/{id}/status`: one VM.
   * @fails VmNotFound when it does not exist, else VersError
   */
  readonly status: (vmId: VmId) => Effect.Effect<Vm, VersError>
  /** `GET /vm/{id}/metadata`: the VM with its ip and lineage. @fails VmNotFound, VersError */
  readonly metadata: (vmId: VmId) => Effect.Effect<VmMetadata, VersError>
  /**
   * `POST /vm/new_root`: a new root VM; reconciled by its request label after an ambiguous
   * failure (never two VMs for one call). @fails VersError
   */
  readonly createRoot: (options?: CreateRootOptions) => Effect.Effect<VmId, VersError>
  /**
   * `DELETE /vm/{id}`: deletes the VM (and what the server deletes with it); the ids deleted.
   * A retry that meets 404 after an ambiguous first attempt counts as deleted.
   * @fails VmNotFound when it never existed, else VersError
   */
  readonly delete: (vmId: VmId) => Effect.Effect<ReadonlyArray<VmId>, VersError>
  /** `POST /vm/{id}/branch[?count=n]`: copy-on-write clones of a VM (or commit); their ids. Not retried. @fails VersError */
  readonly branch: (vmId: VmId, options?: BranchOptions) => Effect.Effect<ReadonlyArray<VmId>, VersError>
  /** `POST /vm/{id}/commit[?keep_paused=true]`: snapshots memory and disk. Not retried. @fails VersError */
  readonly commit: (vmId: VmId, options?: CommitOptions) => Effect.Effect<CommitResponse, VersError>
  /**
   * `POST /vm/from_commit`: a new VM restored from a commit, tag or ref, labelled with
   * `options.labels` right after; reconciled by listing after an ambiguous failure.
   * @fails VmNotFound when the commit does not exist, else VersError
   */
  readonly restore: (source: RestoreSource, options?: RestoreOptions) => Effect.Effect<VmId, VersError>
  /**
   * `PATCH /vm/{id}/state`: pause or resume. Vers refuses (400) a change to the state the VM is
   * in; a retry refused so after an ambiguous attempt succeeds when the VM is in the requested state.
   * @fails VmNotFound, VmConflict, VersError
   */
  readonly setState: (vmId: VmId, state: VmTargetState) => Effect.Effect<void, VersError>
  /** `GET /vm/{id}/ssh_key`: the VM's SSH port and private key (`Redacted`). @fails VmNotFound, VersError */
  readonly sshKey: (vmId: VmId) => Effect.Effect<SshKey, VersError>
  /** `PATCH /vm/{id}/disk`: grows the disk to `fsSizeMib` MiB. @fails VmConflict when it does not grow, VersError */
  readonly resizeDisk: (vmId: VmId, fsSizeMib: number) => Effect.Effect<void, VersError>
  /** `PATCH /vm/{id}/label`: sets the VM's labels. @fails VersError */
  readonly label: (vmId: VmId, labels: Labels) => Effect.Effect<void, VersError>
  /**
   * Polls `GET /vm/{id}/status` until `running` (1 s, ×1.5, capped at 5 s; 120 s budget); a
   * transient status failure (5xx, timeout, 429) counts as "not yet".
   * @fails VmDead when the VM dies, VersTimeout when the budget is spent, VmNotFound, VersError
   */
  readonly waitRunning: (vmId: VmId) => Effect.Effect<Vm, VersError>
}

export class VersApi extends Context.Tag("troupe/VersApi")<VersApi, VersApiShape>() {
  /**
   * The client over an `HttpClient` (live: `NodeHttpClient.layerUndici` or
   * `FetchHttpClient.layer`; tests: an in-memory one) and `VersConfig`. Each operation runs in
   * an interruptible fiber of the layer's scope, so its timeouts fire even when the caller is
   * uninterruptible (the acquire or release of a VM held as a scoped resource); such a caller
   * waits for the operation to end, an interruptible one interrupts it.
   */
  static readonly layer: Layer.Layer<VersApi, never, HttpClient.HttpClient | VersConfig> = Layer.scoped(VersApi, make)
}
