/**
 * One Vers API call: authorise (`Bearer <key>`, the key looked up per call), send, time out,
 * map the status to a `VersError`, decode the body with a Schema; and the retry policy of
 * idempotent calls. Everything VersApi's operations share lives here.
 *
 * The key is used only in the `Authorization` header (which `@effect/platform` redacts from
 * spans); any server text quoted in a message has the key scrubbed out, in case a server
 * echoes it.
 */
import { type HttpClient, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import { Clock, Duration, Effect, Option, type ParseResult, Redacted, Schedule, Schema } from "effect"
import { describeParseError, jsonProblem } from "../../domain/Diagnostic.js"
import { ErrorBody } from "../../domain/Vers.js"
import {
  VersAuthError,
  VersDecodeError,
  type VersError,
  VersMessages,
  VersRateLimited,
  VersTimeout,
  VersUnavailable,
  VmConflict,
  VmNotFound
} from "../../domain/VersErrors.js"
import { VersCallerSettings, type VersConfigShape } from "../VersConfig.js"

/** The first retry of an idempotent call waits about this long (jittered), then doubles. */
export const retryBase = Duration.millis(250)
/** Attempts in all for an idempotent call (the first plus two retries). */
export const retryAttempts = 3
/** A 429 asking to wait longer than this (ms) is not waited for: the call fails `VersRateLimited`. */
export const maxRetryAfterMs = 60_000
/** The wait assumed when a 429 carries neither `retry-after-ms` nor `retry-after`, ms. */
export const defaultRetryAfterMs = 1_000

/** A failure worth retrying: the server may answer differently next time. */
export const isTransient = (e: VersError): boolean =>
  e._tag === "VersUnavailable" || e._tag === "VersTimeout" || (e._tag === "VersRateLimited" && e.retryAfterMs <= maxRetryAfterMs)

/**
 * Marks the `VersDecodeError` of an answer that was not JSON at all (see {@link isCutOff}): a
 * hidden symbol property, so the error's schema shape stays as it is (and it survives the proxy
 * Effect wraps a failure in to attach its span).
 */
const cutOffMark: unique symbol = Symbol.for("troupe/VersApi/cutOff")

/**
 * Whether a failure is a 2xx answer that is not JSON at all (cut off, garbled by a proxy): the
 * same request may well get a whole answer next time, unlike a well-formed answer of the wrong
 * shape, which would not change.
 */
export const isCutOff = (e: VersError): boolean => e._tag === "VersDecodeError" && (e as { readonly [cutOffMark]?: true })[cutOffMark] === true

/**
 * The retry policy of idempotent calls (GET, DELETE, PATCH): jittered exponential backoff from
 * {@link retryBase}, {@link retryAttempts} attempts in all, only while the failure is
 * {@link isTransient} or {@link isCutOff}; a 429 waits at least its `retryAfterMs`.
 */
export const idempotentRetry: Schedule.Schedule<unknown, VersError> = Schedule.exponential(retryBase, 2).pipe(
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(retryAttempts - 1)),
  Schedule.intersect(Schedule.identity<VersError>()),
  Schedule.whileInput((e: VersError) => isTransient(e) || isCutOff(e)),
  Schedule.modifyDelay(([, e], delay) =>
    e._tag === "VersRateLimited" ? Duration.max(delay, Duration.millis(e.retryAfterMs)) : delay
  )
)

/** The server's wait from `retry-after-ms` (ms) or `retry-after` (seconds or an HTTP date), ms. */
export const retryAfterMs = (headers: Readonly<Record<string, string | undefined>>, nowMs: number): number => {
  const ms = Number(headers["retry-after-ms"])
  if (headers["retry-after-ms"] !== undefined && Number.isFinite(ms) && ms >= 0) return Math.ceil(ms)
  const after = headers["retry-after"]
  if (after !== undefined) {
    const seconds = Number(after)
    if (after.trim() !== "" && Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000)
    const at = Date.parse(after)
    if (Number.isFinite(at)) return Math.max(0, at - nowMs)
  }
  return defaultRetryAfterMs
}

