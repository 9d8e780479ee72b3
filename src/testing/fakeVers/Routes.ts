/**
 * The fake fleet's HTTP surface: which operation a method and path name (the document's
 * `operationId`s, paths relative to `/api/v1`), request bodies decoded with Schemas written
 * from the document, and the JSON each operation answers with — written by hand, field by
 * field, so that decoding these answers with the client's Schemas is a real contract test.
 */
import { Effect, Either, Schema } from "effect"
import { describeParseError } from "../../domain/Diagnostic.js"
import { ApiFailure, defaultVmConfig, type FakeCommit, type FakeVmRecord, type Model } from "./Model.js"
import { execVm, readFileVm, type VmRoot, VmExecRequest, VmWriteFileRequest, writeFileVm } from "./VmIo.js"

/** Response variants: `current` is what the document describes, `legacy` what older servers sent. */
export interface Variants {
  /** `current`: `{vm_id}`; `legacy`: `{deleted_ids: [vm_id]}`. */
  readonly delete: "current" | "legacy"
  /** `current`: `{vms: [{vm_id}, …]}`; `legacy`: `{vm_id}` (the first VM). */
  readonly branch: "current" | "legacy"
}

/** Settings the handle may change while the fake runs. */
export interface Settings {
  variants: Variants
  /** The `ssh_port` that `GET /vm/{id}/ssh_key` answers for a VM. */
  sshPort: (vm: FakeVmRecord) => number
  /** A VM's root directory, for `exec_vm` and the files operations (set by FakeFleet). */
  vmRoot?: VmRoot | undefined
}

/** An answer: `body` undefined = an empty body (the document's "200, no content" operations). */
export interface Reply {
  readonly status: number
  readonly body?: unknown
}

interface Route {
  readonly method: string
  readonly pattern: RegExp
  readonly operation: string
  /** Success status (a `malformed` fault answers with it). */
  readonly status: number
  /** The path id is a uuid in the document (a malformed one is 400, as a typed path extractor answers). */
  readonly uuidId?: true
}

const id = "([^/]+)"
const routes: ReadonlyArray<Route> = [
  { method: "GET", pattern: /^\/vms$/, operation: "list_vms", status: 200 },
  { method: "GET", pattern: /^\/vm$/, operation: "list_vms", status: 200 },
  { method: "POST", pattern: /^\/vm\/new_root$/, operation: "create_new_root_vm", status: 201 },
  { method: "POST", pattern: /^\/vm\/from_commit$/, operation: "restore_from_commit", status: 201 },
  { method: "GET", pattern: /^\/commits$/, operation: "list_commits", status: 200 },
  { method: "POST", pattern: /^\/commit_tags$/, operation: "create_tag", status: 201 },
  { method: "DELETE", pattern: new RegExp(`^/vm/${id}$`), operation: "delete_vm", status: 200 },
  { method: "GET", pattern: new RegExp(`^/vm/${id}/status$`), operation: "vm_status", status: 200, uuidId: true },
  { method: "GET", pattern: new RegExp(`^/vm/${id}/metadata$`), operation: "get_vm_metadata", status: 200, uuidId: true },
  { method: "PATCH", pattern: new RegExp(`^/vm/${id}/label$`), operation: "label_vm", status: 200 },
  { method: "PATCH", pattern: new RegExp(`^/vm/${id}/state$`), operation: "update_vm_state", status: 200, uuidId: true },
  { method: "POST", pattern: new RegExp(`^/vm/${id}/commit$`), operation: "commit_vm", status: 201 },
  { method: "POST", pattern: new RegExp(`^/vm/${id}/branch$`), operation: "branch_vm", status: 201 },
  { method: "GET", pattern: new RegExp(`^/vm/${id}/ssh_key$`), operation: "ssh_key", status: 200, uuidId: true },
  { method: "PATCH", pattern: new RegExp(`^/vm/${id}/disk$`), operation: "resize_vm_disk", status: 200, uuidId: true },
  { method: "POST", pattern: new RegExp(`^/vm/${id}/exec$`), operation: "exec_vm", status: 200, uuidId: true },
  { method: "GET", pattern: new RegExp(`^/vm/${id}/files$`), operation: "read_file_vm", status: 200, uuidId: true },
  { method: "PUT", pattern: new RegExp(`^/vm/${id}/files$`), operation: "write_file_vm", status: 200, uuidId: true }
]

