/**
 * FakeVers over real HTTP (fetch): every VM operation of the document, states and transitions,
 * Bearer auth and key rotation, response variants, each fault kind (before and after effect,
 * next-N and seeded probability), the ledger, hooks, and both the scoped and Promise forms.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc, Fiber, TestClock } from "effect"
import ssh2 from "ssh2"
import { afterEach } from "vitest"
import { FakeVers, type FakeVmRecord, startFakeVers, type StartedFakeVers } from "../../src/testing/index.js"

const fleets: Array<StartedFakeVers> = []
afterEach(async () => {
  await Promise.all(fleets.splice(0).map((f) => f.close()))
})

const start = async (options: Parameters<typeof startFakeVers>[0] = {}) => {
  const f = await startFakeVers({ bootMs: 0, ...options })
  fleets.push(f)
  return f
}

interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  readonly json: any
}

/** One request; `key` null sends no Authorization header. */
const call = async (f: { baseUrl: string; apiKey: string }, method: string, path: string, body?: unknown, key: string | null = f.apiKey, signal?: AbortSignal): Promise<Answer> => {
  const r = await fetch(`${f.baseUrl}${path}`, {
    method,
    headers: { ...(key === null ? {} : { authorization: `Bearer ${key}` }), ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    ...(signal === undefined ? {} : { signal })
  })
  const text = await r.text()
  let json: unknown
  try {
    json = text === "" ? undefined : JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: r.status, headers: r.headers, text, json }
}

const newRoot = async (f: StartedFakeVers, labels: Record<string, string> = {}, query = "") => {
  const r = await call(f, "POST", `/vm/new_root${query}`, { vm_config: { labels } })
  expect(r.status, r.text).toBe(201)
  return r.json.vm_id as string
}

/** Polls `probe` until it holds (bounded; a positive signal, not a fixed sleep). */
const until = async (probe: () => boolean | Promise<boolean>, what: string, boundMs = 10_000) => {
  const deadline = performance.now() + boundMs
  while (!(await probe())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

describe("FakeVers: auth", () => {
  it("401 with the document's error body without a key or with a wrong one; rotateKey and addKey", async () => {
    const f = await start({ apiKey: "first-key" })
    expect(f.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/v1$/)
    expect((await call(f, "GET", "/vms")).json).toEqual([])
    for (const key of [null, "wrong"]) {
      const r = await call(f, "GET", "/vms", undefined, key)
      expect(r.status).toBe(401)
      expect(r.json).toMatchObject({ success: false, error: expect.stringMatching(/API key/) })
    }
    f.rotateKey("second-key")
    expect(f.apiKey).toBe("second-key")
    expect((await call(f, "GET", "/vms", undefined, "first-key")).status).toBe(401)
    expect((await call(f, "GET", "/vms", undefined, "second-key")).status).toBe(200)
    f.addKey("third-key")
    expect((await call(f, "GET", "/vms", undefined, "second-key")).status).toBe(200)
    expect((await call(f, "GET", "/vm", undefined, "third-key")).status).toBe(200)
  })

  it("the ledger records headers with the Authorization value redacted, never the key", async () => {
    const f = await start({ apiKey: "sekrit-value-123" })
    await newRoot(f, { run: "r1" })
    const requests = f.ledger.requests()
    expect(requests.map((r) => [r.operation, r.method, r.status])).toEqual([["create_new_root_vm", "POST", 201]])
    expect(requests[0]!.headers.authorization).toBe("Bearer [redacted]")
    expect(requests[0]!.body).toContain('"run":"r1"')
    expect(JSON.stringify(requests)).not.toContain("sekrit-value-123")
    f.ledger.reset()
    expect(f.ledger.requests()).toEqual([])
    expect(f.ledger.created()).toEqual([])
    expect(f.vms()).toHaveLength(1)
  })
})

describe("FakeVers: VM lifecycle", () => {
  it("new_root boots, then runs; wait_boot answers after boot; status, list and metadata shapes", async () => {
    // Long enough to be seen booting on a busy machine; the transition itself: the TestClock test.
    const slow = await start({ bootMs: 60_000 })
    const booting = await newRoot(slow, { run: "r1", role: "worker" })
    expect(booting).toMatch(uuid)
    const status = await call(slow, "GET", `/vm/${booting}/status`)
    expect(status.json).toEqual({ vm_id: booting, owner_id: slow.ownerId, created_at: expect.any(String), state: "booting", labels: { run: "r1", role: "worker" } })
    expect(new Date(status.json.created_at).toISOString()).toBe(status.json.created_at)
    const f = await start({ bootMs: 100 })
    const id = await newRoot(f, { run: "r1" })
    await until(async () => (await call(f, "GET", `/vm/${id}/status`)).json.state === "running", "boot")
    const waited = await newRoot(f, {}, "?wait_boot=true")
    expect((await call(f, "GET", `/vm/${waited}/status`)).json.state).toBe("running")
    expect((await call(f, "GET", "/vms")).json.map((v: { vm_id: string }) => v.vm_id)).toEqual([id, waited])
    expect((await call(f, "GET", `/vm/${id}/metadata`)).json).toEqual({
      vm_id: id,
      owner_id: f.ownerId,
      created_at: f.vm(id)!.created_at,
      state: "running",
      ip: expect.any(String),
      deleted_at: null,
      grandparent_vm_id: null,
      parent_commit_id: null
    })
  })

  it("pause and resume; invalid transitions are 400; delete answers {vm_id}, then 404; metadata keeps deleted_at", async () => {
    const f = await start()
    const id = await newRoot(f)
    expect(await call(f, "PATCH", `/vm/${id}/state`, { state: "Paused" })).toMatchObject({ status: 200, text: "" })
    expect((await call(f, "GET", `/vm/${id}/status`)).json.state).toBe("paused")
    const again = await call(f, "PATCH", `/vm/${id}/state`, { state: "Paused" })
    expect(again).toMatchObject({ status: 400, json: { success: false, error: expect.stringContaining("paused") } })
    expect((await call(f, "PATCH", `/vm/${id}/state`, { state: "Running" })).status).toBe(200)
    expect((await call(f, "PATCH", `/vm/${id}/state`, { state: "Running" })).status).toBe(400)
    expect((await call(f, "PATCH", `/vm/${id}/state`, { state: "Stopped" })).status).toBe(400)
    expect((await call(f, "DELETE", `/vm/${id}`)).json).toEqual({ vm_id: id })
    expect((await call(f, "DELETE", `/vm/${id}`)).status).toBe(404)
    expect((await call(f, "GET", `/vm/${id}/status`)).status).toBe(404)
    expect((await call(f, "PATCH", `/vm/${id}/state`, { state: "Paused" })).status).toBe(404)
    const other = await newRoot(f)
    expect(f.setVmState(other, "hibernating")).toBe(true)
    expect((await call(f, "GET", `/vm/${other}/status`)).json.state).toBe("hibernating")
    expect((await call(f, "PATCH", `/vm/${other}/state`, { state: "Running" })).status).toBe(400)
    expect(f.setVmState(crypto.randomUUID(), "running")).toBe(false)
    const meta = (await call(f, "GET", `/vm/${id}/metadata`)).json
    expect(meta).toMatchObject({ vm_id: id, state: "dead", deleted_at: expect.any(String) })
    expect((await call(f, "GET", `/vm/${crypto.randomUUID()}/status`)).status).toBe(404)
  })

  it.scoped("skip_wait_boot fails at once on a booting VM; without it delete answers once the boot is over (TestClock)", () =>
    Effect.gen(function* () {
      const f = yield* FakeVers.make({ bootMs: 1000 })
      const id = (yield* Effect.promise(() => call(f, "POST", "/vm/new_root", { vm_config: {} }))).json.vm_id as string
      const skipped = yield* Effect.promise(() => call(f, "DELETE", `/vm/${id}?skip_wait_boot=true`))
      expect(skipped).toMatchObject({ status: 400, json: { error: expect.stringContaining("booting") } })
      expect((yield* Effect.promise(() => call(f, "PATCH", `/vm/${id}/disk?skip_wait_boot=true`, { fs_size_mib: 4096 }))).status).toBe(400)
      const deleting = yield* Effect.fork(Effect.promise(() => call(f, "DELETE", `/vm/${id}`)))
      // The delete is waiting (it reached the fake and got no answer yet) before the boot ends.
      yield* Effect.promise(() => until(() => f.ledger.requests().length === 4, "the delete request"))
      expect(f.vm(id)!.state).toBe("booting")
      yield* TestClock.adjust("1 second")
      expect((yield* Fiber.join(deleting)).json).toEqual({ vm_id: id })
      expect(f.ledger.live()).toEqual([])
    })
  )

  it("labels: create-time, then PATCH label replaces them; 404 for an unknown VM", async () => {
    const f = await start()
    const id = await newRoot(f, { a: "1", b: "2" })
    expect((await call(f, "PATCH", `/vm/${id}/label`, { labels: { c: "3" } })).status).toBe(200)
    expect((await call(f, "GET", `/vm/${id}/status`)).json.labels).toEqual({ c: "3" })
    expect((await call(f, "PATCH", `/vm/${id}/label`, { labels: null })).status).toBe(200)
    expect((await call(f, "GET", `/vm/${id}/status`)).json.labels).toEqual({})
    expect((await call(f, "PATCH", `/vm/${crypto.randomUUID()}/label`, { labels: {} })).status).toBe(404)
    expect(f.ledger.created()[0]!.labels).toEqual({ a: "1", b: "2" })
  })

  it("ssh_key: an ed25519 OpenSSH key and the configured port; resize must grow", async () => {
    const f = await start({ sshPort: 2222 })
    const id = await newRoot(f)
    const key = await call(f, "GET", `/vm/${id}/ssh_key`)
    expect(key.json).toEqual({ ssh_port: 2222, ssh_private_key: expect.stringContaining("-----BEGIN OPENSSH PRIVATE KEY-----") })
    const parsed = ssh2.utils.parseKey(key.json.ssh_private_key)
    expect(parsed instanceof Error ? parsed.message : parsed.type).toBe("ssh-ed25519")
    f.setSshPort(443)
    expect((await call(f, "GET", `/vm/${id}/ssh_key`)).json.ssh_port).toBe(443)
    expect((await call(f, "PATCH", `/vm/${id}/disk`, { fs_size_mib: 4096 })).status).toBe(200)
    expect(f.vm(id)!.config.fs_size_mib).toBe(4096)
    const shrink = await call(f, "PATCH", `/vm/${id}/disk`, { fs_size_mib: 4096 })
    expect(shrink).toMatchObject({ status: 400, json: { error: expect.stringContaining("not larger") } })
  })

  it("bad requests: no body, bad JSON, wrong fields, unknown image, a non-uuid id, unknown paths and methods", async () => {
    const f = await start()
    const untyped = await call(f, "POST", "/vm/new_root")
    expect(untyped).toMatchObject({ status: 415, json: { error: expect.stringContaining("Content-Type: application/json") } })
    expect((await call(f, "POST", "/vm/new_root", "")).json.error).toMatch(/body is required/)
    expect((await call(f, "POST", "/vm/new_root", "{nope")).json.error).toMatch(/not valid JSON/)
    const wrong = await call(f, "POST", "/vm/new_root", { vm_config: { vcpu_count: "two" } })
    expect(wrong).toMatchObject({ status: 400, json: { error: expect.stringContaining("vcpu_count") } })
    expect((await call(f, "POST", "/vm/new_root", { vm_config: { image_name: "ubuntu" } })).status).toBe(400)
    expect((await call(f, "POST", "/vm/new_root?wait_boot=maybe", { vm_config: {} })).status).toBe(400)
    expect((await call(f, "GET", "/vm/not-a-uuid/status")).status).toBe(400)
    expect((await call(f, "GET", "/nowhere")).status).toBe(404)
    expect((await call(f, "DELETE", "/vm/%E0%A4%A")).status).toBe(404)
    expect((await call(f, "PUT", "/vms")).status).toBe(405)
    expect(f.vms()).toEqual([])
  })
})

describe("FakeVers: bad input", () => {
  it("any JSON body to any operation with a body: a 2xx or a 4xx with the error shape, never a 500", async () => {
    const f = await start()
    const id = await newRoot(f)
    const targets: ReadonlyArray<[string, string]> = [
      ["POST", "/vm/new_root"],
      ["POST", "/vm/from_commit"],
      ["PATCH", `/vm/${id}/label`],
      ["PATCH", `/vm/${id}/state`],
      ["POST", `/vm/${id}/commit`],
      ["PATCH", `/vm/${id}/disk`],
      ["POST", "/commit_tags"]
    ]
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...targets), fc.oneof(fc.jsonValue(), fc.string()), async ([method, path], body) => {
        const r = await call(f, method, path, typeof body === "string" ? body : JSON.stringify(body))
        if (r.status >= 300) {
          expect(r.status).toBeLessThan(500)
          expect(r.json).toEqual({ error: expect.any(String), success: false })
        }
      }),
      { numRuns: 150 }
    )
  })
})

