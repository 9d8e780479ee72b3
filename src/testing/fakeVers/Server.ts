/**
 * The fake fleet's HTTP server: `node:http` on loopback, one fiber per request in a scoped
 * `FiberSet`, Bearer auth, fault injection and the ledger around `Routes.handle`.
 *
 * Why `node:http` and not @effect/platform's HttpServer: the faults need the raw socket —
 * answer bytes that are not JSON, hold a request open with no answer at all, and drop every
 * open connection when the fake closes — which HttpServer's response model hides.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, Fiber, Schema } from "effect"
import { type Fault, faultName, type Faults } from "./Faults.js"
import type { Ledger, LedgerRequest } from "./Ledger.js"
import type { Model } from "./Model.js"
import { errorBody, handle, match, type Reply, type Settings } from "./Routes.js"

/** The fake could not listen (port taken, host not local). */
export class FakeVersError extends Schema.TaggedError<FakeVersError>("troupe/FakeVersError")("FakeVersError", {
  message: Schema.String
}) {}

/** The accepted API keys, each with a stable id (`key-1`, `key-2`, …) the ledger names instead of the key. */
export class Keys {
  private readonly ids = new Map<string, string>()
  private counter = 0
  private latest: string

  constructor(first: string, extra: ReadonlyArray<string>) {
    this.latest = first
    for (const k of [first, ...extra]) this.add(k)
    this.latest = first
  }

  /** The key most recently set (the first, or the last `rotate`/`add`). */
  get current(): string {
    return this.latest
  }

  add(key: string): void {
    if (key === "") throw new RangeError("an API key cannot be empty")
    if (!this.ids.has(key)) this.ids.set(key, `key-${++this.counter}`)
    this.latest = key
  }

  /** Only `key` works from now on. */
  rotate(key: string): void {
    const old = [...this.ids.keys()]
    this.add(key)
    for (const k of old) if (k !== key) this.ids.delete(k)
  }

  /** The id of the key in an `Authorization: Bearer <key>` header, if it is accepted. */
  check(header: string | undefined): string | undefined {
    const m = header === undefined ? null : /^Bearer (.+)$/i.exec(header.trim())
    return m === null ? undefined : this.ids.get(m[1]!)
  }
}

export interface ServerParts {
  readonly model: Model
  readonly settings: Settings
  readonly faults: Faults
  readonly ledger: Ledger
  readonly keys: Keys
}

const prefix = "/api/v1"

/** Forks an effect into the fake's scoped `FiberSet` (`FiberSet.makeRuntime`). */
export type Run = (effect: Effect.Effect<void>) => Fiber.RuntimeFiber<void>

const readBody = (req: IncomingMessage) =>
  Effect.async<string>((resume) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    // A dropped connection ends the request too: nothing will read the answer anyway.
    req.on("end", () => resume(Effect.succeed(Buffer.concat(chunks).toString("utf8"))))
    req.on("error", () => resume(Effect.succeed(Buffer.concat(chunks).toString("utf8"))))
  })

const headersOf = (req: IncomingMessage): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(", ") : v
  return out
}

const send = (res: ServerResponse, entry: LedgerRequest | undefined, status: number, text: string | undefined, headers: Record<string, string> = {}) =>
  Effect.sync(() => {
    if (entry !== undefined) entry.status = status
    if (res.destroyed || res.headersSent) return
    res.writeHead(status, { ...(text === undefined ? {} : { "content-type": "application/json" }), ...headers })
    res.end(text)
  })

const sendReply = (res: ServerResponse, entry: LedgerRequest | undefined, reply: Reply) =>
  send(res, entry, reply.status, reply.body === undefined ? undefined : JSON.stringify(reply.body))

/** Answers with a fault (a `slow` fault has already waited and answers normally elsewhere). */
const sendFault = (res: ServerResponse, entry: LedgerRequest, fault: Fault, successStatus: number): Effect.Effect<void> => {
  switch (fault.kind) {
    case "status":
      return sendReply(res, entry, { status: fault.status, body: errorBody(fault.message ?? `Injected failure (HTTP ${fault.status})`) })
    case "rateLimit":
      return send(res, entry, 429, JSON.stringify(errorBody("Too many requests")), {
        ...(fault.retryAfterMs === undefined ? {} : { "retry-after-ms": String(fault.retryAfterMs) }),
        ...(fault.retryAfterSeconds === undefined ? {} : { "retry-after": String(fault.retryAfterSeconds) })
      })
    case "malformed":
      return send(res, entry, successStatus, `{"vm_id": "${"0".repeat(8)}`)
    case "hang":
      return Effect.never
    case "slow":
      return Effect.void
  }
}