/** Every operation id the fake implements. */
export const operations: ReadonlyArray<string> = [...new Set(routes.map((r) => r.operation))]

export type Match =
  | { readonly _tag: "Found"; readonly operation: string; readonly status: number; readonly id: string | undefined; readonly uuidId: boolean }
  | { readonly _tag: "NotFound" }
  | { readonly _tag: "MethodNotAllowed" }

/** Which operation `method path` (relative to `/api/v1`) names. */
export const match = (method: string, path: string): Match => {
  let pathMatched = false
  for (const r of routes) {
    const m = r.pattern.exec(path)
    if (m === null) continue
    pathMatched = true
    if (r.method !== method) continue
    let id: string | undefined
    try {
      id = m[1] === undefined ? undefined : decodeURIComponent(m[1])
    } catch {
      return { _tag: "NotFound" }
    }
    return { _tag: "Found", operation: r.operation, status: r.status, id, uuidId: r.uuidId === true }
  }
  return pathMatched ? { _tag: "MethodNotAllowed" } : { _tag: "NotFound" }
}

// ---------------------------------------------------------------------------------------------
// Request bodies (from the document's NewRootRequest, LabelVmRequest, VmUpdateStateRequest,
// VmCommitRequest, FromCommitVmRequest, VmResizeDiskRequest, CreateTagRequest)

const Uuid = Schema.UUID
const Size = Schema.Int.pipe(Schema.nonNegative())
const Labels = Schema.Record({ key: Schema.String, value: Schema.String })
const optionalNullable = <S extends Schema.Schema.Any>(s: S) => Schema.optional(Schema.NullOr(s))

const NewRootRequest = Schema.Struct({
  vm_config: Schema.Struct({
    vcpu_count: optionalNullable(Size),
    mem_size_mib: optionalNullable(Size),
    fs_size_mib: optionalNullable(Size),
    image_name: optionalNullable(Schema.String),
    kernel_name: optionalNullable(Schema.String),
    labels: optionalNullable(Labels)
  })
})
const LabelVmRequest = Schema.Struct({ labels: optionalNullable(Labels) })
const UpdateStateRequest = Schema.Struct({ state: Schema.Literal("Paused", "Running") })
const CommitRequest = Schema.Struct({ commit_id: optionalNullable(Uuid), name: optionalNullable(Schema.String), description: optionalNullable(Schema.String) })
const FromCommitRequest = Schema.Union(Schema.Struct({ commit_id: Uuid }), Schema.Struct({ tag_name: Schema.String }), Schema.Struct({ ref: Schema.String }))
const ResizeDiskRequest = Schema.Struct({ fs_size_mib: Size })
const CreateTagRequest = Schema.Struct({ tag_name: Schema.String, commit_id: Uuid, description: optionalNullable(Schema.String) })

const invalid = (message: string) => new ApiFailure({ status: 400, message })

/**
 * A required JSON body decoded with `schema`: 415 without `Content-Type: application/json` (as
 * a typed JSON extractor answers), 400 with one sentence for a missing, broken or wrong body.
 */
const decodeBody = <A, I>(schema: Schema.Schema<A, I>, call: Call) =>
  Effect.gen(function* () {
    const body = call.body
    if (!/^application\/json\b/i.test(call.contentType ?? "")) {
      return yield* new ApiFailure({ status: 415, message: "Expected a request with Content-Type: application/json" })
    }
    if (body.trim() === "") return yield* invalid("A JSON request body is required")
    const json = Either.try(() => JSON.parse(body) as unknown)
    if (Either.isLeft(json)) return yield* invalid("The request body is not valid JSON")
    return yield* Schema.decodeUnknown(schema)(json.right).pipe(Effect.mapError((e) => invalid(`Invalid request body: ${describeParseError(e, json.right)}`)))
  })

