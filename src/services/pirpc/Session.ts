/**
 * The body of `PiRpc.connect`: one Pi RPC session over a byte duplex. A reader fiber splits
 * Pi's output into records (Framing.ts), resolves the Deferred of each response by its id,
 * publishes events, tracks whether a run is streaming, and answers dialogs.
 */
import { Deferred, Effect, Either, FiberSet, PubSub, Queue, Schema, type Scope, Stream, SubscriptionRef } from "effect"
import {
  type DialogAnswer,
  DialogMethod,
  dialogResponse,
  type ExtensionUiRequest,
  KnownPiEvent,
  knownEventTypes,
  type PiCommand,
  type PiEvent,
  PiResponse,
  PiRpcClosed,
  type PiRpcError,
  PiRpcProtocolError,
  PiRpcRejected,
  piRpcMessages,
  type PromptResult,
  responseData,
  type ResponseData
} from "../../domain/PiRpc.js"
import { describeParseError, errorDetail } from "../../domain/Diagnostic.js"
import { encodeLine, parseRecord, splitLines } from "./Framing.js"

/** A byte duplex to a Pi in RPC mode: its stdout as `input`, its stdin as `write` (called in order, one record per call). */
export interface PiRpcDuplex<E = unknown> {
  readonly input: Stream.Stream<Uint8Array, E>
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, unknown> | void
}

/** Options of `PiRpc.connect`. */
export interface PiRpcOptions {
  /**
   * Answers a dialog (`select`, `confirm`, `input`, `editor`). Without one every dialog is
   * answered `{cancelled: true}` at once, so a silent worker never hangs on a dialog. A handler
   * that fails or dies is answered `cancelled` too.
   */
  readonly onDialog?: ((request: ExtensionUiRequest) => Effect.Effect<DialogAnswer, unknown>) | undefined
  /**
   * How many events each subscriber may have unread (default 4,096). A subscriber that falls
   * this far behind holds back the reader, and with it Pi (pipe backpressure), until it reads.
   */
  readonly eventBuffer?: number | undefined
  /** The longest record accepted, in bytes (default 64 MiB). */
  readonly maxLineBytes?: number | undefined
  /** How long after an `agent_end` (no retry) an older Pi without `agent_settled` is asked `get_state` (ms, default 250). */
  readonly settleFallbackMs?: number | undefined
  /**
   * Command ids are `<idPrefix>-<n>` (default `troupe`). A session that may re-read an old
   * session's responses (a remote agent resumed from a byte offset) takes a fresh prefix, so
   * none of them matches its own commands.
   */
  readonly idPrefix?: string | undefined
  /** Whether a run is already in progress when the session starts (a resumed remote agent mid-task; default false). */
  readonly streaming?: boolean | undefined
}

/** Where the session's runs stand, as the event stream told it. */
export interface PiTurnState {
  /** A run is in progress (from `agent_start`, or an accepted prompt, to its settle). */
  readonly streaming: boolean
  /** How many runs have settled since the session started. */
  readonly settledRuns: number
  /** Whether the last settled run was aborted. */
  readonly lastAborted: boolean
  /** Whether this Pi sends `agent_settled` (Pi 1.x); until one arrives, the fallback applies. */
  readonly sendsSettled: boolean
}

/** How a run ended: `aborted` as Pi's `agent_settled` said; `disposition` `handled` when the prompt started no run. */
export interface PiSettled {
  readonly aborted: boolean
  readonly disposition?: "handled" | undefined
}