describe("FakeVers: commits, restores, branches", () => {
  it("commit keep_paused; from_commit by id, tag and ref gives new VMs with new keys; unknown → 404", async () => {
    const f = await start()
    const id = await newRoot(f)
    const c = await call(f, "POST", `/vm/${id}/commit?keep_paused=true`, {})
    expect(c.status).toBe(201)
    expect(c.json).toEqual({ commit_id: expect.stringMatching(uuid) })
    expect(f.vm(id)!.state).toBe("paused")
    const commitId = c.json.commit_id as string
    const restored = await call(f, "POST", "/vm/from_commit", { commit_id: commitId })
    expect(restored.status).toBe(201)
    const rid = restored.json.vm_id as string
    expect(f.vm(rid)).toMatchObject({ parent_commit_id: commitId, grandparent_vm_id: id, origin: { kind: "from_commit", commit_id: commitId } })
    expect(f.vm(rid)!.ssh_private_key).not.toBe(f.vm(id)!.ssh_private_key)
    expect((await call(f, "POST", "/vm/from_commit", { commit_id: crypto.randomUUID() })).status).toBe(404)
    const tag = await call(f, "POST", "/commit_tags", { tag_name: "golden", commit_id: commitId })
    expect(tag.json).toEqual({ tag_id: expect.stringMatching(uuid), tag_name: "golden", commit_id: commitId })
    expect((await call(f, "POST", "/commit_tags", { tag_name: "golden", commit_id: commitId })).status).toBe(409)
    expect((await call(f, "POST", "/vm/from_commit", { tag_name: "golden" })).status).toBe(201)
    expect((await call(f, "POST", "/vm/from_commit", { tag_name: "silver" })).status).toBe(404)
    f.ref("images", "v1", commitId)
    expect((await call(f, "POST", "/vm/from_commit", { ref: "images:v1" })).status).toBe(201)
    expect((await call(f, "POST", "/vm/from_commit", { ref: "images:v2" })).status).toBe(404)
    expect(() => f.tag("x", crypto.randomUUID())).toThrow(/not found/)
    expect((await call(f, "POST", `/vm/${id}/commit`, "")).status).toBe(400)
    const commits = await call(f, "GET", "/commits")
    expect(commits.json).toMatchObject({ total: 1, limit: 50, offset: 0, commits: [{ commit_id: commitId, owner_id: f.ownerId, is_public: false, parent_vm_id: id }] })
    expect(f.ledger.created().map((v) => v.origin)).toEqual(["new_root", "from_commit", "from_commit", "from_commit"])
  })

  it("branch from a VM (count) and from a commit; the legacy variants of branch and delete", async () => {
    const f = await start()
    const id = await newRoot(f)
    const b = await call(f, "POST", `/vm/${id}/branch?count=2`)
    expect(b.status).toBe(201)
    expect(b.json.vms).toHaveLength(2)
    const [b1, b2] = b.json.vms.map((v: { vm_id: string }) => v.vm_id) as [string, string]
    expect(new Set([f.vm(b1)!.ssh_private_key, f.vm(b2)!.ssh_private_key, f.vm(id)!.ssh_private_key]).size).toBe(3)
    expect(f.vm(b1)!.origin).toMatchObject({ kind: "branch", from_vm_id: id })
    const commitId = f.vm(b1)!.parent_commit_id!
    const fromCommit = await call(f, "POST", `/vm/${commitId}/branch`)
    expect(fromCommit.json).toEqual({ vms: [{ vm_id: expect.stringMatching(uuid) }] })
    expect((await call(f, "POST", `/vm/${crypto.randomUUID()}/branch`)).status).toBe(404)
    f.setVariants({ branch: "legacy", delete: "legacy" })
    const legacy = await call(f, "POST", `/vm/${id}/branch`)
    expect(legacy.json).toEqual({ vm_id: expect.stringMatching(uuid) })
    expect((await call(f, "DELETE", `/vm/${b1}`)).json).toEqual({ deleted_ids: [b1] })
  })

  it("hooks see creates, commits, restores, state changes and deletes", async () => {
    const seen: Array<string> = []
    const f = await start({
      hooks: {
        onCreate: (vm: FakeVmRecord) => void seen.push(`create ${vm.origin.kind}`),
        onCommit: () => void seen.push("commit"),
        onRestore: async () => void seen.push("restore"),
        onStateChange: (vm, from) => void seen.push(`state ${from}->${vm.state}`),
        onDelete: (vm) => void seen.push(`delete ${vm.state}`)
      }
    })
    const id = await newRoot(f)
    const c = await call(f, "POST", `/vm/${id}/commit?keep_paused=true`, {})
    const r = await call(f, "POST", "/vm/from_commit", { commit_id: c.json.commit_id })
    await call(f, "DELETE", `/vm/${r.json.vm_id}`)
    expect(seen).toEqual(["create new_root", "commit", "state running->paused", "create from_commit", "restore", "delete dead"])
  })
})