/** What a call is, for messages and spans. */
export interface CallInfo {
  /** The VersApi operation (`status`, `createRoot`, …). */
  readonly operation: string
  /** The VM it is about, if any. */
  readonly vmId?: string | undefined
}

const scrub = (text: string, key: string): string => (key.length >= 4 ? text.split(key).join("<redacted>") : text)

const shorten = (text: string): string => {
  const line = text.replace(/\s+/g, " ").trim()
  return line.length > 160 ? `${line.slice(0, 157)}...` : line
}

/** The server's `error` text of an error body, if it has one (never the raw body). */
const serverReason = (body: string, key: string): string | undefined => {
  let json: unknown
  try {
    json = JSON.parse(body)
  } catch {
    return undefined
  }
  const reason = Option.flatMap(Schema.decodeUnknownOption(ErrorBody)(json), (b) => Option.fromNullable(b.error))
  return Option.isSome(reason) && reason.value.trim() !== "" ? shorten(scrub(reason.value, key)) : undefined
}

/** The `VersError` of a non-2xx answer. */
export const statusError = (info: CallInfo, status: number, body: string, headers: Readonly<Record<string, string | undefined>>, key: string, nowMs: number): VersError => {
  const { operation, vmId } = info
  const ids = vmId === undefined ? { operation } : { operation, vmId }
  if (status === 401 || status === 403) return new VersAuthError({ ...ids, status, message: VersMessages.auth(operation, status, vmId) })
  if (status === 404) return new VmNotFound({ ...ids, message: VersMessages.notFound(operation, vmId) })
  if (status === 429) {
    const wait = retryAfterMs(headers, nowMs)
    return new VersRateLimited({ ...ids, retryAfterMs: wait, message: VersMessages.rateLimited(operation, wait, vmId) })
  }
  if (status >= 500) {
    const reason = serverReason(body, key)
    return new VersUnavailable({ ...ids, status, message: VersMessages.unavailable(operation, `HTTP ${status}${reason === undefined ? "" : ` (${reason})`}`, vmId) })
  }
  if (status >= 400) return new VmConflict({ ...ids, status, message: VersMessages.conflict(operation, status, serverReason(body, key), vmId) })
  return new VersDecodeError({ ...ids, message: VersMessages.decode(operation, `HTTP status ${status} is not an answer`, vmId) })
}

/** A request being built: method, path under the base URL, query, JSON body. */
export interface Call extends CallInfo {
  readonly method: "GET" | "POST" | "PATCH" | "DELETE"
  /** Path under the base URL, starting with `/` (ids already URL-encoded). */
  readonly path: string
  readonly query?: Readonly<Record<string, string | undefined>> | undefined
  /** The JSON body: its wire form, encoded by a Schema (a value the Schema refuses is never sent). */
  readonly body?: Effect.Effect<unknown, ParseResult.ParseError> | undefined
}

/**
 * Sends one call (no retries) and decodes its 2xx body with `schema` (without one, the body is
 * ignored: calls whose answer is empty).
 */
