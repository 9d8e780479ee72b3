/**
 * The Vers orchestrator's data, as Schemas written field by field from its OpenAPI document
 * (`hdresearch/sterling` `chelsea/openapi/orchestrator.openapi.json`, paths under `/api/v1`).
 * Fields are camelCase in TypeScript and snake_case on the wire (`vmId` ↔ `vm_id`), so
 * `Schema.decodeUnknown(X)` reads a response body and `Schema.encode(X)` writes one (FakeVers
 * answers with the encoded form).
 *
 * Decoding follows the document: required fields are required, `format: uuid` is checked,
 * `format: date-time` becomes a `DateTime.Utc`, nullable optional fields accept `null` or a
 * missing key; unknown extra fields are tolerated (a newer server may add some). Two places
 * are looser on purpose, because real servers answered both shapes over time (pi-vers accepted
 * both): delete (`{vm_id}` or `{deleted_ids}`) and branch (`{vm_id}` or `{vms:[{vm_id}]}`),
 * each normalised to a list. A VM state outside the documented enum is kept as its string.
 */
import { Schema } from "effect"

/** A VM id (a UUID on the real API; any non-empty string is accepted where the document says `string`). */
export const VmId = Schema.NonEmptyTrimmedString.pipe(Schema.brand("VmId"))
export type VmId = typeof VmId.Type

/** A VM id where the document says `format: uuid` (entities, status, metadata). */
export const VmUuid = Schema.UUID.pipe(Schema.brand("VmId"))

/** A commit id (`format: uuid` in the document). */
export const CommitId = Schema.UUID.pipe(Schema.brand("CommitId"))
export type CommitId = typeof CommitId.Type

/** The documented VM states (`VmState` enum). */
export const KnownVmState = Schema.Literal("booting", "running", "paused", "sleeping", "dead")
export type KnownVmState = typeof KnownVmState.Type

/**
 * A VM's state: one of {@link KnownVmState}, or a state a newer server reports that this
 * version does not know, kept verbatim (never a decode failure: polling code treats it as
 * "not running yet").
 */
export const VmState = Schema.Union(KnownVmState, Schema.NonEmptyString)
export type VmState = KnownVmState | (string & {})

/** The states `PATCH /vm/{id}/state` accepts (`VmUpdateStateEnum`); note the capitals. */
export const VmTargetState = Schema.Literal("Paused", "Running")
export type VmTargetState = typeof VmTargetState.Type

/** VM labels: string → string (`labels` of `VM`, `VmCreateVmConfig`, `LabelVmRequest`). */
export const Labels = Schema.Record({ key: Schema.String, value: Schema.String })
export type Labels = typeof Labels.Type

const Uint = Schema.Int.pipe(Schema.nonNegative())

/**
 * A VM as `GET /vms` and `GET /vm/{id}/status` report it (`VM`): `{vm_id, owner_id, state,
 * created_at, labels?}`. `labels` missing or `null` decodes to `{}`.
 */
export class Vm extends Schema.Class<Vm>("Vm")({
  vmId: Schema.propertySignature(VmUuid).pipe(Schema.fromKey("vm_id")),
  ownerId: Schema.propertySignature(Schema.UUID).pipe(Schema.fromKey("owner_id")),
  state: VmState,
  createdAt: Schema.propertySignature(Schema.DateTimeUtc).pipe(Schema.fromKey("created_at")),
  labels: Schema.optionalWith(Labels, { nullable: true, default: () => ({}) })
}) {}

/** `GET /vms`: a bare array of {@link Vm} (no pagination). */
export const VmList = Schema.Array(Vm)

/**
 * `GET /vm/{id}/metadata` (`VmMetadataResponse`): the VM plus its lineage and address.
 * `parentCommitId` is the commit a restored VM came from (restore reconciliation reads it).
 */
