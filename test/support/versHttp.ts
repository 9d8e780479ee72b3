/**
 * An in-memory Vers "server" for VersApi logic tests: an `HttpClient` made over a handler (no
 * sockets), keeping VMs in a map and answering in the OpenAPI document's wire shapes, with
 * fault injection per request (a status, a raw body, a hang, a connection error; before or after
 * the server did the work). Time is the fiber's `Clock`, so TestClock drives every wait. The
 * real HTTP fake (FakeVers) lives in src/testing; this one only exercises the client's logic.
 */
import { HttpClient, HttpClientError, HttpClientResponse } from "@effect/platform"
import { Chunk, Clock, Effect, Fiber, Layer, Option, TestClock } from "effect"

export interface WireVm {
  vm_id: string
  owner_id: string
  state: string
  created_at: string
  labels?: Record<string, string> | null
  parent_commit_id?: string | null
}

export interface Answer {
  readonly status: number
  /** A JSON value, or a raw string body (sent as is). */
  readonly body?: unknown
  readonly raw?: string | undefined
  readonly headers?: Record<string, string> | undefined
}

export interface Fault {
  readonly method?: string | undefined
  /** Matched against the path under `/api/v1`. */
  readonly path?: RegExp | undefined
  /** `"after"`: the server does the work, then answers with the fault (ambiguous failures). */
  readonly when?: "before" | "after" | undefined
  readonly answer: Answer | "hang" | "connection"
  /** How many matching requests it hits (default 1). */
  times?: number
  /** Runs when the fault fires (e.g. another client's VM appears meanwhile). */
  readonly also?: (() => void) | undefined
}

export interface Seen {
  readonly method: string
  readonly path: string
  readonly query: URLSearchParams
  readonly body: unknown
  readonly authorization: string | undefined
  /** The TestClock time of the request, ms. */
  readonly at: number
}

export const base = "http://vers.test/api/v1"
export const owner = "7e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"
export const uuid = (n: number, prefix = "00000000") => `${prefix}-0000-4000-8000-${String(n).padStart(12, "0")}`

const json = (status: number, body?: unknown): Answer => (body === undefined ? { status } : { status, body })