export const send = <A = void, I = unknown>(client: HttpClient.HttpClient, config: VersConfigShape, call: Call, schema?: Schema.Schema<A, I>): Effect.Effect<A, VersError> =>
  Effect.gen(function* () {
    const caller = yield* VersCallerSettings
    const key = caller.apiKey !== undefined ? caller.apiKey : yield* config.apiKey.pipe(
      Effect.mapError((e) => new VersAuthError({ operation: call.operation, ...(call.vmId === undefined ? {} : { vmId: call.vmId }), message: e.message.replace(/^No Vers API key is set/, `Vers ${call.operation} needs an API key, but none is set`) }))
    )
    const ids = call.vmId === undefined ? { operation: call.operation } : { operation: call.operation, vmId: call.vmId }
    let request = HttpClientRequest.make(call.method)(`${caller.baseUrl ?? config.baseUrl}${call.path}`).pipe(
      HttpClientRequest.bearerToken(key),
      HttpClientRequest.acceptJson
    )
    for (const [name, value] of Object.entries(call.query ?? {})) {
      if (value !== undefined) request = HttpClientRequest.setUrlParam(request, name, value)
    }
    if (call.body !== undefined) {
      const json = yield* call.body.pipe(
        Effect.mapError((e) => new VmConflict({ ...ids, message: VersMessages.invalid(call.operation, describeParseError(e), call.vmId) }))
      )
      request = HttpClientRequest.bodyUnsafeJson(request, json)
    }
    const response: HttpClientResponse.HttpClientResponse = yield* client.execute(request).pipe(
      Effect.mapError((e) => new VersUnavailable({ ...ids, message: VersMessages.unavailable(call.operation, connectionProblem(e, Redacted.value(key)), call.vmId) }))
    )
    const text = yield* response.text.pipe(
      Effect.mapError(() => new VersUnavailable({ ...ids, status: response.status, message: VersMessages.unavailable(call.operation, "the connection broke while reading the answer", call.vmId) }))
    )
    if (response.status >= 200 && response.status < 300) {
      return schema === undefined ? (undefined as A) : yield* decodeBody(call, schema, Redacted.value(key))(text)
    }
    const now = yield* Clock.currentTimeMillis
    return yield* Effect.fail(statusError(call, response.status, text, response.headers, Redacted.value(key), now))
  }).pipe(
    Effect.scoped,
    Effect.timeoutFail({
      duration: Duration.millis(config.requestTimeoutMs),
      onTimeout: () =>
        new VersTimeout({ operation: call.operation, ...(call.vmId === undefined ? {} : { vmId: call.vmId }), timeoutMs: config.requestTimeoutMs, message: VersMessages.timeout(call.operation, config.requestTimeoutMs, call.vmId) })
    })
  )

const connectionProblem = (e: { readonly reason: string; readonly cause?: unknown }, key: string): string => {
  const cause = e.cause instanceof Error ? (e.cause.cause instanceof Error ? e.cause.cause.message : e.cause.message) : undefined
  return shorten(scrub(`connection failed${cause === undefined || cause === "" ? "" : ` (${cause})`}`, key))
}

/**
 * Decodes a 2xx body with `schema`; malformed JSON or a shape the document does not allow →
 * `VersDecodeError` (one sentence; a quoted value has `key` cut out).
 */
export const decodeBody = <A, I>(info: CallInfo, schema: Schema.Schema<A, I>, key: string) => (text: string): Effect.Effect<A, VersDecodeError> => {
  const fail = (problem: string) =>
    new VersDecodeError({ operation: info.operation, ...(info.vmId === undefined ? {} : { vmId: info.vmId }), message: VersMessages.decode(info.operation, scrub(problem, key), info.vmId) })
  const cutOff = (e: unknown) => {
    const error = fail(`not JSON (${jsonProblem(e)})`)
    Object.defineProperty(error, cutOffMark, { value: true })
    return error
  }
  return Effect.try({ try: () => JSON.parse(text) as unknown, catch: cutOff }).pipe(
    Effect.flatMap((json) => Schema.decodeUnknown(schema)(json).pipe(Effect.mapError((e) => fail(describeParseError(e, json)))))
  )
}

/** An idempotent call: {@link send} retried by {@link idempotentRetry}. */
export const sendIdempotent = <A = void, I = unknown>(client: HttpClient.HttpClient, config: VersConfigShape, call: Call, schema?: Schema.Schema<A, I>): Effect.Effect<A, VersError> =>
  Effect.retry(send(client, config, call, schema), idempotentRetry)

/** A path segment (a VM id) URL-encoded. */
export const segment = (id: string): string => encodeURIComponent(id)
