/**
 * A real `VersApi` (FetchHttpClient or NodeHttpClient over real sockets) against a real
 * `FakeVers`: the layer, a recorder of every raw answer the fake gave (so tests can decode
 * them again, strictly, with the client's own Schemas), the strict decoding by route, and "a
 * VM as a scoped resource" (acquireRelease: the finalizer deletes it) for leak tests. The
 * real VM ledger with ownership lives in src/services (another piece of work); this one is
 * only what the tests need.
 */
import { FetchHttpClient, HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Context, Effect, Layer, type ParseResult, Schema } from "effect"
import {
  BranchResponse,
  CommitResponse,
  DeleteResponse,
  ErrorBody,
  NewVm,
  SshKey,
  Vm,
  type VmId,
  VmList,
  VmMetadata
} from "../../src/domain/Vers.js"
import { VersApi } from "../../src/services/VersApi.js"
import { VersConfig, type VersConfigInput } from "../../src/services/VersConfig.js"
import type { FakeVersHandle } from "../../src/testing/index.js"

/** One answer the fake gave, as bytes on the wire. */
export interface RawAnswer {
  readonly method: string
  /** Path under `/api/v1`, without the query. */
  readonly path: string
  readonly status: number
  readonly text: string
}

export type ClientKind = "fetch" | "undici"

const clientLayer = (kind: ClientKind): Layer.Layer<HttpClient.HttpClient> => (kind === "fetch" ? FetchHttpClient.layer : NodeHttpClient.layerUndici)

/**
 * `VersApi` over a real HTTP client pointed at `fleet`, recording every answer into `answers`.
 * `config` overrides the fleet's base URL and key (e.g. a key lookup effect, a short timeout).
 */
export const versLayer = (
  fleet: Pick<FakeVersHandle, "baseUrl" | "apiKey">,
  options: { readonly config?: Partial<VersConfigInput>; readonly answers?: Array<RawAnswer>; readonly client?: ClientKind; readonly onRequest?: (n: number) => void } = {}
): Layer.Layer<VersApi> => {
  let sent = 0
  const recording = Layer.effect(
    HttpClient.HttpClient,
    Effect.map(HttpClient.HttpClient, (client) =>
      client.pipe(
        HttpClient.tapRequest(() => Effect.sync(() => options.onRequest?.(++sent))),
        HttpClient.tap((response) =>
          response.text.pipe(
            Effect.tap((text) =>
              Effect.sync(() => {
                const url = new URL(response.request.url)
                options.answers?.push({ method: response.request.method, path: url.pathname.replace(/^\/api\/v1/, ""), status: response.status, text })
              })
            ),
            Effect.ignore
          )
        )
      )
    )
  ).pipe(Layer.provide(clientLayer(options.client ?? "fetch")))
  return VersApi.layer.pipe(
    Layer.provide(recording),
    Layer.provide(VersConfig.layerFrom({ baseUrl: fleet.baseUrl, apiKey: fleet.apiKey, requestTimeoutMs: 10_000, ...options.config }))
  )
}

/** The `VersApi` of {@link versLayer}, built into the current scope (the undici dispatcher lives as long as it). */
export const makeApi = (fleet: Pick<FakeVersHandle, "baseUrl" | "apiKey">, options: Parameters<typeof versLayer>[1] = {}) =>
  Effect.map(Layer.build(versLayer(fleet, options)), Context.get(VersApi))

const empty = Schema.Literal("")

/** The client Schema the document gives a 2xx answer of `method path` (empty = no body). */
export const schemaFor = (method: string, path: string): Schema.Schema<any, any> | typeof empty | undefined => {
  if (method === "GET" && (path === "/vms" || path === "/vm")) return VmList
  if (method === "POST" && (path === "/vm/new_root" || path === "/vm/from_commit")) return NewVm
  if (method === "GET" && /^\/vm\/[^/]+\/status$/.test(path)) return Vm
  if (method === "GET" && /^\/vm\/[^/]+\/metadata$/.test(path)) return VmMetadata
  if (method === "GET" && /^\/vm\/[^/]+\/ssh_key$/.test(path)) return SshKey
  if (method === "DELETE" && /^\/vm\/[^/]+$/.test(path)) return DeleteResponse
  if (method === "POST" && /^\/vm\/[^/]+\/branch$/.test(path)) return BranchResponse
  if (method === "POST" && /^\/vm\/[^/]+\/commit$/.test(path)) return CommitResponse
  if (method === "PATCH" && /^\/vm\/[^/]+\/(state|disk|label)$/.test(path)) return empty
  return undefined
}

/** Error bodies must be exactly the document's `{error, success: false}`. */
const StrictErrorBody = ErrorBody.pipe(Schema.filter((b) => b.success === false && typeof b.error === "string" && b.error.length > 0))

/**
 * Decodes one recorded answer with the client's Schema for its route, refusing any property the
 * document does not have (`onExcessProperty: "error"`). 2xx answers with their operation's
 * Schema, others with the error body. Returns a problem sentence, or undefined when it decodes.
 */
