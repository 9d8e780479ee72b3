/**
 * The contract between the Vers client and the fake fleet, both written from the Vers
 * orchestrator's OpenAPI document: a real `VersApi` over real HTTP (fetch and undici) against a
 * real `FakeVers` runs every operation; every answer the fake gave decodes STRICTLY with the
 * client's Schemas (no property the document lacks, formats checked); both historical variants
 * of delete and branch decode; a malformed answer is a `VersDecodeError`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import type { CommitId, VmId } from "../../src/domain/Vers.js"
import { FakeVers } from "../../src/testing/index.js"
import { type ClientKind, makeApi, type RawAnswer, requestProblem, strictProblem } from "../support/versFleet.js"

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** Every recorded answer decodes strictly; at least `min` were recorded (the check saw something). */
const expectStrict = (answers: ReadonlyArray<RawAnswer>, min: number) => {
  expect(answers.length).toBeGreaterThanOrEqual(min)
  expect(answers.map(strictProblem).filter((p) => p !== undefined)).toEqual([])
}

describe.each<ClientKind>(["fetch", "undici"])("VersApi ↔ FakeVers contract (%s)", (client) => {
  it.live("every operation round-trips; every answer of the fake decodes strictly with the client's Schemas, every request is the document's", () =>
    Effect.gen(function* () {
      const fleet = yield* FakeVers.make({ bootMs: 250 })
      const answers: Array<RawAnswer> = []
      const api = yield* makeApi(fleet, { answers, client })

      const root = yield* api.createRoot({ config: { vcpuCount: 2, memSizeMib: 1024, fsSizeMib: 2048, imageName: "default", kernelName: "default.bin" }, labels: { run: "r1" } })
      expect(fleet.vm(root)).toMatchObject({ config: { vcpu_count: 2, mem_size_mib: 1024, fs_size_mib: 2048 }, labels: { run: "r1" } })
      expect((yield* api.status(root)).state).toBe("booting")
      const running = yield* api.waitRunning(root)
      expect(running).toMatchObject({ vmId: root, state: "running", labels: { run: "r1" } })
      expect(running.ownerId).toBe(fleet.ownerId)

      const waited = yield* api.createRoot({ waitBoot: true })
      expect((yield* api.status(waited)).state).toBe("running")

      const listed = yield* api.list()
      expect(listed.map((v) => v.vmId).sort()).toEqual([root, waited].sort())

      const meta = yield* api.metadata(root)
      expect(meta).toMatchObject({ vmId: root, state: "running" })
      expect(meta.ip).not.toBe("")

      const key = yield* api.sshKey(root)
      expect(key.sshPort).toBe(22)
      expect(Redacted.value(key.sshPrivateKey)).toBe(fleet.vm(root)!.ssh_private_key)
      expect(String(key.sshPrivateKey)).not.toContain("PRIVATE KEY")

      yield* api.label(root, { run: "r1", team: "a" })
      expect(fleet.vm(root)!.labels).toEqual({ run: "r1", team: "a" })
      yield* api.resizeDisk(root, 4096)
      expect(fleet.vm(root)!.config.fs_size_mib).toBe(4096)
      yield* api.setState(root, "Paused")
      expect(fleet.vm(root)!.state).toBe("paused")
      yield* api.setState(root, "Running")
      expect(fleet.vm(root)!.state).toBe("running")

      // Commit: the document requires a JSON body ("optional commit metadata"); the client sends one even when empty.
      const plain = yield* api.commit(root)
      expect(plain.commitId).toMatch(uuid)
      const chosen = "4b3c2d1e-0f9a-4b8c-8d7e-6f5a4b3c2d1e" as CommitId
      const named = yield* api.commit(root, { commitId: chosen, name: "golden", description: "for tests", keepPaused: true })
      expect(named.commitId).toBe(chosen)
      expect(fleet.commits().find((c) => c.commit_id === chosen)).toMatchObject({ name: "golden", description: "for tests", parent_vm_id: root })
      expect(fleet.vm(root)!.state).toBe("paused")
      yield* api.setState(root, "Running")

      const branched = yield* api.branch(root, { count: 2 })
      expect(branched).toHaveLength(2)
      for (const b of branched) expect(fleet.vm(b)!.origin.kind).toBe("branch")
      const [branchOne] = yield* api.branch(root, { keepPaused: true })
      expect(fleet.vm(root)!.state).toBe("paused")
      yield* api.setState(root, "Running")

      const restored = yield* api.restore({ commitId: named.commitId }, { labels: { run: "r2" } })
      expect(fleet.vm(restored)).toMatchObject({ parent_commit_id: chosen, origin: { kind: "from_commit" }, labels: { run: "r2", "troupe-request": expect.any(String) } })
      expect(fleet.vm(restored)!.ssh_private_key).not.toBe(fleet.vm(root)!.ssh_private_key)
      expect((yield* api.metadata(restored)).parentCommitId).toBe(chosen)
      fleet.tag("golden-tag", chosen)
      const byTag = yield* api.restore({ tagName: "golden-tag" })
      fleet.ref("repo", "v1", chosen)
      const byRef = yield* api.restore({ ref: "repo:v1" })

      for (const id of [root, waited, ...branched, branchOne!, restored, byTag, byRef]) expect(yield* api.delete(id)).toEqual([id])
      expect(fleet.ledger.live()).toEqual([])
      // Metadata of a deleted VM still answers (dead, deleted_at set) and decodes.
      const gone = yield* api.metadata(root)
      expect(gone.state).toBe("dead")
      expect(gone.deletedAt).toBeDefined()
      expect(yield* Effect.flip(api.status(root))).toMatchObject({ _tag: "VmNotFound", vmId: root })

      expectStrict(answers, 35)
      // The strict check refuses what the document does not have: the same answer with one more field fails it.
      const status = answers.find((a) => a.path.endsWith("/status") && a.status === 200)!
      expect(strictProblem({ ...status, text: JSON.stringify({ ...JSON.parse(status.text), extra: 1 }) })).toMatch(/extra/)
      expect(strictProblem({ ...status, text: JSON.stringify({ ...JSON.parse(status.text), owner_id: "not-a-uuid" }) })).toBeDefined()
      // The fake saw every operation of the client.
      const ops = new Set(fleet.ledger.requests().map((r) => r.operation))
      for (const op of ["list_vms", "create_new_root_vm", "delete_vm", "vm_status", "get_vm_metadata", "label_vm", "update_vm_state", "commit_vm", "restore_from_commit", "branch_vm", "ssh_key", "resize_vm_disk"]) {
        expect(ops).toContain(op)
      }
      // Every request the client sent is the document's: its body exactly the documented shape, only documented query flags.
      expect(fleet.ledger.requests().map(requestProblem).filter((p) => p !== undefined)).toEqual([])
      expect(requestProblem({ method: "POST", path: "/api/v1/vm/x/commit", body: `{"keepPaused":true}` })).toMatch(/keepPaused/)
      // Every request with a body says it is JSON, and the fake accepted every request (it answers 4xx to a body off the document);
      // the one refusal is the status of the deleted VM above.
      for (const r of fleet.ledger.requests()) if (r.body !== "") expect(r.headers["content-type"]).toMatch(/^application\/json/)
      expect(fleet.ledger.requests().filter((r) => (r.status ?? 0) >= 400).map((r) => `${r.operation} ${r.status}`)).toEqual(["vm_status 404"])
    }).pipe(Effect.scoped))
})