/** One connected Pi RPC session (see `PiRpc.connect`). */
export interface PiRpcSession {
  /**
   * Sends `command` with a fresh id and waits for Pi's response. Resolves with the response's
   * decoded `data` (see `responseData` in domain/PiRpc.ts).
   * @fails PiRpcRejected when Pi answers `success: false`; PiRpcClosed when the session ends
   * first (every pending command fails with it); PiRpcProtocolError when the data does not decode.
   */
  readonly send: <C extends PiCommand>(command: C) => Effect.Effect<ResponseData<C["type"]>, PiRpcError>
  /** Every event from the moment the stream is run; it ends when the session ends. */
  readonly events: Stream.Stream<PiEvent>
  /** Subscribes now (nothing after this call is missed) and returns the events as a stream, valid for the scope. */
  readonly subscribe: Effect.Effect<Stream.Stream<PiEvent>, never, Scope.Scope>
  /**
   * `prompt` with `streamingBehavior: "followUp"` (Pi ignores it when idle and queues the
   * message while streaming, instead of rejecting it). Marks the session streaming when Pi
   * started or queued it.
   */
  readonly prompt: (message: string) => Effect.Effect<PromptResult, PiRpcError>
  /** `steer`. */
  readonly steer: (message: string) => Effect.Effect<PromptResult, PiRpcError>
  /** `follow_up`. */
  readonly followUp: (message: string) => Effect.Effect<PromptResult, PiRpcError>
  /** `abort` (Pi answers once idle). */
  readonly abort: Effect.Effect<void, PiRpcError>
  /**
   * Waits until no run is in progress: at once when idle, else until the current run settles
   * (`agent_settled`; for an older Pi: `agent_end` without `willRetry` and then
   * `get_state.isStreaming === false`).
   * @fails PiRpcClosed (or the PiRpcProtocolError that ended it) when the session ends first.
   */
  readonly awaitSettled: Effect.Effect<PiSettled, PiRpcClosed | PiRpcProtocolError>
  /** {@link prompt}, then waits for the run that carries it to settle (at once for a `handled` prompt). */
  readonly promptAndWait: (message: string) => Effect.Effect<PiSettled, PiRpcError>
  /** The current {@link PiTurnState}. */
  readonly turnState: Effect.Effect<PiTurnState>
  /** Waits for the session to end and returns why (never fails). */
  readonly closed: Effect.Effect<PiRpcClosed | PiRpcProtocolError>
}

/** How long closing the scope waits to tell subscribers the stream ended. */
const endPublishTimeout = "1 second"

const End: unique symbol = Symbol("troupe/PiRpc/End")
type Item = PiEvent | typeof End

interface Pending {
  readonly command: PiCommand["type"]
  readonly deferred: Deferred.Deferred<unknown, PiRpcError>
}

const decodeEvent = Schema.decodeUnknownEither(KnownPiEvent)
const decodeResponse = Schema.decodeUnknownEither(PiResponse)
const isDialog = Schema.is(DialogMethod)
const cancelled: DialogAnswer = { cancelled: true }

/** The text of a failure that ended the input (a `PiRpcClosed` as is). */
const closedBy = (error: unknown): PiRpcClosed | PiRpcProtocolError => {
  if (error instanceof PiRpcClosed || error instanceof PiRpcProtocolError) return error
  return new PiRpcClosed({ message: `Pi's output failed: ${errorDetail(error)}` })
}

