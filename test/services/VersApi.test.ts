/**
 * VersApi against an in-memory Vers (test/support/versHttp.ts) under TestClock: the request
 * shapes of every operation, every response variant, status → tagged error, decode failures
 * as one sentence, retries of idempotent calls (and none of creates), 429's retry-after,
 * timeouts, boot waiting, key rotation, and no message ever carrying the key.
 */
import { describe, expect, it } from "@effect/vitest"
import { retryAfterMs } from "../../src/services/vers/Http.js"
import { Effect, Layer, Redacted, Ref, Tracer } from "effect"
import type { CommitId, VmId } from "../../src/domain/Vers.js"
import { VersApi } from "../../src/services/VersApi.js"
import { VersConfig, type VersConfigInput } from "../../src/services/VersConfig.js"
import type { VersError } from "../../src/domain/VersErrors.js"
import { type Answer, base, makeFakeVers, settle, uuid } from "../support/versHttp.js"

const KEY = "vers-test-key-0123456789"

const setup = (config: Partial<VersConfigInput> = {}, fake = makeFakeVers()) => {
  const layer = VersApi.layer.pipe(Layer.provide(fake.layer), Layer.provide(VersConfig.layerFrom({ baseUrl: base, apiKey: KEY, ...config })))
  return { fake, run: <A, E>(f: (api: typeof VersApi.Service) => Effect.Effect<A, E>) => settle(Effect.flatMap(VersApi, f).pipe(Effect.provide(layer))) }
}

const failure = <A, E>(effect: Effect.Effect<A, E>) => Effect.flip(effect)