describe("VersApi ↔ FakeVers: variants, errors, malformed answers", () => {
  it.live("legacy variants (delete {deleted_ids}, branch {vm_id}) decode strictly and normalise to lists", () =>
    Effect.gen(function* () {
      const fleet = yield* FakeVers.make({ bootMs: 0, variants: { delete: "legacy", branch: "legacy" } })
      const answers: Array<RawAnswer> = []
      const api = yield* makeApi(fleet, { answers })
      const root = yield* api.createRoot()
      const [child] = yield* api.branch(root)
      expect(fleet.vm(child!)).toBeDefined()
      expect(yield* api.delete(child!)).toEqual([child])
      fleet.setVariants({ delete: "current", branch: "current" })
      const [other] = yield* api.branch(root)
      expect(yield* api.delete(other!)).toEqual([other])
      expect(yield* api.delete(root)).toEqual([root])
      expect(answers.filter((a) => a.method === "DELETE").map((a) => Object.keys(JSON.parse(a.text)))).toEqual([["deleted_ids"], ["vm_id"], ["vm_id"]])
      expect(answers.filter((a) => a.path.endsWith("/branch")).map((a) => Object.keys(JSON.parse(a.text)))).toEqual([["vm_id"], ["vms"]])
      expectStrict(answers, 6)
    }).pipe(Effect.scoped))

  it.live("refusals map to typed errors and their bodies are exactly the document's error shape", () =>
    Effect.gen(function* () {
      const fleet = yield* FakeVers.make({ bootMs: 0 })
      const answers: Array<RawAnswer> = []
      const api = yield* makeApi(fleet, { answers })
      const missing = "0d6f3c1a-9b8e-4c7d-a6f5-e4d3c2b1a098" as VmId
      expect(yield* Effect.flip(api.status(missing))).toMatchObject({ _tag: "VmNotFound", operation: "status", vmId: missing })
      expect(yield* Effect.flip(api.delete(missing))).toMatchObject({ _tag: "VmNotFound" })
      expect(yield* Effect.flip(api.restore({ commitId: missing as string as CommitId }))).toMatchObject({ _tag: "VmNotFound", operation: "restore" })
      const vm = yield* api.createRoot()
      // Pausing a paused VM and a disk that does not grow: 400 → VmConflict with the server's reason.
      yield* api.setState(vm, "Paused")
      const twice = yield* Effect.flip(api.setState(vm, "Paused"))
      expect(twice).toMatchObject({ _tag: "VmConflict", status: 400 })
      expect(twice.message).toMatch(/cannot change to Paused/)
      expect(yield* Effect.flip(api.resizeDisk(vm, 1))).toMatchObject({ _tag: "VmConflict", status: 400 })
      yield* api.delete(vm)
      expectStrict(answers, 8)
      expect(answers.filter((a) => a.status >= 400).length).toBeGreaterThanOrEqual(5)
    }).pipe(Effect.scoped))

  it.live("a malformed answer (truncated JSON) to a create is a VersDecodeError that is reconciled, never a second VM", () =>
    Effect.gen(function* () {
      const fleet = yield* FakeVers.make({ bootMs: 0 })
      const api = yield* makeApi(fleet)
      // Before the effect: nothing was created; the client looks, finds nothing, and creates once more.
      fleet.faults.inject({ operation: "create_new_root_vm", fault: { kind: "malformed" } })
      const a = yield* api.createRoot()
      // After the effect: the VM exists; the client adopts it by its request label.
      fleet.faults.inject({ operation: "create_new_root_vm", fault: { kind: "malformed" }, afterEffect: true })
      const b = yield* api.createRoot()
      expect(fleet.ledger.created().map((v) => v.vm_id)).toEqual([a, b])
      expect(fleet.ledger.requests().filter((r) => r.operation === "create_new_root_vm").map((r) => r.fault)).toEqual(["malformed", null, "malformed"])
      // Commit and branch are not retried: the malformed answer is the caller's VersDecodeError, in one sentence.
      fleet.faults.inject({ operation: "commit_vm", fault: { kind: "malformed" } })
      const e = yield* Effect.flip(api.commit(a))
      expect(e).toMatchObject({ _tag: "VersDecodeError", operation: "commit", vmId: a })
      expect(e.message).toMatch(/^Vers answered commit for VM [0-9a-f]{8}… with an unexpected body: not JSON/)
      expect(e.message).not.toContain("\n")
      fleet.faults.inject({ operation: "branch_vm", fault: { kind: "malformed" } })
      expect(yield* Effect.flip(api.branch(a))).toMatchObject({ _tag: "VersDecodeError", operation: "branch" })
      expect(fleet.ledger.requests().filter((r) => r.operation === "commit_vm" || r.operation === "branch_vm")).toHaveLength(2)
    }).pipe(Effect.scoped))

  it.live("a malformed answer to an idempotent read is retried within its budget; three in a row are a VersDecodeError", () =>
    Effect.gen(function* () {
      const fleet = yield* FakeVers.make({ bootMs: 0 })
      const api = yield* makeApi(fleet)
      const vm = yield* api.createRoot()
      fleet.faults.inject({ operation: "vm_status", fault: { kind: "malformed" } })
      expect((yield* api.status(vm)).state).toBe("running")
      fleet.faults.inject({ operation: "list_vms", fault: { kind: "malformed" }, times: 3 })
      expect(yield* Effect.flip(api.list())).toMatchObject({ _tag: "VersDecodeError", operation: "list" })
      expect(fleet.ledger.requests().filter((r) => r.operation === "list_vms")).toHaveLength(3)
      yield* api.delete(vm)
    }).pipe(Effect.scoped))
})