describe("FakeVers: faults", () => {
  it("status for the next N requests, then normal answers; only the named operation", async () => {
    const f = await start()
    f.faults.inject({ operation: "list_vms", fault: { kind: "status", status: 503 }, times: 2 })
    const first = await call(f, "GET", "/vms")
    expect(first).toMatchObject({ status: 503, json: { success: false, error: expect.any(String) } })
    expect((await call(f, "GET", `/vm/${crypto.randomUUID()}/status`)).status).toBe(404)
    expect((await call(f, "GET", "/vms")).status).toBe(503)
    expect((await call(f, "GET", "/vms")).status).toBe(200)
    expect(f.faults.pending()).toEqual([])
    expect(f.ledger.requests().map((r) => r.fault)).toEqual(["status 503", null, "status 503", null])
  })

  it("429 with retry-after-ms or retry-after", async () => {
    const f = await start()
    f.faults.inject({ operation: "*", fault: { kind: "rateLimit", retryAfterMs: 250 } })
    f.faults.inject({ operation: "*", fault: { kind: "rateLimit", retryAfterSeconds: 2 } })
    const a = await call(f, "GET", "/vms")
    expect([a.status, a.headers.get("retry-after-ms"), a.headers.get("retry-after")]).toEqual([429, "250", null])
    const b = await call(f, "GET", "/vms")
    expect([b.status, b.headers.get("retry-after-ms"), b.headers.get("retry-after")]).toEqual([429, null, "2"])
  })

  it("slow answers after the delay; malformed answers the success status with broken JSON", async () => {
    const f = await start()
    f.faults.inject({ operation: "list_vms", fault: { kind: "slow", delayMs: 150 } })
    const t0 = performance.now()
    expect((await call(f, "GET", "/vms")).status).toBe(200)
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140)
    f.faults.inject({ operation: "create_new_root_vm", fault: { kind: "malformed" } })
    const bad = await call(f, "POST", "/vm/new_root", { vm_config: {} })
    expect(bad.status).toBe(201)
    expect(() => JSON.parse(bad.text)).toThrow()
    expect(f.vms()).toEqual([])
  })

  it("hang: no answer until the client gives up, or until the fleet closes", async () => {
    const f = await start()
    f.faults.inject({ operation: "list_vms", fault: { kind: "hang" }, times: 2 })
    await expect(call(f, "GET", "/vms", undefined, f.apiKey, AbortSignal.timeout(150))).rejects.toThrow()
    const pending = call(f, "GET", "/vms").then(() => "answered", () => "dropped")
    await until(() => f.ledger.requests().filter((r) => r.fault === "hang").length === 2, "the second hanging request")
    await f.close()
    expect(await pending).toBe("dropped")
    expect(f.ledger.requests().map((r) => r.status)).toEqual([null, null])
  })

  it("afterEffect: the VM is created (and in the ledger) but the client sees a 500", async () => {
    const f = await start()
    f.faults.inject({ operation: "create_new_root_vm", fault: { kind: "status", status: 500 }, afterEffect: true })
    const r = await call(f, "POST", "/vm/new_root", { vm_config: { labels: { run: "r9" } } })
    expect(r.status).toBe(500)
    expect(f.ledger.live()).toEqual([expect.objectContaining({ labels: { run: "r9" }, origin: "new_root", key_id: "key-1" })])
    const listed = await call(f, "GET", "/vms")
    expect(listed.json.map((v: { labels: unknown }) => v.labels)).toEqual([{ run: "r9" }])
    f.faults.inject({ operation: "restore_from_commit", fault: { kind: "hang" }, afterEffect: true })
    const c = await call(f, "POST", `/vm/${f.vms()[0]!.vm_id}/commit`, {})
    await expect(call(f, "POST", "/vm/from_commit", { commit_id: c.json.commit_id }, f.apiKey, AbortSignal.timeout(200))).rejects.toThrow()
    expect(f.ledger.live().map((v) => v.origin)).toEqual(["new_root", "from_commit"])
    expect(() => f.faults.inject({ operation: "create_vm", fault: { kind: "hang" } })).toThrow(/no operation create_vm/)
    expect(() => f.faults.inject({ operation: "*", fault: { kind: "hang" }, probability: 2 })).toThrow(RangeError)
  })

  it("a seeded probability: about the share asked for, and the same sequence for the same seed", async () => {
    const statuses = async (seed: number) => {
      const f = await start({ seed })
      f.faults.inject({ operation: "list_vms", fault: { kind: "status", status: 502 }, probability: 0.3 })
      const out: Array<number> = []
      for (let i = 0; i < 60; i++) out.push((await call(f, "GET", "/vms")).status)
      return out
    }
    const a = await statuses(7)
    const failures = a.filter((s) => s === 502).length
    expect(failures).toBeGreaterThan(6)
    expect(failures).toBeLessThan(32)
    expect(await statuses(7)).toEqual(a)
  })
})