/** Connects to Pi over `duplex` (see `PiRpc.connect`). */
export const connect = <E>(duplex: PiRpcDuplex<E>, options: PiRpcOptions = {}) =>
  Effect.gen(function* () {
    const pending = new Map<string, Pending>()
    let nextId = 0
    let closedError: PiRpcClosed | PiRpcProtocolError | undefined
    const closed = yield* Deferred.make<PiRpcClosed | PiRpcProtocolError>()
    const events = yield* Effect.acquireRelease(PubSub.bounded<Item>(options.eventBuffer ?? 4096), PubSub.shutdown)
    const state = yield* SubscriptionRef.make<PiTurnState>({ streaming: options.streaming ?? false, settledRuns: 0, lastAborted: false, sendsSettled: false })
    const writeLock = yield* Effect.makeSemaphore(1)
    const fibers = yield* FiberSet.make()
    const settleFallback = `${options.settleFallbackMs ?? 250} millis` as const

    const write = (record: unknown) =>
      writeLock.withPermits(1)(
        Effect.suspend(() => {
          const result = duplex.write(encodeLine(record))
          return Effect.isEffect(result) ? result : Effect.void
        })
      ).pipe(
        Effect.catchAllCause(() => Effect.fail(closedError ?? new PiRpcClosed({ message: "cannot write to Pi: its input is closed" })))
      )

    const send = <C extends PiCommand>(command: C): Effect.Effect<ResponseData<C["type"]>, PiRpcError> => {
      const id = `${options.idPrefix ?? "troupe"}-${++nextId}`
      return Effect.gen(function* () {
        const deferred = yield* Deferred.make<unknown, PiRpcError>()
        // Registering and checking for the end in one step: the reader fails every registered command when it ends.
        const refused = yield* Effect.sync(() => {
          if (closedError !== undefined) return closedError
          pending.set(id, { command: command.type, deferred })
          return undefined
        })
        if (refused !== undefined) return yield* Effect.fail(refused)
        yield* write({ ...command, id })
        return (yield* Deferred.await(deferred)) as ResponseData<C["type"]>
      }).pipe(Effect.ensuring(Effect.sync(() => pending.delete(id))))
    }

    const failWith = (error: PiRpcProtocolError | PiRpcClosed) => Effect.fail(error)

    const onResponse = (record: Record<string, unknown>) => {
      const decoded = decodeResponse(record)
      const id = typeof record.id === "string" ? record.id : undefined
      const entry = id === undefined ? undefined : pending.get(id)
      if (entry === undefined) {
        return Effect.logDebug(`PiRpc: response without a pending command (${String(record.command)}, id ${id ?? "none"})`)
      }
      pending.delete(id!)
      if (Either.isLeft(decoded)) {
        const line = JSON.stringify(record)
        return Deferred.fail(entry.deferred, new PiRpcProtocolError({ line: line.slice(0, 200), message: piRpcMessages.badResponse(entry.command, "not a response record") }))
      }
      const response = decoded.right
      if (!response.success) {
        const error = response.error ?? "no reason given"
        return Deferred.fail(entry.deferred, new PiRpcRejected({ command: entry.command, error, message: piRpcMessages.rejected(entry.command, error) }))
      }
      const data = Schema.decodeUnknownEither(responseData[entry.command] as Schema.Schema<unknown>)(response.data ?? {})
      return Either.isRight(data)
        ? Deferred.succeed(entry.deferred, data.right)
        : Deferred.fail(
          entry.deferred,
          new PiRpcProtocolError({
            line: JSON.stringify(response.data ?? null).slice(0, 200),
            message: piRpcMessages.badResponse(entry.command, describeParseError(data.left, response.data ?? {}))
          })
        )
    }

    // Older Pi has no `agent_settled`: after an `agent_end` without retry, ask whether it still streams.
    const fallbackSettle = (settledBefore: number) =>
      Effect.gen(function* () {
        yield* Effect.sleep(settleFallback)
        const now = yield* SubscriptionRef.get(state)
        if (now.sendsSettled || !now.streaming || now.settledRuns !== settledBefore) return
        const piState = yield* send({ type: "get_state" })
        if (piState.isStreaming) return
        yield* SubscriptionRef.update(state, (s) =>
          s.sendsSettled || !s.streaming || s.settledRuns !== settledBefore ? s : { ...s, streaming: false, settledRuns: s.settledRuns + 1, lastAborted: false })
      }).pipe(Effect.ignore)

    const answerDialog = (request: ExtensionUiRequest) => {
      const answer = options.onDialog === undefined
        ? Effect.succeed(cancelled)
        : options.onDialog(request).pipe(Effect.catchAllCause(() => Effect.succeed(cancelled)))
      return answer.pipe(Effect.flatMap((a) => write(dialogResponse(request.id, a))), Effect.ignore)
    }

    const onEvent = (record: Record<string, unknown>) =>
      Effect.gen(function* () {
        const type = record.type as string
        let event: PiEvent = { type: "unknown", name: type, raw: record }
        if (knownEventTypes.has(type)) {
          const decoded = decodeEvent(record)
          if (Either.isRight(decoded)) event = decoded.right
        }
        switch (event.type) {
          case "agent_start":
            yield* SubscriptionRef.update(state, (s) => ({ ...s, streaming: true }))
            break
          case "agent_settled": {
            const aborted = event.aborted ?? false
            yield* SubscriptionRef.update(state, (s) =>
              s.streaming ? { streaming: false, settledRuns: s.settledRuns + 1, lastAborted: aborted, sendsSettled: true } : { ...s, sendsSettled: true })
            break
          }
          case "agent_end": {
            const s = yield* SubscriptionRef.get(state)
            if (event.willRetry !== true && !s.sendsSettled) yield* FiberSet.run(fibers, fallbackSettle(s.settledRuns))
            break
          }
          case "extension_ui_request":
            if (isDialog(event.method)) yield* FiberSet.run(fibers, answerDialog(event))
            break
        }
        yield* PubSub.publish(events, event)
      })

    const end = (reason: PiRpcClosed | PiRpcProtocolError) =>
      Effect.gen(function* () {
        const toFail = yield* Effect.sync(() => {
          closedError ??= reason
          const all = [...pending.values()]
          pending.clear()
          return all
        })
        yield* Effect.forEach(toFail, (p) => Deferred.fail(p.deferred, closedError!), { discard: true })
        yield* Deferred.succeed(closed, closedError!)
        yield* PubSub.publish(events, End)
      })

    const reader = splitLines(duplex.input, options.maxLineBytes).pipe(
      Stream.mapEffect(parseRecord),
      Stream.runForEach((record) => (record.type === "response" ? onResponse(record) : onEvent(record))),
      Effect.matchEffect({
        onFailure: (error) => end(closedBy(error)),
        onSuccess: () => end(new PiRpcClosed({ message: "Pi's output ended" }))
      })
    )
    yield* Effect.forkScoped(reader)
    // The scope closing ends the session too: pending commands fail rather than hang.
    // Interruptible: finalizers are not, and the timeout must be able to cut a publish that a full subscriber holds back.
    yield* Effect.addFinalizer(() =>
      Effect.interruptible(end(new PiRpcClosed({ message: "the Pi session was closed" }))).pipe(Effect.timeout(endPublishTimeout), Effect.ignore)
    )

    const subscribe = Effect.gen(function* () {
      const queue = yield* PubSub.subscribe(events)
      if (closedError !== undefined && (yield* Queue.isEmpty(queue))) return Stream.empty
      return Stream.fromQueue(queue).pipe(Stream.takeWhile((e): e is PiEvent => e !== End))
    })

    const waitClosed = Deferred.await(closed)
    const untilClosed = <A, E2>(effect: Effect.Effect<A, E2>) => Effect.raceFirst(effect, Effect.flatMap(waitClosed, failWith))

    const settledAfter = (runs: number) =>
      untilClosed(
        state.changes.pipe(
          Stream.filter((s) => s.settledRuns > runs),
          Stream.runHead,
          Effect.flatMap((s) => (s._tag === "Some" ? Effect.succeed<PiSettled>({ aborted: s.value.lastAborted }) : Effect.flatMap(waitClosed, failWith)))
        )
      )

    const prompt = (message: string) =>
      Effect.gen(function* () {
        const before = yield* SubscriptionRef.get(state)
        const result = yield* send({ type: "prompt", message, streamingBehavior: "followUp" })
        if (result.disposition !== "handled") {
          // Unless the run already settled while the response was on its way.
          yield* SubscriptionRef.update(state, (s) => (s.settledRuns === before.settledRuns ? { ...s, streaming: true } : s))
        }
        return result
      })

    const session: PiRpcSession = {
      send,
      events: Stream.unwrapScoped(subscribe),
      subscribe,
      prompt,
      steer: (message) => send({ type: "steer", message }),
      followUp: (message) => send({ type: "follow_up", message }),
      abort: Effect.asVoid(send({ type: "abort" })),
      awaitSettled: Effect.gen(function* () {
        if (closedError !== undefined) return yield* Effect.fail(closedError)
        const s = yield* SubscriptionRef.get(state)
        return s.streaming ? yield* settledAfter(s.settledRuns) : { aborted: s.lastAborted }
      }),
      promptAndWait: (message) =>
        Effect.gen(function* () {
          const before = yield* SubscriptionRef.get(state)
          const result = yield* prompt(message)
          if (result.disposition === "handled") return { aborted: false, disposition: "handled" as const }
          return yield* settledAfter(before.settledRuns)
        }),
      turnState: SubscriptionRef.get(state),
      closed: waitClosed
    }
    return session
  })