/** A boolean query flag: absent = false; `true`/`false` only. */
const flag = (query: URLSearchParams, name: string) =>
  Effect.gen(function* () {
    const v = query.get(name)
    if (v === null) return false
    if (v === "true" || v === "false") return v === "true"
    return yield* invalid(`Query parameter ${name} must be true or false, not "${v}"`)
  })

const integer = (query: URLSearchParams, name: string, fallback: number) =>
  Effect.gen(function* () {
    const v = query.get(name)
    if (v === null) return fallback
    if (!/^\d+$/.test(v)) return yield* invalid(`Query parameter ${name} must be a non-negative integer, not "${v}"`)
    return Number(v)
  })

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const tagPattern = /^[A-Za-z0-9._-]{1,64}$/

// ---------------------------------------------------------------------------------------------
// Response bodies (the document's VM, VmMetadataResponse, CommitInfo, …)

const vmJson = (model: Model, vm: FakeVmRecord) => ({ vm_id: vm.vm_id, owner_id: model.ownerId, created_at: vm.created_at, state: vm.state, labels: { ...vm.labels } })

const metadataJson = (model: Model, vm: FakeVmRecord) => ({
  vm_id: vm.vm_id,
  owner_id: model.ownerId,
  created_at: vm.created_at,
  state: vm.state,
  ip: vm.ip,
  deleted_at: vm.deleted_at,
  grandparent_vm_id: vm.grandparent_vm_id,
  parent_commit_id: vm.parent_commit_id
})

const commitJson = (model: Model, c: FakeCommit) => ({
  commit_id: c.commit_id,
  owner_id: model.ownerId,
  name: c.name,
  created_at: c.created_at,
  is_public: false,
  description: c.description,
  grandparent_commit_id: c.grandparent_commit_id,
  parent_vm_id: c.parent_vm_id
})

export interface Call {
  readonly operation: string
  readonly id: string | undefined
  readonly uuidId: boolean
  readonly query: URLSearchParams
  readonly body: string
  readonly contentType: string | undefined
  /** Which key authenticated the request (`key-1`, …). */
  readonly keyId: string
}