export class VmMetadata extends Schema.Class<VmMetadata>("VmMetadata")({
  vmId: Schema.propertySignature(VmUuid).pipe(Schema.fromKey("vm_id")),
  ownerId: Schema.propertySignature(Schema.UUID).pipe(Schema.fromKey("owner_id")),
  state: VmState,
  createdAt: Schema.propertySignature(Schema.DateTimeUtc).pipe(Schema.fromKey("created_at")),
  ip: Schema.String,
  deletedAt: Schema.optionalWith(Schema.DateTimeUtc, { nullable: true }).pipe(Schema.fromKey("deleted_at")),
  grandparentVmId: Schema.optionalWith(VmUuid, { nullable: true }).pipe(Schema.fromKey("grandparent_vm_id")),
  parentCommitId: Schema.optionalWith(CommitId, { nullable: true }).pipe(Schema.fromKey("parent_commit_id"))
}) {}

/**
 * `vm_config` of `POST /vm/new_root` (`VmCreateVmConfig`); every field optional (the server
 * picks defaults). Sizes in MiB; `imageName` must currently be `"default"`, `kernelName`
 * `"default.bin"`.
 */
export class VmConfig extends Schema.Class<VmConfig>("VmConfig")({
  vcpuCount: Schema.optionalWith(Uint, { nullable: true }).pipe(Schema.fromKey("vcpu_count")),
  memSizeMib: Schema.optionalWith(Uint, { nullable: true }).pipe(Schema.fromKey("mem_size_mib")),
  fsSizeMib: Schema.optionalWith(Uint, { nullable: true }).pipe(Schema.fromKey("fs_size_mib")),
  imageName: Schema.optionalWith(Schema.String, { nullable: true }).pipe(Schema.fromKey("image_name")),
  kernelName: Schema.optionalWith(Schema.String, { nullable: true }).pipe(Schema.fromKey("kernel_name")),
  labels: Schema.optionalWith(Labels, { nullable: true })
}) {}

/** `POST /vm/new_root` body (`NewRootRequest`). */
export const NewRootRequest = Schema.Struct({
  vmConfig: Schema.propertySignature(VmConfig).pipe(Schema.fromKey("vm_config"))
})

/** `{vm_id}` (`NewVmResponse`): new_root, from_commit, and the single-VM form of branch. */
export const NewVm = Schema.Struct({
  vmId: Schema.propertySignature(VmId).pipe(Schema.fromKey("vm_id"))
})
export type NewVm = typeof NewVm.Type

/** `{vms:[{vm_id}]}` (`NewVmsResponse`): branch. */
export const NewVms = Schema.Struct({ vms: Schema.Array(NewVm) })

/** A list of VM ids, the normalised answer of delete and branch. */
export const VmIds = Schema.Struct({ vmIds: Schema.Array(VmId) })
export type VmIds = typeof VmIds.Type

/**
 * `DELETE /vm/{id}` answers `{vm_id}` (`VmDeleteResponse`) or, on older servers, `{deleted_ids:[…]}`;
 * both decode to `{vmIds}` (encoding writes `{vm_id}` for one id, `{deleted_ids}` otherwise).
 */
export const DeleteResponse = Schema.transform(
  Schema.Union(NewVm, Schema.Struct({ deletedIds: Schema.propertySignature(Schema.Array(VmId)).pipe(Schema.fromKey("deleted_ids")) })),
  Schema.typeSchema(VmIds),
  {
    strict: true,
    decode: (r) => ({ vmIds: "vmId" in r ? [r.vmId] : r.deletedIds }),
    encode: (r) => (r.vmIds.length === 1 ? { vmId: r.vmIds[0]! } : { deletedIds: r.vmIds })
  }
)

/**
 * `POST /vm/{id}/branch` answers `{vms:[{vm_id}]}` (`NewVmsResponse`) or, on older servers,
 * `{vm_id}`; both decode to `{vmIds}` (encoding writes the documented `{vms}` form).
 */