export const makeFakeVers = (options: { readonly connectionError?: string; readonly bootPolls?: number } = {}) => {
  const vms = new Map<string, WireVm>()
  const seen: Array<Seen> = []
  const faults: Array<Fault> = []
  let next = 1
  /** Status answers per VM before it reports `running` (boot), keyed by id. */
  const bootAfter = new Map<string, number>()

  const newVm = (labels: Record<string, string> | null | undefined, parent?: string): WireVm => {
    const vm: WireVm = { vm_id: uuid(next++), owner_id: owner, state: "running", created_at: new Date(Date.UTC(2026, 11, 7, 0, 0, next)).toISOString(), labels: labels ?? null }
    if (parent !== undefined) vm.parent_commit_id = parent
    vms.set(vm.vm_id, vm)
    return vm
  }

  const route = (s: Seen): Answer => {
    const body = (s.body ?? {}) as Record<string, any>
    const m = /^\/vm\/([^/]+)(?:\/(.*))?$/.exec(s.path)
    if (s.method === "GET" && s.path === "/vms") return json(200, [...vms.values()].map(({ parent_commit_id: _p, ...vm }) => vm))
    if (s.method === "POST" && s.path === "/vm/new_root") {
      const vm = newVm(body.vm_config?.labels)
      if (options.bootPolls !== undefined) {
        vm.state = "booting"
        bootAfter.set(vm.vm_id, options.bootPolls)
      }
      return json(201, { vm_id: vm.vm_id })
    }
    if (s.method === "POST" && s.path === "/vm/from_commit") return json(201, { vm_id: newVm(null, body.commit_id).vm_id })
    if (m === null) return json(404, { error: "no route", success: false })
    const [, id, sub] = m
    const vm = vms.get(decodeURIComponent(id!))
    if (vm === undefined) return json(404, { error: "VM not found", success: false })
    const { parent_commit_id, ...plain } = vm
    switch (`${s.method} ${sub ?? ""}`) {
      case "GET status": {
        const left = bootAfter.get(vm.vm_id)
        if (left !== undefined) {
          if (left <= 0) {
            vm.state = "running"
            bootAfter.delete(vm.vm_id)
          } else bootAfter.set(vm.vm_id, left - 1)
        }
        return json(200, { ...plain, state: vm.state })
      }
      case "GET metadata":
        return json(200, { ...plain, ip: "10.0.0.2", parent_commit_id: parent_commit_id ?? null })
      case "DELETE ":
        vms.delete(vm.vm_id)
        return json(200, { vm_id: vm.vm_id })
      case "POST branch": {
        const count = Number(s.query.get("count") ?? "1")
        return json(201, { vms: Array.from({ length: count }, () => ({ vm_id: newVm(null).vm_id })) })
      }
      case "POST commit":
        return json(201, { commit_id: uuid(next++, "cccccccc") })
      case "PATCH state":
        vm.state = body.state === "Paused" ? "paused" : "running"
        return json(200)
      case "PATCH disk":
        return json(200)
      case "PATCH label":
        vm.labels = body.labels ?? null
        return json(200)
      case "GET ssh_key":
        return json(200, { ssh_port: 443, ssh_private_key: "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n" })
      default:
        return json(404, { error: "no route", success: false })
    }
  }

  const takeFault = (s: Seen, when: "before" | "after"): Fault | undefined => {
    const i = faults.findIndex((f) => (f.when ?? "before") === when && (f.method === undefined || f.method === s.method) && (f.path === undefined || f.path.test(s.path)))
    if (i < 0) return undefined
    const f = faults[i]!
    f.times = (f.times ?? 1) - 1
    if (f.times <= 0) faults.splice(i, 1)
    return f
  }

  const respond = (request: Parameters<Parameters<typeof HttpClient.make>[0]>[0], a: Answer) => {
    const text = a.raw ?? (a.body === undefined ? null : JSON.stringify(a.body))
    return HttpClientResponse.fromWeb(request, new Response(a.status === 204 ? null : text, { status: a.status, headers: { "content-type": "application/json", ...a.headers } }))
  }

  const client = HttpClient.make((request, url) =>
    Effect.gen(function* () {
      const body = request.body._tag === "Uint8Array" ? JSON.parse(new TextDecoder().decode(request.body.body)) as unknown : undefined
      const s: Seen = {
        method: request.method,
        path: url.pathname.replace(/^\/api\/v1/, ""),
        query: url.searchParams,
        body,
        authorization: request.headers["authorization"],
        at: yield* Clock.currentTimeMillis
      }
      seen.push(s)
      const fault = (when: "before" | "after") => {
        const f = takeFault(s, when)
        if (f === undefined) return undefined
        f.also?.()
        if (f.answer === "hang") return Effect.never
        if (f.answer === "connection") return Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause: new Error(options.connectionError ?? "connect ECONNREFUSED 127.0.0.1:9") }))
        return Effect.succeed(respond(request, f.answer))
      }
      const before = fault("before")
      if (before !== undefined) return yield* before
      const answer = respond(request, route(s))
      const after = fault("after")
      if (after !== undefined) return yield* after
      return answer
    })
  )

  return {
    vms,
    seen,
    faults,
    bootAfter,
    newVm,
    /** Adds a fault; returns the fake for chaining. */
    fault: (f: Fault) => {
      faults.push(f)
    },
    calls: (method: string, path: RegExp) => seen.filter((s) => s.method === method && path.test(s.path)),
    layer: Layer.succeed(HttpClient.HttpClient, client)
  }
}

/**
 * One turn of the real event loop: microtasks, immediates, and a zero timer (Effect's scheduler
 * falls back to a timer now and then, so a fiber woken by a promise may resume only after one).
 */
const turn = Effect.promise(() => new Promise<void>((resolve) => setImmediate(() => setTimeout(resolve, 0))))

/**
 * Runs `effect` to its end under TestClock: when the fiber is still not done after a turn of the
 * real event loop (response bodies are read through promises), the clock jumps to the earliest
 * pending wake-up. Bounded, so a stuck fiber fails the test instead of hanging.
 */
export const settle = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(effect)
    for (let i = 0; i < 5_000; i++) {
      yield* turn
      const done = yield* fiber.poll
      if (Option.isSome(done)) return yield* done.value
      // TestClock may still list wake-ups of finished sleeps (at or before now): skip them.
      const now = yield* Clock.currentTimeMillis
      const ahead = Chunk.toArray(yield* TestClock.sleeps()).filter((t) => t > now)
      // Jittered delays are fractional ms: step at least 1 ms so rounding never leaves a wake-up just ahead.
      if (ahead.length > 0) yield* TestClock.adjust(Math.max(1, Math.ceil(Math.min(...ahead) - now)))
    }
    yield* Fiber.interrupt(fiber)
    return yield* Effect.dieMessage("settle: the effect did not finish within 5,000 clock steps")
  })
