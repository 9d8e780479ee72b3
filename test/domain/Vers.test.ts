/**
 * The Vers Schemas against the OpenAPI document's shapes: every documented response variant
 * decodes (both historical delete and branch forms, normalised), nullable/optional fields,
 * uuid and date-time formats, unknown VM states kept, extra fields tolerated, and the SSH key
 * redacted once decoded. Encoding writes the wire (snake_case) form back.
 */
import { describe, expect, it } from "@effect/vitest"
import { DateTime, Effect, Either, FastCheck, Redacted, Schema } from "effect"
import * as Vers from "../../src/domain/Vers.js"

const vmA = "0b6f3c0e-8a4b-4c1e-9f2d-3a5b7c9d1e2f"
const vmB = "1c7a4d1f-9b5c-4d2f-8e3a-4b6c8daf2f30"
const owner = "7e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"
const commit = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
const createdAt = "2026-12-07T16:00:00Z"

const decode = <A, I>(schema: Schema.Schema<A, I>) => Schema.decodeUnknownEither(schema)

describe("Vers domain schemas", () => {
  it("Vm: the documented fields, labels null or missing → {}, unknown extra fields tolerated", () => {
    const vm = decode(Vers.Vm)({ vm_id: vmA, owner_id: owner, state: "running", created_at: createdAt, labels: { run: "r1" }, extra: 1 })
    expect(Either.isRight(vm)).toBe(true)
    const v = Either.getOrThrow(vm)
    expect(v.vmId).toBe(vmA)
    expect(v.state).toBe("running")
    expect(v.labels).toEqual({ run: "r1" })
    expect(DateTime.formatIso(v.createdAt)).toBe("2026-12-07T16:00:00.000Z")
    for (const labels of [null, undefined]) {
      const body: Record<string, unknown> = { vm_id: vmA, owner_id: owner, state: "paused", created_at: createdAt }
      if (labels === null) body.labels = null
      expect(Either.getOrThrow(decode(Vers.Vm)(body)).labels).toEqual({})
    }
  })

  it("Vm: an unknown state is kept as its string; required fields, uuid and date-time are checked", () => {
    expect(Either.getOrThrow(decode(Vers.Vm)({ vm_id: vmA, owner_id: owner, state: "migrating", created_at: createdAt })).state).toBe("migrating")
    const bad = [
      { owner_id: owner, state: "running", created_at: createdAt },
      { vm_id: "not-a-uuid", owner_id: owner, state: "running", created_at: createdAt },
      { vm_id: vmA, owner_id: owner, state: "running", created_at: "yesterday" },
      { vm_id: vmA, owner_id: owner, state: 3, created_at: createdAt },
      { vm_id: vmA, owner_id: owner, state: "running", created_at: createdAt, labels: { a: 1 } }
    ]
    for (const body of bad) expect(Either.isLeft(decode(Vers.Vm)(body))).toBe(true)
  })

  it("VmMetadata: ip required, lineage fields nullable and optional", () => {
    const base = { vm_id: vmA, owner_id: owner, state: "running", created_at: createdAt, ip: "10.0.0.2" }
    const plain = Either.getOrThrow(decode(Vers.VmMetadata)(base))
    expect(plain.parentCommitId).toBeUndefined()
    const nulls = Either.getOrThrow(decode(Vers.VmMetadata)({ ...base, deleted_at: null, grandparent_vm_id: null, parent_commit_id: null }))
    expect(nulls.parentCommitId).toBeUndefined()
    const full = Either.getOrThrow(decode(Vers.VmMetadata)({ ...base, parent_commit_id: commit, grandparent_vm_id: vmB, deleted_at: createdAt }))
    expect(full.parentCommitId).toBe(commit)
    expect(full.grandparentVmId).toBe(vmB)
    expect(Either.isLeft(decode(Vers.VmMetadata)({ ...base, ip: undefined }))).toBe(true)
  })

  it("delete: {vm_id} and {deleted_ids} both normalise to a list", () => {
    expect(Either.getOrThrow(decode(Vers.DeleteResponse)({ vm_id: vmA })).vmIds).toEqual([vmA])
    expect(Either.getOrThrow(decode(Vers.DeleteResponse)({ deleted_ids: [vmA, vmB] })).vmIds).toEqual([vmA, vmB])
    expect(Either.isLeft(decode(Vers.DeleteResponse)({ deleted: true }))).toBe(true)
    expect(Schema.encodeSync(Vers.DeleteResponse)({ vmIds: [vmA as Vers.VmId] })).toEqual({ vm_id: vmA })
  })

  it("branch: {vms:[{vm_id}]} and {vm_id} both normalise to a list", () => {
    expect(Either.getOrThrow(decode(Vers.BranchResponse)({ vms: [{ vm_id: vmA }, { vm_id: vmB }] })).vmIds).toEqual([vmA, vmB])
    expect(Either.getOrThrow(decode(Vers.BranchResponse)({ vm_id: vmA })).vmIds).toEqual([vmA])
    expect(Either.isLeft(decode(Vers.BranchResponse)({ vms: [{ id: vmA }] }))).toBe(true)
    expect(Schema.encodeSync(Vers.BranchResponse)({ vmIds: [vmA as Vers.VmId] })).toEqual({ vms: [{ vm_id: vmA }] })
  })

  it("new VM, commit, ssh key: required fields; host_architecture optional; the private key redacted", () => {
    expect(Either.getOrThrow(decode(Vers.NewVm)({ vm_id: vmA })).vmId).toBe(vmA)
    expect(Either.isLeft(decode(Vers.NewVm)({ vm_id: "" }))).toBe(true)
    expect(Either.getOrThrow(decode(Vers.CommitResponse)({ commit_id: commit }))).toEqual({ commitId: commit })
    expect(Either.getOrThrow(decode(Vers.CommitResponse)({ commit_id: commit, host_architecture: "x86_64" })).hostArchitecture).toBe("x86_64")
    expect(Either.isLeft(decode(Vers.CommitResponse)({ commit_id: "c1" }))).toBe(true)
    const key = Either.getOrThrow(decode(Vers.SshKey)({ ssh_port: 443, ssh_private_key: "-----BEGIN OPENSSH PRIVATE KEY-----\nabc" }))
    expect(key.sshPort).toBe(443)
    expect(Redacted.value(key.sshPrivateKey)).toContain("OPENSSH")
    expect(String(key.sshPrivateKey)).not.toContain("OPENSSH")
    expect(JSON.stringify(key)).not.toContain("OPENSSH")
    expect(Either.isLeft(decode(Vers.SshKey)({ ssh_port: -1, ssh_private_key: "k" }))).toBe(true)
  })

  it("VmConfig and requests encode to the document's snake_case; restore source is one of three", () => {
    const config = Schema.encodeSync(Vers.NewRootRequest)({ vmConfig: new Vers.VmConfig({ vcpuCount: 2, memSizeMib: 1024, labels: { a: "b" } }) })
    expect(config).toEqual({ vm_config: { vcpu_count: 2, mem_size_mib: 1024, labels: { a: "b" } } })
    expect(Either.isLeft(decode(Vers.VmConfig)({ vcpu_count: -1 }))).toBe(true)
    expect(Either.getOrThrow(decode(Vers.VmConfig)({ vcpu_count: null, image_name: "default" }))).toMatchObject({ imageName: "default" })
    expect(Schema.encodeSync(Vers.RestoreSource)({ commitId: commit as Vers.CommitId })).toEqual({ commit_id: commit })
    expect(Schema.encodeSync(Vers.RestoreSource)({ tagName: "golden" })).toEqual({ tag_name: "golden" })
    expect(Schema.encodeSync(Vers.RestoreSource)({ ref: "repo:tag" })).toEqual({ ref: "repo:tag" })
    expect(Either.isLeft(decode(Vers.RestoreSource)({ commit_id: "nope" }))).toBe(true)
    expect(Schema.encodeSync(Vers.ResizeDiskRequest)({ fsSizeMib: 4096 })).toEqual({ fs_size_mib: 4096 })
    expect(Schema.encodeSync(Vers.SetStateRequest)({ state: "Paused" })).toEqual({ state: "Paused" })
    expect(Either.isLeft(decode(Vers.SetStateRequest)({ state: "paused" }))).toBe(true)
  })

  it.effect.prop("every JSON value decodes to a value or a ParseError, never a defect", [FastCheck.json()], ([text]) =>
    Effect.gen(function* () {
      const value: unknown = JSON.parse(text)
      for (const schema of [Vers.VmList, Vers.Vm, Vers.VmMetadata, Vers.DeleteResponse, Vers.BranchResponse, Vers.CommitResponse, Vers.SshKey, Vers.NewVm, Vers.ErrorBody] as ReadonlyArray<Schema.Schema<unknown, unknown>>) {
        const exit = yield* Effect.exit(Schema.decodeUnknown(schema)(value))
        expect(exit._tag === "Success" || exit.cause._tag === "Fail").toBe(true)
      }
    })
  )
})