describe("VersApi requests and responses", () => {
  it.effect("each operation sends the documented method, path, query and body with Bearer auth, and decodes the answer", () =>
    Effect.gen(function* () {
      const { fake, run } = setup()
      const vmId = yield* run((api) => api.createRoot({ config: { vcpuCount: 2, memSizeMib: 2048 }, labels: { run: "r1" }, waitBoot: true }))
      const create = fake.calls("POST", /^\/vm\/new_root$/)[0]!
      expect(create.authorization).toBe(`Bearer ${KEY}`)
      expect(create.query.get("wait_boot")).toBe("true")
      expect(create.body).toMatchObject({ vm_config: { vcpu_count: 2, mem_size_mib: 2048, labels: { run: "r1" } } })
      expect((create.body as any).vm_config.labels["troupe-request"]).toMatch(/^[0-9a-f-]{36}$/)

      const listed = yield* run((api) => api.list())
      expect(listed.map((v) => v.vmId)).toEqual([vmId])
      expect(listed[0]!.labels.run).toBe("r1")
      expect((yield* run((api) => api.status(vmId))).state).toBe("running")
      expect((yield* run((api) => api.metadata(vmId))).ip).toBe("10.0.0.2")
      const key = yield* run((api) => api.sshKey(vmId))
      expect(key.sshPort).toBe(443)
      expect(Redacted.value(key.sshPrivateKey)).toContain("BEGIN OPENSSH PRIVATE KEY")

      const commit = yield* run((api) => api.commit(vmId, { keepPaused: true, name: "golden" }))
      const commitCall = fake.calls("POST", /\/commit$/)[0]!
      expect(commitCall.query.get("keep_paused")).toBe("true")
      expect(commitCall.body).toEqual({ name: "golden" })
      const branched = yield* run((api) => api.branch(vmId, { count: 2 }))
      expect(branched).toHaveLength(2)
      expect(fake.calls("POST", /\/branch$/)[0]!.query.get("count")).toBe("2")

      yield* run((api) => api.setState(vmId, "Paused"))
      expect(fake.calls("PATCH", /\/state$/)[0]!.body).toEqual({ state: "Paused" })
      expect(fake.vms.get(vmId)!.state).toBe("paused")
      yield* run((api) => api.resizeDisk(vmId, 8192))
      expect(fake.calls("PATCH", /\/disk$/)[0]!.body).toEqual({ fs_size_mib: 8192 })
      yield* run((api) => api.label(vmId, { team: "a" }))
      expect(fake.calls("PATCH", /\/label$/)[0]!.body).toEqual({ labels: { team: "a" } })

      const restored = yield* run((api) => api.restore({ commitId: commit.commitId }, { labels: { run: "r2" } }))
      expect(fake.calls("POST", /^\/vm\/from_commit$/)[0]!.body).toEqual({ commit_id: commit.commitId })
      expect(fake.vms.get(restored)!.labels).toMatchObject({ run: "r2", "troupe-request": expect.any(String) })
      yield* run((api) => api.restore({ tagName: "golden" }))
      yield* run((api) => api.restore({ ref: "repo:v1" }))
      expect(fake.calls("POST", /^\/vm\/from_commit$/).slice(1).map((c) => c.body)).toEqual([{ tag_name: "golden" }, { ref: "repo:v1" }])

      expect(yield* run((api) => api.delete(vmId))).toEqual([vmId])
      expect(fake.vms.has(vmId)).toBe(false)
    })
  )

  it.effect("delete {deleted_ids}, branch {vm_id} and commit host_architecture: the other documented variants decode", () =>
    Effect.gen(function* () {
      const { fake, run } = setup()
      const a = fake.newVm(null).vm_id as VmId
      fake.fault({ method: "DELETE", answer: { status: 200, body: { deleted_ids: [a, uuid(99)] } } })
      expect(yield* run((api) => api.delete(a))).toEqual([a, uuid(99)])
      fake.fault({ method: "POST", path: /\/branch$/, answer: { status: 201, body: { vm_id: uuid(98) } } })
      expect(yield* run((api) => api.branch(a))).toEqual([uuid(98)])
      fake.fault({ method: "POST", path: /\/commit$/, answer: { status: 201, body: { commit_id: uuid(5, "cccccccc"), host_architecture: "aarch64" } } })
      expect(yield* run((api) => api.commit(a))).toEqual({ commitId: uuid(5, "cccccccc"), hostArchitecture: "aarch64" })
    })
  )

  it.effect("malformed bodies fail VersDecodeError with one sentence naming the operation and the field", () =>
    Effect.gen(function* () {
      const { fake, run } = setup()
      const a = fake.newVm(null).vm_id as VmId
      // A body that is not JSON is asked for again (3 attempts), as a truncated answer may arrive whole next time.
      fake.fault({ method: "GET", path: /\/status$/, answer: { status: 200, raw: "{not json" }, times: 3 })
      const notJson = yield* failure(run((api) => api.status(a)))
      expect(notJson._tag).toBe("VersDecodeError")
      expect(notJson.message).toMatch(/^Vers answered status for VM 00000000… with an unexpected body: not JSON/)
      fake.fault({ method: "GET", path: /\/status$/, answer: { status: 200, body: { vm_id: a, state: "running", created_at: "2026-01-01T00:00:00Z" } } })
      const missing = yield* failure(run((api) => api.status(a)))
      expect(missing).toMatchObject({ _tag: "VersDecodeError", operation: "status", vmId: a })
      expect(missing.message).toBe(`Vers answered status for VM 00000000… with an unexpected body: missing field "owner_id"`)
      fake.fault({ method: "GET", path: /^\/vms$/, answer: { status: 200, body: { vms: [] } } })
      expect((yield* failure(run((api) => api.list()))).message).toMatch(/^Vers answered list with an unexpected body: the value must be an array/)
      expect(fake.calls("GET", /^\/vms$/)).toHaveLength(1) // a well-formed body of the wrong shape is not retried
    })
  )
})