/** One request, from bytes in to bytes out. */
const respond = (parts: ServerParts, req: IncomingMessage, res: ServerResponse) =>
  Effect.gen(function* () {
    const body = yield* readBody(req)
    const url = new URL(req.url ?? "/", "http://fake.invalid")
    const method = req.method ?? "GET"
    const relative = url.pathname === prefix || url.pathname.startsWith(`${prefix}/`) ? url.pathname.slice(prefix.length) : undefined
    const route = relative === undefined ? ({ _tag: "NotFound" } as const) : match(method, relative)
    const entry = parts.ledger.request({
      operation: route._tag === "Found" ? route.operation : "unknown",
      method,
      path: url.pathname + url.search,
      headers: headersOf(req),
      body
    })
    if (route._tag === "NotFound") return yield* sendReply(res, entry, { status: 404, body: errorBody(`No route for ${method} ${url.pathname}`) })
    if (route._tag === "MethodNotAllowed") return yield* sendReply(res, entry, { status: 405, body: errorBody(`Method ${method} is not allowed on ${url.pathname}`) })
    const keyId = parts.keys.check(req.headers.authorization)
    if (keyId === undefined) return yield* sendReply(res, entry, { status: 401, body: errorBody("Unauthorized: a valid API key is required (Authorization: Bearer <key>)") })

    const rule = yield* parts.faults.pick(route.operation)
    if (rule !== undefined) entry.fault = faultName(rule.fault)
    const delay = rule?.fault.kind === "slow" ? rule.fault.delayMs : 0
    if (rule !== undefined && rule.afterEffect !== true) {
      if (rule.fault.kind === "slow") yield* Effect.sleep(delay)
      else return yield* sendFault(res, entry, rule.fault, route.status)
    }
    const reply = yield* handle(parts.model, parts.settings, { operation: route.operation, id: route.id, uuidId: route.uuidId, query: url.searchParams, body, contentType: req.headers["content-type"], keyId }).pipe(
      // A hook that threw: the API answers 500, as the orchestrator does for an internal failure.
      Effect.catchAllDefect((d) => Effect.succeed<Reply>({ status: 500, body: errorBody(`Internal server error: ${d instanceof Error ? d.message : String(d)}`) }))
    )
    if (rule !== undefined && rule.afterEffect === true) {
      if (rule.fault.kind === "slow") yield* Effect.sleep(delay)
      else return yield* sendFault(res, entry, rule.fault, route.status)
    }
    yield* sendReply(res, entry, reply)
  })

const listen = (server: Server, host: string, port: number) =>
  Effect.async<number, FakeVersError>((resume) => {
    const onError = (e: NodeJS.ErrnoException) => resume(Effect.fail(new FakeVersError({ message: `The fake Vers fleet cannot listen on ${host}:${port}: ${e.code ?? e.message}` })))
    server.once("error", onError)
    server.listen(port, host, () => {
      server.off("error", onError)
      resume(Effect.succeed((server.address() as AddressInfo).port))
    })
  })

const close = (server: Server) =>
  Effect.async<void>((resume) => {
    server.close(() => resume(Effect.void))
    // Hanging requests and idle keep-alive connections would hold `close` open forever.
    server.closeAllConnections()
  })

/**
 * Serves the fleet on `host:port` (0 = any free port) until the scope closes; then every open
 * connection drops and every request fiber (a `hang`, a slow answer, a boot wait) is interrupted.
 * `run` forks into the fake's `FiberSet` (made before the model, so it closes last).
 * @returns the port it listens on.
 * @fails FakeVersError when it cannot listen.
 */
export const serve = (parts: ServerParts, run: Run, host: string, port: number) =>
  Effect.gen(function* () {
    const server = createServer((req, res) => {
      const fiber = run(
        respond(parts, req, res).pipe(
          // A bug in the fake must still answer (and say so), not leave the client waiting.
          Effect.catchAllDefect((d) => send(res, undefined, 500, JSON.stringify(errorBody(`FakeVers internal error: ${d instanceof Error ? d.message : String(d)}`))))
        )
      )
      // A client that gave up: drop its request as hyper drops the handler (a hang ends here).
      res.on("close", () => {
        if (!res.writableFinished) Effect.runFork(Fiber.interrupt(fiber))
      })
    })
    return yield* Effect.acquireRelease(listen(server, host, port), () => Effect.andThen(close(server), parts.model.close))
  })