describe("FakeVers: scoped form", () => {
  it.live("make serves for the life of its scope; VMs left alive show in ledger.live()", () =>
    Effect.gen(function* () {
      const baseUrl = yield* Effect.scoped(
        Effect.gen(function* () {
          const f = yield* FakeVers.make({ bootMs: 0 })
          const r = yield* Effect.promise(() => call(f, "POST", "/vm/new_root", { vm_config: {} }))
          expect(r.status).toBe(201)
          expect(f.ledger.live().map((v) => v.vm_id)).toEqual([r.json.vm_id])
          return f.baseUrl
        })
      )
      const after = yield* Effect.promise(() => fetch(`${baseUrl}/vms`).then(() => "answered", () => "refused"))
      expect(after).toBe("refused")
    })
  )

  it.scoped("boot time follows the Effect clock (a TestClock drives it)", () =>
    Effect.gen(function* () {
      const f = yield* FakeVers.make({ bootMs: 60_000 })
      const id = (yield* Effect.promise(() => call(f, "POST", "/vm/new_root", { vm_config: {} }))).json.vm_id as string
      expect(f.vm(id)!.state).toBe("booting")
      yield* TestClock.adjust("59 seconds")
      expect(f.vm(id)!.state).toBe("booting")
      yield* TestClock.adjust("1 second")
      expect((yield* Effect.promise(() => call(f, "GET", `/vm/${id}/status`))).json.state).toBe("running")
    })
  )

  it.live("a taken port fails with FakeVersError", () =>
    Effect.gen(function* () {
      const f = yield* FakeVers.make()
      const e = yield* Effect.flip(FakeVers.make({ port: f.port }))
      expect(e._tag).toBe("FakeVersError")
      expect(e.message).toMatch(/cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/)
    }).pipe(Effect.scoped)
  )
})