describe("VersApi errors, retries and timeouts", () => {
  it.effect("each status maps to its tagged error; 4xx are not retried", () =>
    Effect.gen(function* () {
      const { fake, run } = setup()
      const a = fake.newVm(null).vm_id as VmId
      const cases: ReadonlyArray<[number, string]> = [[400, "VmConflict"], [401, "VersAuthError"], [403, "VersAuthError"], [404, "VmNotFound"], [409, "VmConflict"], [422, "VmConflict"]]
      for (const [status, tag] of cases) {
        const before = fake.seen.length
        fake.fault({ method: "GET", path: /\/status$/, answer: { status, body: { error: `reason ${status}`, success: false } } })
        const e = yield* failure(run((api) => api.status(a)))
        expect(e._tag).toBe(tag)
        expect(fake.seen.length - before).toBe(1)
      }
      fake.fault({ method: "GET", path: /\/status$/, answer: { status: 409, body: { error: "VM is booting", success: false } } })
      expect((yield* failure(run((api) => api.status(a)))).message).toBe("Vers refused status for VM 00000000… (HTTP 409): VM is booting")
      expect((yield* failure(run((api) => api.status(uuid(77) as VmId)))).message).toBe("Vers could not find VM 00000000… (status): it may have been deleted")
      fake.fault({ method: "GET", path: /\/status$/, answer: { status: 401 } })
      expect((yield* failure(run((api) => api.status(a)))).message).toBe("Vers refused status for VM 00000000… (HTTP 401): the API key is invalid or lacks access")
    })
  )

  it.effect("idempotent calls retry 5xx, connection errors and timeouts: 3 attempts, then the last error", () =>
    Effect.gen(function* () {
      const { fake, run } = setup()
      const a = fake.newVm(null).vm_id as VmId
      fake.fault({ method: "GET", path: /\/status$/, answer: { status: 503 }, times: 2 })
      expect((yield* run((api) => api.status(a))).vmId).toBe(a)
      expect(fake.calls("GET", /\/status$/)).toHaveLength(3)
      fake.fault({ method: "PATCH", path: /\/state$/, answer: "connection", times: 3 })
      const down = yield* failure(run((api) => api.setState(a, "Paused")))
      expect(down).toMatchObject({ _tag: "VersUnavailable", operation: "setState" })
      expect(down.message).toBe("Vers is unavailable for setState for VM 00000000…: connection failed (connect ECONNREFUSED 127.0.0.1:9)")
      expect(fake.calls("PATCH", /\/state$/)).toHaveLength(3)
      fake.fault({ method: "DELETE", answer: "hang", times: 3 })
      const start = fake.seen.length
      const hung = yield* failure(run((api) => api.delete(a)))
      expect(hung).toMatchObject({ _tag: "VersTimeout", timeoutMs: 60_000, message: "Vers delete for VM 00000000… did not answer within 60000 ms" })
      expect(fake.seen.length - start).toBe(3)
      const calls = fake.seen.slice(start)
      expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(60_000)
    })
  )

  it.effect("a delete retried after an ambiguous failure counts a 404 as deleted; a plain 404 stays VmNotFound", () =>
    Effect.gen(function* () {
      const { fake, run } = setup()
      const a = fake.newVm(null).vm_id as VmId
      fake.fault({ method: "DELETE", when: "after", answer: { status: 502 } })
      expect(yield* run((api) => api.delete(a))).toEqual([a])
      expect(fake.vms.size).toBe(0)
      expect((yield* failure(run((api) => api.delete(a))))._tag).toBe("VmNotFound")
    })
  )

  it.effect("a 429 waits retry-after-ms or retry-after (seconds) before the retry; beyond 60 s it fails VersRateLimited", () =>
    Effect.gen(function* () {
      const { fake, run } = setup()
      const a = fake.newVm(null).vm_id as VmId
      fake.fault({ method: "GET", path: /\/status$/, answer: { status: 429, headers: { "retry-after-ms": "2500" } } })
      yield* run((api) => api.status(a))
      let calls = fake.calls("GET", /\/status$/)
      expect(calls).toHaveLength(2)
      expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(2500)
      fake.fault({ method: "GET", path: /\/status$/, answer: { status: 429, headers: { "retry-after": "7" } } })
      yield* run((api) => api.status(a))
      calls = fake.calls("GET", /\/status$/)
      expect(calls[3]!.at - calls[2]!.at).toBeGreaterThanOrEqual(7000)
      fake.fault({ method: "GET", path: /\/status$/, answer: { status: 429, headers: { "retry-after": "3600" } } })
      const limited = yield* failure(run((api) => api.status(a)))
      expect(limited).toMatchObject({ _tag: "VersRateLimited", retryAfterMs: 3_600_000 })
      expect(fake.calls("GET", /\/status$/)).toHaveLength(5)
    })
  )

  it("retry-after-ms wins over retry-after; retry-after takes seconds or an HTTP date; 1 s when absent or unreadable", () => {
    const now = Date.UTC(2026, 11, 7, 12, 0, 0)
    expect(retryAfterMs({ "retry-after-ms": "1500.2", "retry-after": "9" }, now)).toBe(1501)
    expect(retryAfterMs({ "retry-after": "2" }, now)).toBe(2000)
    expect(retryAfterMs({ "retry-after": new Date(now + 4000).toUTCString() }, now)).toBe(4000)
    expect(retryAfterMs({ "retry-after": new Date(now - 4000).toUTCString() }, now)).toBe(0)
    expect(retryAfterMs({}, now)).toBe(1000)
    expect(retryAfterMs({ "retry-after": "soon" }, now)).toBe(1000)
  })

  it.effect("the call timeout is configurable", () =>
    Effect.gen(function* () {
      const { fake, run } = setup({ requestTimeoutMs: 1500 })
      fake.fault({ method: "GET", answer: "hang", times: 3 })
      const e = yield* failure(run((api) => api.list()))
      expect(e.message).toBe("Vers list did not answer within 1500 ms")
    })
  )

  it.effect("the key is looked up on every call: a rotated key is used by the next request", () =>
    Effect.gen(function* () {
      const key = yield* Ref.make("key-one-aaaaaaaa")
      const { fake, run } = setup({ apiKey: Effect.map(Ref.get(key), Redacted.make) })
      yield* run((api) => api.list())
      yield* Ref.set(key, "key-two-bbbbbbbb")
      yield* run((api) => api.list())
      expect(fake.seen.map((s) => s.authorization)).toEqual(["Bearer key-one-aaaaaaaa", "Bearer key-two-bbbbbbbb"])
    })
  )

  it.effect("without a key every call fails VersAuthError naming the three places, and sends nothing", () =>
    Effect.gen(function* () {
      const { fake, run } = setup({ apiKey: undefined })
      const e = yield* failure(run((api) => api.list()))
      expect(e._tag).toBe("VersAuthError")
      expect(e.message).toMatch(/^Vers list needs an API key, but none is set: set VERS_API_KEY, or put .* ~\/\.vers\/keys\.json, or versApiKey in ~\/\.vers\/config\.json$/)
      expect(fake.seen).toHaveLength(0)
    })
  )
})

