/**
 * Keys and secrets against the fake fleet: the API key rotated mid-run (in the environment and
 * in `~/.vers/keys.json`, read through VersConfig's layer on every request) works without
 * rebuilding anything; a refused key is a typed `VersAuthError` naming no secret and is not
 * retried; and a whole VersApi session — successes, auth errors, decode errors, 5xx, 404, 400,
 * timeouts, no key — leaves the key nowhere: not in error messages, `String(error)`,
 * `Cause.pretty`, logs, span attributes and events, or the fake's record of the requests
 * (Authorization aside). No child processes are started, so there is no argv to check.
 */
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Cause, ConfigProvider, Context, Effect, Exit, Layer, Logger, LogLevel, Tracer } from "effect"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { inspect } from "node:util"
import { afterEach } from "vitest"
import type { VmId } from "../../src/domain/Vers.js"
import type { VersError } from "../../src/domain/VersErrors.js"
import * as VersConfigLayer from "../../src/layers/VersConfig.js"
import { VersConfig } from "../../src/services/VersConfig.js"
import { FakeVers, type FakeVersHandle } from "../../src/testing/index.js"
import { makeApi, type RawAnswer } from "../support/versFleet.js"

const savedKey = process.env.VERS_API_KEY
const dirs: Array<string> = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
  if (savedKey === undefined) delete process.env.VERS_API_KEY
  else process.env.VERS_API_KEY = savedKey
})

const secret = (name: string) => `${name}-${randomBytes(12).toString("hex")}`

const versHome = () => {
  const d = mkdtempSync(join(tmpdir(), "troupe-vers-secrets-"))
  dirs.push(d)
  return d
}

/** The key lookup of VersConfig's environment layer (`VERS_API_KEY` → keys.json → config.json), re-run on every request. */
const envKeyLookup = (home: string) =>
  Effect.map(Layer.build(VersConfigLayer.layer({ versHome: home }).pipe(Layer.provide(NodeFileSystem.layer))), (ctx) => Context.get(ctx, VersConfig).apiKey).pipe(
    Effect.withConfigProvider(ConfigProvider.fromEnv())
  )

/** A client whose key comes from VersConfig's environment layer, pointed at `fleet`. */
const envApi = (fleet: FakeVersHandle, home: string, answers?: Array<RawAnswer>) =>
  Effect.flatMap(envKeyLookup(home), (apiKey) => makeApi(fleet, { config: { apiKey, requestTimeoutMs: 800 }, ...(answers === undefined ? {} : { answers }) }))

const requestsOf = (fleet: FakeVersHandle, operation: string) => fleet.ledger.requests().filter((r) => r.operation === operation)

describe("API key rotation mid-run", () => {
  it.live("VERS_API_KEY rotated between two calls of one program: the old key is a typed VersAuthError (not retried), the new one works at once", () =>
    Effect.gen(function* () {
      const [k1, k2] = [secret("env-key-one"), secret("env-key-two")]
      const fleet = yield* FakeVers.make({ bootMs: 0, apiKey: k1 })
      process.env.VERS_API_KEY = k1
      const api = yield* envApi(fleet, versHome())
      const vm = yield* api.createRoot({ labels: { run: "rot" } })

      // The fleet moves to k2 first: the client still sends k1.
      fleet.rotateKey(k2)
      const refused = yield* Effect.flip(api.status(vm))
      expect(refused).toMatchObject({ _tag: "VersAuthError", operation: "status", vmId: vm, status: 401 })
      expect(refused.message).toMatch(/^Vers refused status for VM [0-9a-f]{8}… \(HTTP 401\): the API key is invalid or lacks access$/)
      for (const text of [refused.message, String(refused), JSON.stringify(refused), inspect(refused)]) {
        expect(text).not.toContain(k1)
        expect(text).not.toContain(k2)
      }
      expect(requestsOf(fleet, "vm_status").map((r) => r.status)).toEqual([401])

      // Then the environment follows: the very next call of the same client uses k2.
      process.env.VERS_API_KEY = k2
      expect((yield* api.status(vm)).labels).toEqual({ run: "rot", "troupe-request": expect.any(String) })
      expect(yield* api.delete(vm)).toEqual([vm])
      // The ledger names keys by id: the VM was made with the first, deleted with the second.
      expect(fleet.ledger.created().map((v) => v.key_id)).toEqual(["key-1"])
      expect(fleet.ledger.live()).toEqual([])
    }).pipe(Effect.scoped))

  it.live("~/.vers/keys.json rewritten between two calls (no VERS_API_KEY): the next request reads the new key; config.json is the last resort", () =>
    Effect.gen(function* () {
      delete process.env.VERS_API_KEY
      const [k1, k2, k3] = [secret("file-key-one"), secret("file-key-two"), secret("config-key")]
      const home = versHome()
      writeFileSync(join(home, "keys.json"), JSON.stringify({ keys: { VERS_API_KEY: k1 } }))
      const fleet = yield* FakeVers.make({ bootMs: 0, apiKey: k1 })
      const api = yield* envApi(fleet, home)
      const vm = yield* api.createRoot()

      fleet.rotateKey(k2)
      writeFileSync(join(home, "keys.json"), JSON.stringify({ keys: { VERS_API_KEY: k2 } }))
      const [branched] = yield* api.branch(vm)
      expect(fleet.ledger.created().map((v) => v.key_id)).toEqual(["key-1", "key-2"])

      // keys.json gone: config.json's versApiKey is read.
      fleet.rotateKey(k3)
      rmSync(join(home, "keys.json"))
      writeFileSync(join(home, "config.json"), JSON.stringify({ versApiKey: k3 }))
      expect(yield* api.delete(branched!)).toEqual([branched])

      // No key anywhere: a VersAuthError without a status that says where to set one, and no request is sent.
      rmSync(join(home, "config.json"))
      const sent = fleet.ledger.requests().length
      const none = yield* Effect.flip(api.delete(vm))
      expect(none).toMatchObject({ _tag: "VersAuthError", operation: "delete" })
      expect(none).not.toHaveProperty("status")
      expect(none.message).toMatch(/^Vers delete needs an API key, but none is set: set VERS_API_KEY, or put .* in ~\/\.vers\/keys\.json/)
      expect(fleet.ledger.requests().length).toBe(sent)

      writeFileSync(join(home, "keys.json"), JSON.stringify({ keys: { VERS_API_KEY: k3 } }))
      yield* api.delete(vm)
      expect(fleet.ledger.live()).toEqual([])
    }).pipe(Effect.scoped))
})