export const strictProblem = (a: RawAnswer): string | undefined => {
  const ok = a.status >= 200 && a.status < 300
  const schema = ok ? schemaFor(a.method, a.path) : StrictErrorBody
  if (schema === undefined) return `${a.method} ${a.path}: no Schema for this route`
  if (schema === empty) return a.text === "" ? undefined : `${a.method} ${a.path}: expected an empty body, got ${a.text.slice(0, 80)}`
  let json: unknown
  try {
    json = JSON.parse(a.text)
  } catch {
    return `${a.method} ${a.path} ${a.status}: not JSON`
  }
  const r = Schema.decodeUnknownEither(schema as Schema.Schema<unknown, unknown>, { onExcessProperty: "error", errors: "all" })(json)
  return r._tag === "Right" ? undefined : `${a.method} ${a.path} ${a.status}: ${(r.left as ParseResult.ParseError).message}`
}

/** A VM as a scoped resource: made by `acquire` (uninterruptible), deleted when the scope closes; a VM already gone is fine. */
export const scopedVm = <E, R>(api: typeof VersApi.Service, acquire: Effect.Effect<VmId, E, R>) =>
  Effect.acquireRelease(acquire, (vmId) => api.delete(vmId).pipe(Effect.catchTag("VmNotFound", () => Effect.void), Effect.orDie))

/** Several VMs (a branch with `count`) as one scoped resource. */
export const scopedVms = <E, R>(api: typeof VersApi.Service, acquire: Effect.Effect<ReadonlyArray<VmId>, E, R>) =>
  Effect.acquireRelease(acquire, (ids) =>
    Effect.forEach(ids, (vmId) => api.delete(vmId).pipe(Effect.catchTag("VmNotFound", () => Effect.void), Effect.orDie), { discard: true }))

// Request bodies and query parameters as the document gives them (written from it here, apart
// from the client's Schemas, so the check is not the client agreeing with itself).
const nullable = <S extends Schema.Schema.Any>(s: S) => Schema.optional(Schema.NullOr(s))
const Int = Schema.Int.pipe(Schema.nonNegative())
const Labels = Schema.Record({ key: Schema.String, value: Schema.String })
const requestBodies: ReadonlyArray<readonly [string, RegExp, Schema.Schema<any, any>, ReadonlyArray<string>]> = [
  ["POST", /^\/vm\/new_root$/, Schema.Struct({ vm_config: Schema.Struct({ vcpu_count: nullable(Int), mem_size_mib: nullable(Int), fs_size_mib: nullable(Int), image_name: nullable(Schema.String), kernel_name: nullable(Schema.String), labels: nullable(Labels) }) }), ["wait_boot"]],
  ["POST", /^\/vm\/from_commit$/, Schema.Union(Schema.Struct({ commit_id: Schema.UUID }), Schema.Struct({ tag_name: Schema.String }), Schema.Struct({ ref: Schema.String })), []],
  ["PATCH", /^\/vm\/[^/]+\/label$/, Schema.Struct({ labels: nullable(Labels) }), []],
  ["PATCH", /^\/vm\/[^/]+\/state$/, Schema.Struct({ state: Schema.Literal("Paused", "Running") }), ["skip_wait_boot"]],
  ["POST", /^\/vm\/[^/]+\/commit$/, Schema.Struct({ commit_id: nullable(Schema.UUID), name: nullable(Schema.String), description: nullable(Schema.String) }), ["keep_paused", "skip_wait_boot"]],
  ["PATCH", /^\/vm\/[^/]+\/disk$/, Schema.Struct({ fs_size_mib: Int }), ["skip_wait_boot"]]
]
const bodiless: ReadonlyArray<readonly [string, RegExp, ReadonlyArray<string>]> = [
  ["GET", /^\/vms?$/, []],
  ["GET", /^\/vm\/[^/]+\/(status|metadata|ssh_key)$/, []],
  ["DELETE", /^\/vm\/[^/]+$/, ["skip_wait_boot"]],
  ["POST", /^\/vm\/[^/]+\/branch$/, ["keep_paused", "skip_wait_boot", "count"]]
]

/**
 * Checks one request the fake recorded against the document: a required body of exactly the
 * documented shape (no extra property), none where the document has none, and only documented
 * query parameters. Returns a problem sentence, or undefined.
 */
export const requestProblem = (r: { readonly method: string; readonly path: string; readonly body: string }): string | undefined => {
  const url = new URL(r.path, "http://fake.invalid")
  const path = url.pathname.replace(/^\/api\/v1/, "")
  const what = `${r.method} ${path}`
  const params = [...url.searchParams.keys()]
  const withBody = requestBodies.find(([m, p]) => m === r.method && p.test(path))
  if (withBody !== undefined) {
    const [, , schema, query] = withBody
    const extra = params.filter((p) => !query.includes(p))
    if (extra.length > 0) return `${what}: undocumented query ${extra.join(", ")}`
    let json: unknown
    try {
      json = JSON.parse(r.body)
    } catch {
      return `${what}: the body is not JSON`
    }
    const d = Schema.decodeUnknownEither(schema, { onExcessProperty: "error", errors: "all" })(json)
    return d._tag === "Right" ? undefined : `${what}: ${d.left.message}`
  }
  const without = bodiless.find(([m, p]) => m === r.method && p.test(path))
  if (without === undefined) return `${what}: not an operation of the document`
  const extra = params.filter((p) => !without[2].includes(p))
  if (extra.length > 0) return `${what}: undocumented query ${extra.join(", ")}`
  return r.body === "" ? undefined : `${what}: a body where the document has none`
}