describe("VersApi creates, restores and boot waiting", () => {
  it.effect("createRoot is not retried blindly: a 5xx after the server created the VM adopts it (exactly one VM)", () =>
    Effect.gen(function* () {
      const { fake, run } = setup()
      fake.fault({ method: "POST", path: /new_root$/, when: "after", answer: { status: 500, body: { error: "boom" } } })
      const vmId = yield* run((api) => api.createRoot({ labels: { run: "r1" } }))
      expect(fake.calls("POST", /new_root$/)).toHaveLength(1)
      expect([...fake.vms.keys()]).toEqual([vmId])
      // A timeout after creating: same outcome.
      fake.fault({ method: "POST", path: /new_root$/, when: "after", answer: "hang" })
      const second = yield* run((api) => api.createRoot())
      expect(fake.vms.size).toBe(2)
      expect(fake.vms.has(second)).toBe(true)
    })
  )

  it.effect("createRoot creates again when the failed attempt made nothing, at most 3 attempts; a 400 is not retried", () =>
    Effect.gen(function* () {
      const { fake, run } = setup()
      fake.fault({ method: "POST", path: /new_root$/, answer: "connection" })
      const vmId = yield* run((api) => api.createRoot())
      expect(fake.calls("POST", /new_root$/)).toHaveLength(2)
      expect([...fake.vms.keys()]).toEqual([vmId])
      fake.fault({ method: "POST", path: /new_root$/, answer: { status: 503 }, times: 3 })
      expect((yield* failure(run((api) => api.createRoot())))._tag).toBe("VersUnavailable")
      expect(fake.calls("POST", /new_root$/)).toHaveLength(5)
      fake.fault({ method: "POST", path: /new_root$/, answer: { status: 400, body: { error: "image_name must be default" } } })
      expect((yield* failure(run((api) => api.createRoot({ config: { imageName: "x" } })))).message).toBe("Vers refused createRoot (HTTP 400): image_name must be default")
      expect(fake.calls("POST", /new_root$/)).toHaveLength(6)
      expect(fake.vms.size).toBe(1)
    })
  )

  it.effect("a create adopted after an ambiguous failure with waitBoot is waited for; invalid input is refused before sending", () =>
    Effect.gen(function* () {
      const { fake, run } = setup({}, makeFakeVers({ bootPolls: 2 }))
      fake.fault({ method: "POST", path: /new_root$/, when: "after", answer: { status: 504 } })
      const vmId = yield* run((api) => api.createRoot({ waitBoot: true }))
      expect(fake.calls("POST", /new_root$/)).toHaveLength(1)
      expect(fake.calls("GET", /\/status$/)).toHaveLength(3) // booting, booting, running
      expect(fake.vms.get(vmId)!.state).toBe("running")
      const before = fake.seen.length
      const bad = yield* failure(run((api) => api.createRoot({ config: { vcpuCount: -1 } })))
      expect(bad).toMatchObject({ _tag: "VmConflict", operation: "createRoot" })
      expect(bad.message).toBe(`Vers createRoot was not sent: field "vm_config.vcpuCount" must be a non-negative number (got -1)`)
      expect((yield* failure(run((api) => api.resizeDisk(vmId, 1.5)))).message).toBe(`Vers resizeDisk for VM 00000000… was not sent: field "fsSizeMib" must be an integer (got 1.5)`)
      expect((yield* failure(run((api) => api.restore({ commitId: "nope" as CommitId }))))._tag).toBe("VmConflict")
      expect(fake.seen.slice(before).filter((s) => s.method !== "GET")).toHaveLength(0)
    })
  )

  it.effect("restore reconciles by listing: a 5xx after the server restored adopts the new VM from that commit and labels it", () =>
    Effect.gen(function* () {
      const { fake, run } = setup()
      const commit = uuid(1, "cccccccc") as CommitId
      fake.newVm({ "troupe-request": "someone-else" })
      fake.fault({ method: "POST", path: /from_commit$/, when: "after", answer: { status: 502 } })
      const vmId = yield* run((api) => api.restore({ commitId: commit }, { labels: { run: "r9" } }))
      expect(fake.calls("POST", /from_commit$/)).toHaveLength(1)
      expect(fake.vms.size).toBe(2)
      expect(fake.vms.get(vmId)!.labels).toMatchObject({ run: "r9" })
      // Nothing restored by the failed attempt: restore again.
      fake.fault({ method: "POST", path: /from_commit$/, answer: { status: 503 } })
      yield* run((api) => api.restore({ commitId: commit }))
      expect(fake.calls("POST", /from_commit$/)).toHaveLength(3)
      expect(fake.vms.size).toBe(3)
      // Another client's unlabelled restore of the same commit appears meanwhile: two candidates, none adopted.
      fake.fault({ method: "POST", path: /from_commit$/, when: "after", answer: { status: 500 }, also: () => fake.newVm(null, commit) })
      const ambiguous = yield* failure(run((api) => api.restore({ commitId: commit })))
      expect(ambiguous).toMatchObject({ _tag: "VmConflict", operation: "restore" })
      expect(ambiguous.message).toBe("Vers restore failed ambiguously and 2 new VMs could be its own, so none was adopted")
      expect(fake.calls("POST", /from_commit$/)).toHaveLength(4)
    })
  )

  it.effect("waitRunning polls status at 1 s ×1.5 capped at 5 s until running; a dead VM fails VmDead; 120 s budget", () =>
    Effect.gen(function* () {
      const { fake, run } = setup()
      const a = fake.newVm(null)
      a.state = "booting"
      fake.bootAfter.set(a.vm_id, 7)
      const vm = yield* run((api) => api.waitRunning(a.vm_id as VmId))
      expect(vm.state).toBe("running")
      const at = fake.calls("GET", /\/status$/).map((c) => c.at)
      expect(at.slice(1).map((t, i) => t - at[i]!)).toEqual([1000, 1500, 2250, 3375, 5000, 5000, 5000])
      // A status outage during boot is one more "not yet".
      const d = fake.newVm(null)
      d.state = "booting"
      fake.bootAfter.set(d.vm_id, 1)
      fake.fault({ method: "GET", path: /\/status$/, answer: { status: 503 }, times: 3 })
      expect((yield* run((api) => api.waitRunning(d.vm_id as VmId))).state).toBe("running")
      const b = fake.newVm(null)
      b.state = "dead"
      const dead = yield* failure(run((api) => api.waitRunning(b.vm_id as VmId)))
      expect(dead).toMatchObject({ _tag: "VmDead", message: "VM 00000000… died during waitRunning" })
      const c = fake.newVm(null)
      c.state = "booting"
      const stuck = yield* failure(run((api) => api.waitRunning(c.vm_id as VmId)))
      expect(stuck).toMatchObject({ _tag: "VersTimeout", timeoutMs: 120_000 })
    })
  )
})