/** A tracer that keeps every span (the native ones, so attributes and events are recorded as usual). */
const recordingTracer = (spans: Array<Tracer.Span>) =>
  Effect.map(Effect.tracer, (native) =>
    Tracer.make({
      span: (...args) => {
        const span = native.span(...args)
        spans.push(span)
        return span
      },
      context: native.context
    }))

/** Everything a span carries, as text: name, attributes, events, and the cause of a failed end. */
const spanText = (span: Tracer.Span): string => {
  const s = span as Tracer.Span & { readonly events?: ReadonlyArray<unknown> }
  const exit = span.status._tag === "Ended" ? span.status.exit : undefined
  return [
    span.name,
    inspect([...span.attributes], { depth: 5 }),
    inspect(s.events ?? [], { depth: 5 }),
    exit !== undefined && Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""
  ].join("\n")
}

describe("secrets", () => {
  it.live("a session of successes and failures leaves the key in no message, error, cause, log line, span or recorded request", () =>
    Effect.gen(function* () {
      const key = secret("vers-secret")
      const other = secret("vers-other")
      const echo = "invalid bearer token"
      const fleet = yield* FakeVers.make({ bootMs: 0, apiKey: key })
      const answers: Array<RawAnswer> = []
      const spans: Array<Tracer.Span> = []
      const logs: Array<string> = []
      const outputs: Array<string> = []
      const tracer = yield* recordingTracer(spans)
      const logger = Logger.make((options) => {
        logs.push(Logger.logfmtLogger.log(options))
      })
      process.env.VERS_API_KEY = key
      const api = yield* envApi(fleet, versHome(), answers)

      /** Runs one step as an application would: log what happened, keep every rendering of its outcome. */
      const step = <A>(name: string, effect: Effect.Effect<A, VersError>) =>
        Effect.gen(function* () {
          const exit = yield* Effect.exit(Effect.withSpan(effect, `session.${name}`))
          if (Exit.isSuccess(exit)) {
            yield* Effect.logInfo(`${name} ok`, exit.value)
            outputs.push(inspect(exit.value, { depth: 5 }), JSON.stringify(exit.value) ?? "", String(exit.value))
          } else {
            yield* Effect.logError(`${name} failed`, exit.cause)
            const e = Cause.squash(exit.cause)
            outputs.push(Cause.pretty(exit.cause), String(e), JSON.stringify(e), inspect(e, { depth: 5 }), (e as { message?: string }).message ?? "")
          }
          return exit
        })

      const session = Effect.gen(function* () {
        const vm = yield* Effect.flatten(step("createRoot", api.createRoot({ labels: { run: "secrets" } })))
        yield* step("list", api.list())
        yield* step("status", api.status(vm))
        yield* step("metadata", api.metadata(vm))
        yield* step("sshKey", api.sshKey(vm))
        const commit = yield* Effect.flatten(step("commit", api.commit(vm, { name: "c" })))
        const [child] = yield* Effect.flatten(step("branch", api.branch(vm)))
        const restored = yield* Effect.flatten(step("restore", api.restore({ commitId: commit.commitId }, { labels: { run: "secrets" } })))
        yield* step("pause", api.setState(vm, "Paused"))
        yield* step("pause again (400)", api.setState(vm, "Paused"))
        yield* step("resume", api.setState(vm, "Running"))
        yield* step("status of nothing (404)", api.status("5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f" as VmId))
        fleet.faults.inject({ operation: "vm_status", fault: { kind: "malformed" }, times: 3 })
        yield* step("status malformed", api.status(vm))
        fleet.faults.inject({ operation: "list_vms", fault: { kind: "status", status: 503 }, times: 3 })
        yield* step("list 503", api.list())
        // A server that echoes the credential in its error text: the client quotes the reason without it.
        fleet.faults.inject({ operation: "get_vm_metadata", fault: { kind: "status", status: 503, message: `${echo} ${key}` }, times: 3 })
        yield* step("metadata 503 echoing the key", api.metadata(vm))
        fleet.faults.inject({ operation: "ssh_key", fault: { kind: "hang" }, times: 3 })
        yield* step("sshKey hang", api.sshKey(vm))
        fleet.faults.inject({ operation: "create_new_root_vm", fault: { kind: "status", status: 500 }, times: 3, afterEffect: true })
        yield* step("createRoot 500 after effect", api.createRoot())
        // The fleet takes another key: 401 for every operation.
        fleet.rotateKey(other)
        yield* step("list 401", api.list())
        yield* step("createRoot 401", api.createRoot())
        yield* step("delete 401", api.delete(vm))
        // No key set at all.
        delete process.env.VERS_API_KEY
        yield* step("status without a key", api.status(vm))
        process.env.VERS_API_KEY = other
        fleet.faults.clear()
        for (const id of [child!, restored, vm]) yield* step("delete", api.delete(id))
        for (const v of fleet.ledger.live()) yield* step("delete leftover", api.delete(v.vm_id as VmId))
      })
      yield* session.pipe(Effect.withTracer(tracer), Effect.provide(Logger.replace(Logger.defaultLogger, logger)), Logger.withMinimumLogLevel(LogLevel.All))
      expect(fleet.ledger.live()).toEqual([])

      const requests = fleet.ledger.requests().map(({ headers: { authorization: _auth, ...headers }, ...r }) => ({ ...r, headers }))
      const haystacks: Record<string, ReadonlyArray<string>> = {
        outputs,
        logs,
        spans: spans.map(spanText),
        requests: requests.map((r) => JSON.stringify(r)),
        ledger: fleet.ledger.created().map((v) => JSON.stringify(v)),
        // The fake's own answers, except the echo it was told to send.
        answers: answers.filter((a) => !a.text.includes(echo)).map((a) => JSON.stringify(a))
      }
      // Every haystack holds what it should (the search below is not vacuous): failures of each
      // kind were rendered, logged and traced; the client's HTTP spans recorded the (redacted)
      // Authorization header; the fake recorded every request.
      const all = Object.values(haystacks).flat().join("\n")
      for (const tag of ["VersAuthError", "VmNotFound", "VmConflict", "VersDecodeError", "VersUnavailable", "VersTimeout"]) expect(haystacks.outputs!.join("\n")).toContain(tag)
      expect(outputs.filter((o) => o.includes(`${echo} <redacted>`)).length).toBeGreaterThan(0)
      expect(haystacks.logs!.filter((l) => l.includes("level=ERROR")).length).toBeGreaterThanOrEqual(9)
      expect(haystacks.spans!.some((s) => s.includes("VersApi.createRoot"))).toBe(true)
      const authAttributes = spans.flatMap((s) => [...s.attributes].filter(([k]) => k === "http.request.header.authorization"))
      expect(authAttributes.length).toBeGreaterThan(20)
      expect(requests.length).toBeGreaterThan(30)
      expect(all).toContain(fleet.ownerId)
      // The fake records the header with its credential removed.
      expect(new Set(fleet.ledger.requests().map((r) => r.headers.authorization))).toEqual(new Set(["Bearer [redacted]"]))
      // SSH private keys stay Redacted in every rendering of a success.
      expect(haystacks.outputs!.join("\n")).not.toContain("PRIVATE KEY")

      for (const [where, texts] of Object.entries(haystacks)) {
        for (const k of [key, other]) {
          expect(texts.filter((t) => t.includes(k)), `${where} carries an API key`).toEqual([])
          // Nor a recognisable part of it (the random half).
          expect(texts.filter((t) => t.includes(k.slice(-16))), `${where} carries part of an API key`).toEqual([])
        }
      }
    }).pipe(Effect.scoped))
})