/** Runs one operation; refusals become the document's error body `{error, success: false}`. */
export const handle = (model: Model, settings: Settings, call: Call): Effect.Effect<Reply> =>
  Effect.gen(function* () {
    const vmId = call.id ?? ""
    if (call.uuidId && !uuidPattern.test(vmId)) return yield* invalid(`Invalid URL: ${vmId} is not a UUID`)
    switch (call.operation) {
      case "list_vms":
        return { status: 200, body: model.list().map((vm) => vmJson(model, vm)) }
      case "create_new_root_vm": {
        const waitBoot = yield* flag(call.query, "wait_boot")
        const { vm_config: c } = yield* decodeBody(NewRootRequest, call)
        if ((c.image_name ?? "default") !== "default") return yield* invalid(`Unknown image ${c.image_name}: image_name must be "default"`)
        if ((c.kernel_name ?? "default.bin") !== "default.bin") return yield* invalid(`Unknown kernel ${c.kernel_name}: kernel_name must be "default.bin"`)
        const config = {
          ...defaultVmConfig,
          ...(c.vcpu_count == null ? {} : { vcpu_count: c.vcpu_count }),
          ...(c.mem_size_mib == null ? {} : { mem_size_mib: c.mem_size_mib }),
          ...(c.fs_size_mib == null ? {} : { fs_size_mib: c.fs_size_mib })
        }
        return { status: 201, body: { vm_id: yield* model.createRoot(config, { ...c.labels }, call.keyId, waitBoot) } }
      }
      case "restore_from_commit": {
        const source = yield* decodeBody(FromCommitRequest, call)
        return { status: 201, body: { vm_id: yield* model.restore(source, call.keyId) } }
      }
      case "delete_vm": {
        const deleted = yield* model.remove(vmId, yield* flag(call.query, "skip_wait_boot"))
        return { status: 200, body: settings.variants.delete === "current" ? { vm_id: deleted } : { deleted_ids: [deleted] } }
      }
      case "vm_status":
        return { status: 200, body: vmJson(model, yield* model.get(vmId)) }
      case "get_vm_metadata":
        return { status: 200, body: metadataJson(model, yield* model.getWithDeleted(vmId)) }
      case "label_vm": {
        const { labels } = yield* decodeBody(LabelVmRequest, call)
        yield* model.label(vmId, labels ?? null)
        return { status: 200 }
      }
      case "update_vm_state": {
        const skip = yield* flag(call.query, "skip_wait_boot")
        const { state } = yield* decodeBody(UpdateStateRequest, call)
        yield* model.changeState(vmId, state, skip)
        return { status: 200 }
      }
      case "commit_vm": {
        const keepPaused = yield* flag(call.query, "keep_paused")
        const skipWaitBoot = yield* flag(call.query, "skip_wait_boot")
        const r = yield* decodeBody(CommitRequest, call)
        const commit = yield* model.commit(vmId, { keepPaused, skipWaitBoot, commitId: r.commit_id, name: r.name, description: r.description })
        return { status: 201, body: { commit_id: commit.commit_id } }
      }
      case "branch_vm": {
        const keepPaused = yield* flag(call.query, "keep_paused")
        const skipWaitBoot = yield* flag(call.query, "skip_wait_boot")
        const count = yield* integer(call.query, "count", 1)
        const ids = yield* model.branch(vmId, count, keepPaused, skipWaitBoot, call.keyId)
        return { status: 201, body: settings.variants.branch === "current" ? { vms: ids.map((vm_id) => ({ vm_id })) } : { vm_id: ids[0] } }
      }
      case "ssh_key": {
        const vm = yield* model.get(vmId)
        return { status: 200, body: { ssh_port: settings.sshPort(vm), ssh_private_key: vm.ssh_private_key } }
      }
      case "resize_vm_disk": {
        const skip = yield* flag(call.query, "skip_wait_boot")
        const { fs_size_mib } = yield* decodeBody(ResizeDiskRequest, call)
        yield* model.resize(vmId, fs_size_mib, skip)
        return { status: 200 }
      }
      case "list_commits": {
        const limit = Math.min(yield* integer(call.query, "limit", 50), 100)
        const offset = yield* integer(call.query, "offset", 0)
        const all = model.commitList()
        return { status: 200, body: { commits: all.slice(offset, offset + limit).map((c) => commitJson(model, c)), total: all.length, limit, offset } }
      }
      case "create_tag": {
        const r = yield* decodeBody(CreateTagRequest, call)
        if (!tagPattern.test(r.tag_name)) return yield* invalid(`Invalid tag name ${r.tag_name}: use 1-64 letters, digits, hyphens, underscores or dots`)
        if (model.hasTag(r.tag_name)) return yield* new ApiFailure({ status: 409, message: `Tag ${r.tag_name} already exists` })
        yield* model.tag(r.tag_name, r.commit_id)
        return { status: 201, body: { tag_id: model.tagId(r.tag_name), tag_name: r.tag_name, commit_id: r.commit_id } }
      }
      case "exec_vm": {
        const request = yield* decodeBody(VmExecRequest, call)
        return { status: 200, body: yield* execVm(yield* model.get(vmId), settings.vmRoot, request) }
      }
      case "read_file_vm":
        return { status: 200, body: yield* readFileVm(yield* model.get(vmId), settings.vmRoot, call.query.get("path")) }
      case "write_file_vm": {
        const request = yield* decodeBody(VmWriteFileRequest, call)
        yield* writeFileVm(yield* model.get(vmId), settings.vmRoot, request)
        return { status: 200 }
      }
      default:
        return yield* new ApiFailure({ status: 404, message: `No operation ${call.operation}` })
    }
  }).pipe(Effect.catchTag("ApiFailure", (e) => Effect.succeed<Reply>({ status: e.status, body: errorBody(e.message) })))

/** The document's ErrorResponse. */
export const errorBody = (message: string) => ({ error: message, success: false })