describe("VersApi secrets", () => {
  it.effect("no error of any operation on any failure path carries the key, even when the server echoes it", () =>
    Effect.gen(function* () {
      const echo = `invalid token Bearer ${KEY}`
      const answers: ReadonlyArray<Answer | "hang" | "connection"> = [
        ...[400, 401, 403, 404, 409, 500, 503].map((status) => ({ status, body: { error: echo, success: false } })),
        { status: 429, headers: { "retry-after": "99999" }, body: { error: echo } },
        { status: 200, raw: `{"vm_id": "${KEY}"` },
        { status: 200, body: { unexpected: KEY } },
        { status: 200, body: { vm_id: KEY, owner_id: KEY, state: KEY, created_at: KEY, commit_id: KEY, ssh_port: KEY, vms: KEY, ip: KEY } },
        "hang",
        "connection"
      ]
      const ops: ReadonlyArray<(api: typeof VersApi.Service, vm: VmId) => Effect.Effect<unknown, VersError>> = [
        (api) => api.list(),
        (api, vm) => api.status(vm),
        (api, vm) => api.metadata(vm),
        (api) => api.createRoot({ labels: { a: "b" } }),
        (api, vm) => api.delete(vm),
        (api, vm) => api.branch(vm),
        (api, vm) => api.commit(vm),
        (api) => api.restore({ tagName: "t" }),
        (api, vm) => api.setState(vm, "Running"),
        (api, vm) => api.sshKey(vm),
        (api, vm) => api.resizeDisk(vm, 10),
        (api, vm) => api.label(vm, { a: "b" }),
        (api, vm) => api.waitRunning(vm)
      ]
      let checked = 0
      for (const answer of answers) {
        for (const op of ops) {
          const fake = makeFakeVers({ connectionError: `connect refused for ${KEY}` })
          const vm = fake.newVm(null).vm_id as VmId
          fake.fault({ answer, times: 1000 })
          const { run } = setup({}, fake)
          const result = yield* Effect.either(run((api) => op(api, vm)))
          // A 200 with any body is success for the calls whose answer is empty (state, disk, label).
          if (result._tag === "Right") continue
          const e = result.left
          for (const text of [e.message, JSON.stringify(e), String(e)]) expect(text).not.toContain(KEY)
          expect(e.message.split("\n")).toHaveLength(1)
          checked++
        }
      }
      expect(checked).toBeGreaterThan(answers.length * ops.length * 0.8) // the rest succeeded (empty-answer calls, bodies that are valid)
    })
  )

  it.effect("no span name, attribute or event of a call carries the key", () =>
    Effect.gen(function* () {
      const native = yield* Effect.tracer
      const spans: Array<Tracer.Span> = []
      const recording = Tracer.make({
        span: (...args) => {
          const span = native.span(...args)
          spans.push(span)
          return span
        },
        context: (f, fiber) => native.context(f, fiber)
      })
      const fake = makeFakeVers()
      const vm = fake.newVm(null).vm_id as VmId
      const { run } = setup({}, fake)
      yield* run((api) => Effect.zip(api.list(), api.status(vm))).pipe(Effect.withTracer(recording))
      fake.fault({ answer: { status: 401, body: { error: `bad ${KEY}` } } })
      yield* Effect.either(run((api) => api.sshKey(vm))).pipe(Effect.withTracer(recording))
      expect(spans.map((s) => s.name)).toEqual(expect.arrayContaining(["VersApi.list", "VersApi.status", "VersApi.sshKey", "http.client GET"]))
      const http = spans.find((s) => s.name === "http.client GET")!
      expect(http.attributes.get("http.request.header.authorization")).toBeDefined() // the header is recorded, redacted
      expect(String(http.attributes.get("http.request.header.authorization"))).not.toContain(KEY)
      for (const span of spans) {
        const text = JSON.stringify({ name: span.name, attributes: [...span.attributes].map(([k, v]) => [k, String(v)]) })
        expect(text).not.toContain(KEY)
      }
    })
  )
})