export const BranchResponse = Schema.transform(Schema.Union(NewVms, NewVm), Schema.typeSchema(VmIds), {
  strict: true,
  decode: (r) => ({ vmIds: "vms" in r ? r.vms.map((v) => v.vmId) : [r.vmId] }),
  encode: (r) => ({ vms: r.vmIds.map((vmId) => ({ vmId })) })
})

/** `POST /vm/{id}/commit` body (`VmCommitRequest`): all optional; the server names and ids the commit otherwise. */
export const CommitRequest = Schema.Struct({
  commitId: Schema.optionalWith(CommitId, { nullable: true }).pipe(Schema.fromKey("commit_id")),
  name: Schema.optionalWith(Schema.String, { nullable: true }),
  description: Schema.optionalWith(Schema.String, { nullable: true })
})
export type CommitRequest = typeof CommitRequest.Type

/** `POST /vm/{id}/commit` answer (`VmCommitResponse`): `{commit_id, host_architecture?}`. */
export const CommitResponse = Schema.Struct({
  commitId: Schema.propertySignature(CommitId).pipe(Schema.fromKey("commit_id")),
  hostArchitecture: Schema.optionalWith(Schema.String, { nullable: true }).pipe(Schema.fromKey("host_architecture"))
})
export type CommitResponse = typeof CommitResponse.Type

/**
 * `GET /vm/{id}/ssh_key` (`VmSshKeyResponse`): `{ssh_port, ssh_private_key}`. The private key
 * (OpenSSH text) is `Redacted` once decoded, so it never prints; `Redacted.value` reads it.
 */
export const SshKey = Schema.Struct({
  sshPort: Schema.propertySignature(Uint).pipe(Schema.fromKey("ssh_port")),
  sshPrivateKey: Schema.propertySignature(Schema.Redacted(Schema.String)).pipe(Schema.fromKey("ssh_private_key"))
})
export type SshKey = typeof SshKey.Type

/**
 * What `POST /vm/from_commit` restores (`FromCommitVmRequest`, one of): a commit id, a legacy
 * org-scoped tag name, or a repository reference `"repo_name:tag_name"`.
 */
export const RestoreSource = Schema.Union(
  Schema.Struct({ commitId: Schema.propertySignature(CommitId).pipe(Schema.fromKey("commit_id")) }),
  Schema.Struct({ tagName: Schema.propertySignature(Schema.NonEmptyString).pipe(Schema.fromKey("tag_name")) }),
  Schema.Struct({ ref: Schema.NonEmptyString })
)
export type RestoreSource = typeof RestoreSource.Type

/** `PATCH /vm/{id}/state` body (`VmUpdateStateRequest`). */
export const SetStateRequest = Schema.Struct({ state: VmTargetState })

/** `PATCH /vm/{id}/disk` body (`VmResizeDiskRequest`): the new size in MiB, strictly larger than the current one. */
export const ResizeDiskRequest = Schema.Struct({
  fsSizeMib: Schema.propertySignature(Uint).pipe(Schema.fromKey("fs_size_mib"))
})

/** `PATCH /vm/{id}/label` body (`LabelVmRequest`). */
export const LabelRequest = Schema.Struct({ labels: Schema.optionalWith(Labels, { nullable: true }) })

/** The error body (`ErrorResponse`): `{error?, success?: false}`; `error` is the server's reason. */
export const ErrorBody = Schema.Struct({
  error: Schema.optional(Schema.String),
  success: Schema.optional(Schema.Boolean)
})
export type ErrorBody = typeof ErrorBody.Type

/** The label key troupe's creates carry (a unique request id) so an ambiguous failure can be reconciled. */
export const requestLabel = "troupe-request"

/** `vmId` shortened for messages (`1234abcd…`), so a sentence stays readable. */
export const shortVmId = (id: string): string => (id.length > 12 ? `${id.slice(0, 8)}…` : id)

/** Whether a state is terminal for polling: a `dead` VM never comes back. */
export const isDead = (state: VmState): boolean => state === "dead"
