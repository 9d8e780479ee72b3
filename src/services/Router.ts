/**
 * The message router (SPEC-messaging §3): one typed envelope to one address, with the sender
 * verified from the caller (an actor's run token decides, not the `from` it wrote), ownership
 * and same-run provenance checked, the message persisted where the target keeps it, and the
 * delivery outcome reported on every result (`delivered`, `persisted`, `queued`, `consumer`,
 * `reason`).
 *
 * | `to` | consumer |
 * |---|---|
 * | `run:<id>` | `run-control` for `control.kill` (and `control.stop`/`control.cancel` unless the mailbox accepts them), else `run-inbox` |
 * | `branch:<run>/<b>` | `branch-inbox` (both ends touched on the roster of `room:<run>`) |
 * | `room:<run>` | `room-timeline` (+ a copy in each `metadata.recipients` inbox) |
 * | `tool:<name>` | `tool` (spawns the user-root recipe with the body as values) |
 * | `coordinator`, `session:<id>` | `session-events` (a follow-up event on the owner's stream) |
 *
 * Inbox delivery: a stored inbox message goes to the delivery adapter its run's kind
 * registered (`delivery/`: `fifo`, `stdin-jsonl`, `pull`; `pi-rpc` comes with agent runs), looked
 * up per run; adapters retry what they left queued every 250 ms while the run is active.
 * Outboxes (`outbox.jsonl`) are scanned by `Outbox.ts` and sent through here.
 *
 * Corresponds to pi-actors' `message` tool (`to`, `type`, `body`, FIFO send, graceful cancel and
 * force kill), where branch messages were "hints, not guarantees".
 */
import { FileSystem, Path } from "@effect/platform"
import { Cause, Clock, Duration, Effect, Either, Schedule, Schema, Stream } from "effect"
import { type Address, formatAddress, type MessageableAddress, parseAddress } from "../domain/Address.js"
import { derivedMessageId, Envelope, type EnvelopeError, type EnvelopeInput, parseEnvelopeInput, Sender } from "../domain/Envelope.js"
import { ActorsError, type Caller, ControlType, RunState, SpawnRequest } from "../domain/Run.js"
import { MessageResult } from "../domain/MessageResult.js"
import { snapshotDebounceMs, writeSnapshot } from "./Communication.js"
import { verifySender } from "./SenderPolicy.js"
import { type MailboxContract, redeliveryMs } from "./delivery/DeliveryAdapter.js"
import * as DeliveryAdapters from "./delivery/DeliveryAdapters.js"
import { Events } from "./Events.js"
import { Mailbox } from "./Mailbox.js"
import { MessageIds } from "./MessageIds.js"
import { MessageKeys } from "./MessageKeys.js"
import { Recipes } from "./Recipes.js"
import { Rooms } from "./Rooms.js"
import { makeOutboxScan } from "./Outbox.js"
import { type RunBrief, Supervisor } from "./Supervisor.js"

export { type DeliveryName, type MailboxContract, redeliveryMs } from "./delivery/DeliveryAdapter.js"
export { fifoLine } from "./delivery/FifoDelivery.js"

export { MessageConsumer, MessageResult } from "../domain/MessageResult.js"

/** Longest idempotency key of a send, in UTF-16 units. */
export const maxKeyLength = 256

const invalid = (message: string) => new ActorsError({ reason: "invalid", message })
const forbidden = (message: string) => new ActorsError({ reason: "forbidden", message })

/** The runtime's own view for internal reads (redelivery): every session. */
const runtimeCaller: Caller = { session: "", all: true }

export class Router extends Effect.Service<Router>()("troupe/Router", {
  scoped: Effect.gen(function* () {
    const supervisor = yield* Supervisor
    const mailbox = yield* Mailbox
    const rooms = yield* Rooms
    const events = yield* Events
    const recipes = yield* Recipes
    const path = yield* Path.Path
    const ids = yield* MessageIds
    const keys = yield* MessageKeys

    const scope = yield* Effect.scope
    const fs = yield* FileSystem.FileSystem
    /** Runs whose communication snapshot is due for a rewrite (debounced, 250 ms). */
    const snapshotDue = new Set<string>()
    const touchSnapshot = (run: string, stateDir: string, parent: string | undefined) =>
      snapshotDue.has(run)
        ? Effect.void
        : Effect.sync(() => snapshotDue.add(run)).pipe(
            Effect.zipRight(
              Effect.sleep(Duration.millis(snapshotDebounceMs)).pipe(
                Effect.zipRight(Effect.sync(() => snapshotDue.delete(run))),
                Effect.zipRight(writeSnapshot({ run, stateDir, parent })),
                Effect.provideService(Rooms, rooms),
                Effect.provideService(FileSystem.FileSystem, fs),
                Effect.provideService(Path.Path, path),
                Effect.forkIn(scope)
              )
            ),
            Effect.asVoid
          )

    /** An address, or `invalid` with the address error (an `Either`: yieldable, and cheap). */
    const parse = (text: string): Either.Either<Address, ActorsError> => Either.mapLeft(parseAddress(text), (e) => invalid(e.message))

    /** The verified sender and its provenance (see SenderPolicy: who may speak as whom). */
    const verifiedFrom = (caller: Caller, claimed: string | undefined, via: "token" | "outbox") =>
      verifySender(caller, claimed, via, (session, run) => supervisor.brief({ session, all: false }, run))

    const contractOf = (mailbox: unknown): MailboxContract => (mailbox as MailboxContract | undefined) ?? {}

    const delivery = yield* DeliveryAdapters.make({
      mailbox,
      fs,
      path,
      brief: (runId) => supervisor.brief(runtimeCaller, runId),
      writeInput: supervisor.writeStdin
    })
    // Redelivery: each adapter retries what it left queued (FIFO messages once a reader
    // appears), every `redeliveryMs` while their runs are active.
    yield* Effect.forkScoped(delivery.redeliver.pipe(Effect.repeat(Schedule.spaced(Duration.millis(redeliveryMs)))))

    const result = (envelope: Envelope, fields: Omit<ConstructorParameters<typeof MessageResult>[0], "id" | "to" | "from" | "sender" | "type">) =>
      // Built from a stamped envelope and literals: nothing to validate (one per message).
      new MessageResult({ id: envelope.id, to: envelope.to, from: envelope.from, ...(envelope.sender === undefined ? {} : { sender: envelope.sender }), type: envelope.type, ...fields }, true)

    /** Stores a message in an inbox and delivers it through the adapter its run registered. */
    const toInbox = (envelope: Envelope, address: string, run: RunBrief, consumer: "run-inbox" | "branch-inbox") =>
      Effect.gen(function* () {
        const record = yield* mailbox.enqueue({ address, runId: run.id, envelope })
        // A retry (idempotency key) of a message that was already delivered or read: stored
        // once, pushed once.
        if (record.state !== "queued") return result(envelope, { delivered: true, persisted: true, queued: false, consumer })
        const outcome = yield* delivery.deliver(envelope, { address, runId: run.id, registration: run.delivery })
        return outcome._tag === "Delivered"
          ? result(envelope, { delivered: true, persisted: true, queued: false, consumer })
          : result(envelope, { delivered: false, persisted: true, queued: true, consumer, reason: outcome.reason })
      })

    const toRun = (caller: Caller, envelope: Envelope, run: string) =>
      Effect.gen(function* () {
        const stored = yield* supervisor.brief(caller, run)
        const contract = contractOf(stored.mailbox)
        const accepts = contract.accepts
        const isControl = Schema.is(ControlType)(envelope.type)
        if (isControl && (envelope.type === "control.kill" || accepts?.includes(envelope.type) !== true)) {
          const control = yield* supervisor.control(caller, run, envelope.type as ControlType)
          return result(envelope, {
            delivered: control.applied,
            persisted: false,
            queued: false,
            consumer: "run-control",
            state: control.state,
            ...(control.applied ? {} : { reason: control.reason ?? "run_not_running" })
          })
        }
        if (accepts !== undefined && !accepts.includes(envelope.type)) {
          return yield* invalid(`run:${run} does not accept type ${envelope.type}; accepts: ${accepts.join(", ")}`)
        }
        if (stored.state !== "running" && stored.state !== "starting") {
          return result(envelope, { delivered: false, persisted: false, queued: false, consumer: "run-inbox", reason: "run_not_running", state: stored.state })
        }
        return yield* toInbox(envelope, `run:${run}`, stored, "run-inbox")
      })

    /**
     * Same-run senders (`run:<run>`, `branch:<run>/*` — an actor by its token, or the run's
     * owner speaking for it, verified by `verifiedFrom`) or the run's owner as `coordinator`.
     */
    const sameRunOrOwner = (caller: Caller, from: Address, run: string, what: string): Effect.Effect<unknown, ActorsError> => {
      if ((from._tag === "Run" || from._tag === "Branch") && from.run === run) return Effect.void
      if (from._tag === "Coordinator" && caller.run === undefined) return supervisor.brief(caller, run)
      return Effect.fail(forbidden(`${what} accepts messages from run:${run}, its branches, or its owner as coordinator, not from ${formatAddress(from)}`))
    }

    const toBranch = (caller: Caller, envelope: Envelope, from: Address, run: string, branch: string) =>
      Effect.gen(function* () {
        yield* sameRunOrOwner(caller, from, run, `branch:${run}/${branch}`)
        const stored = yield* supervisor.brief(runtimeCaller, run)
        if (stored.state !== "running" && stored.state !== "starting") {
          return result(envelope, { delivered: false, persisted: false, queued: false, consumer: "branch-inbox", reason: "run_not_running", state: stored.state })
        }
        // Both ends become (or stay) members of the run's room, so each is the other's contact
        // (SPEC-messaging §3); one roster-only write, batched with the room's posts.
        yield* rooms.touch(`room:${run}`, [envelope.from, envelope.to])
        yield* touchSnapshot(run, stored.stateDir, stored.parent)
        return yield* toInbox(envelope, `branch:${run}/${branch}`, stored, "branch-inbox")
      })

    const toRoom = (caller: Caller, input: { from?: string | undefined }, envelope: Envelope, from: Address, run: string) =>
      Effect.gen(function* () {
        if (input.from === undefined && caller.run === undefined) {
          return yield* invalid(`room posts need from: run:${run}, branch:${run}/<label> or coordinator`)
        }
        yield* sameRunOrOwner(caller, from, run, `room:${run}`)
        const stored = yield* supervisor.brief(runtimeCaller, run)
        const recipients = (envelope.metadata?.recipients ?? []) as ReadonlyArray<string>
        for (const r of recipients) {
          const a = yield* parse(r)
          if (a._tag !== "Branch" || a.run !== run) return yield* invalid(`metadata.recipients must be branches of run:${run} (got ${r})`)
        }
        yield* rooms.post({ room: `room:${run}`, envelope, ...(stored.parent === undefined ? {} : { parent: `run:${stored.parent}` }) })
        yield* touchSnapshot(run, stored.stateDir, stored.parent)
        for (const r of recipients) {
          // The copy's id derives from the post's, so a retried post (same id) finds its copies.
          const copy = yield* ids.stamp({ to: r, type: envelope.type, from: envelope.from, ...(envelope.summary === undefined ? {} : { summary: envelope.summary }), ...(envelope.body === undefined ? {} : { body: envelope.body }), correlation_id: envelope.correlation_id ?? envelope.id }, { from: from as MessageableAddress, sender: envelope.sender ?? "runtime", id: derivedMessageId(envelope.id, r) })
          yield* toInbox(copy, r, stored, "branch-inbox")
        }
        return result(envelope, { delivered: true, persisted: true, queued: false, consumer: "room-timeline" })
      })

    const toTool = (caller: Caller, envelope: Envelope, name: string) =>
      Effect.gen(function* () {
        const recipe = yield* recipes.resolve(name).pipe(Effect.mapError((e) => new ActorsError({ reason: e.reason === "not_found" ? "not_found" : "invalid", message: e.message })))
        if (recipe.source !== "user") {
          return yield* new ActorsError({ reason: "not_found", message: `tool:${name} is not a tool: ${name} is a packaged recipe (a component); register it first` })
        }
        const body = envelope.body
        const values = typeof body === "object" && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : body === undefined ? {} : { input: body }
        const run = yield* supervisor.spawn(caller, new SpawnRequest({ recipe: name, values }))
        return result(envelope, { delivered: true, persisted: true, queued: false, consumer: "tool", run: run.id, state: run.state })
      })

    const toSession = (caller: Caller, envelope: Envelope, from: Address, target: Address) =>
      Effect.gen(function* () {
        // The run speaking: the token's run, or the (owned, already verified) run a session
        // speaks for.
        const speaking = caller.run ?? (from._tag === "Run" || from._tag === "Branch" ? from.run : undefined)
        if (speaking === undefined) {
          return yield* forbidden(`${formatAddress(target)} receives messages from runs: send from inside an actor, or as a run you own (from=run:<id>)`)
        }
        const stored = yield* supervisor.brief(runtimeCaller, speaking)
        const owner = stored.owner
        if (target._tag === "Session" && target.session !== owner) {
          return yield* forbidden(`run:${speaking} belongs to session ${owner}; it cannot message session:${target.session}`)
        }
        const at = yield* Clock.currentTimeMillis
        const text = `Message from ${envelope.from} (${envelope.type})${envelope.summary === undefined ? "" : `: ${envelope.summary}`}` +
          (typeof envelope.body === "string" ? `\n${envelope.body.slice(0, 2000)}` : envelope.body === undefined ? "" : `\n${JSON.stringify(envelope.body).slice(0, 2000)}`)
        yield* events.publish({ session: owner, runId: speaking, generation: stored.generation, type: "message", at, text, data: { envelope: { ...envelope } } })
        return result(envelope, { delivered: true, persisted: true, queued: false, consumer: "session-events" })
      })

    /**
     * The envelope under idempotency key `key` of the caller (`run:<id>` or `session:<id>`
     * scope): the first send with the key keeps its fresh id, a retry gets the first one's.
     */
    const keyed = (caller: Caller, key: string, envelope: Envelope) =>
      Effect.gen(function* () {
        if (key.length === 0 || key.length > maxKeyLength) return yield* invalid(`idempotency key must be 1 to ${maxKeyLength} characters`)
        const id = yield* keys.reserve(caller.run === undefined ? `session:${caller.session}` : `run:${caller.run}`, key, envelope.id)
        return id === envelope.id ? envelope : new Envelope({ ...envelope, id }, true)
      })

    /** {@link send} with the provenance of an actor caller's messages (`token` or `outbox`). */
    // Untraced: one call per message on the latency and room-throughput paths (a span and a
    // call-site stack per message cost more than the rest of a room post's routing).
    const sendVia = Effect.fnUntraced(function* (caller: Caller, input: unknown, options: { readonly idempotencyKey?: string | undefined }, via: "token" | "outbox") {
      const checked = yield* Either.mapLeft(parseEnvelopeInput(input), (e: EnvelopeError) => invalid(e.message))
      const { from, sender } = yield* verifiedFrom(caller, checked.from, via)
      const to = yield* parse(checked.to)
      const stamped = yield* ids.stamp(checked, { from, sender })
      const envelope = options.idempotencyKey === undefined ? stamped : yield* keyed(caller, options.idempotencyKey, stamped)
      const routed = yield* route(caller, checked, envelope, from, to)
      return caller.run === undefined ? routed : yield* flagged(caller.run, routed)
    })

    /**
     * Sends one message as `caller` (an actor's run token: provenance `token`; a session:
     * `session:<id>`). With `idempotencyKey` (chosen by the client, unique per
     * message of this caller, e.g. `<client>:<seq>`), a retry of the same message with the same
     * key is stored once: it gets the first attempt's id, and rooms and inboxes keep one entry /
     * record per id (see docs/messaging.md "Retries and idempotency keys").
     * @fails ActorsError `invalid` (a bad envelope — the `EnvelopeError` text —, a type the
     *   mailbox does not accept, bad recipients, a bad key), `forbidden` (a forged `from`: a
     *   run speaking for another run, a session speaking for a run it does not own; another
     *   session's run; a room post from outside the run), `not_found` (unknown run or tool).
     */
    const send = (caller: Caller, input: unknown, options: { readonly idempotencyKey?: string | undefined } = {}) => sendVia(caller, input, options, "token")

    /** Flags a type the sending run's recipe does not list in `mailbox.emits` (kept anyway). */
    const flagged = (run: string, r: MessageResult) =>
      Effect.map(Effect.option(supervisor.brief(runtimeCaller, run)), (b) => {
        const emits = b._tag === "Some" ? contractOf(b.value.mailbox).emits : undefined
        if (emits === undefined || emits.includes(r.type) || r.type === "actor.join" || r.type === "actor.leave") return r
        return new MessageResult({ ...r, flag: "not_in_emits" }, true)
      })

    const route = (caller: Caller, checked: EnvelopeInput, envelope: Envelope, from: MessageableAddress, to: Address) =>
      Effect.gen(function* () {
        switch (to._tag) {
          case "Run":
            return yield* toRun(caller, envelope, to.run)
          case "Branch":
            return yield* toBranch(caller, envelope, from, to.run, to.branch)
          case "Room":
            return yield* toRoom(caller, checked, envelope, from, to.run)
          case "Tool":
            return yield* toTool(caller, envelope, to.name)
          case "Coordinator":
          case "Session":
            return yield* toSession(caller, envelope, from, to)
          default:
            return yield* invalid(`${formatAddress(to)} is inspect only and cannot be messaged`)
        }
      })

    /** The run an inbox or room address belongs to, checked against the caller. */
    const authorizeAddress = (caller: Caller, address: string, kinds: ReadonlyArray<"Run" | "Branch" | "Room">) =>
      Effect.gen(function* () {
        const a = yield* parse(address)
        if (!(kinds as ReadonlyArray<string>).includes(a._tag)) {
          return yield* invalid(`expected ${kinds.map((k) => (k === "Run" ? "run:<id>" : k === "Branch" ? "branch:<run>/<label>" : "room:<run>")).join(" or ")}, got ${address}`)
        }
        const run = (a as { run: string }).run
        yield* supervisor.brief(caller, run)
        return { canonical: formatAddress(a), run }
      })

    /**
     * The oldest unhandled message of an inbox (`run:<id>` or `branch:<run>/<label>`) for its
     * run (token) or owner; `claim` takes it exclusively, `waitMs` waits for one.
     * @fails ActorsError `invalid` (not an inbox address), `not_found`, `forbidden`.
     */
    const inboxNext = Effect.fn("Router.inboxNext")(function* (caller: Caller, address: string, options: { readonly claim?: boolean | undefined; readonly waitMs?: number | undefined } = {}) {
      const { canonical } = yield* authorizeAddress(caller, address, ["Run", "Branch"])
      return yield* mailbox.next(canonical, { claim: options.claim === true, ...(options.waitMs === undefined ? {} : { waitMs: options.waitMs }), consumer: "pull" })
    })

    /** An inbox's records (newest `limit`, oldest first). */
    const inboxList = Effect.fn("Router.inboxList")(function* (caller: Caller, address: string, limit?: number) {
      const { canonical } = yield* authorizeAddress(caller, address, ["Run", "Branch"])
      return yield* mailbox.list(canonical, limit === undefined ? {} : { limit })
    })

    /**
     * Marks a message `handled` (`ack`) or `failed` (`fail`, with the error). Idempotent.
     * @fails ActorsError `not_found` (unknown id), `forbidden`, `invalid` (already in the other terminal state).
     */
    const inboxSettle = Effect.fn("Router.inboxSettle")(function* (caller: Caller, address: string, id: string, outcome: { readonly error?: string | undefined }) {
      const { canonical } = yield* authorizeAddress(caller, address, ["Run", "Branch"])
      const record = yield* mailbox.get(id)
      if (record._tag === "None" || record.value.address !== canonical) return yield* new ActorsError({ reason: "not_found", message: `no message ${id} in ${canonical}` })
      return outcome.error === undefined ? yield* mailbox.ack(id) : yield* mailbox.fail(id, outcome.error)
    })

    /** A room's timeline after `afterSeq`; with `follow`, then its live posts (owner or same run). */
    const roomTail = (caller: Caller, room: string, options: { readonly afterSeq?: number | undefined; readonly follow?: boolean | undefined } = {}) =>
      Stream.unwrap(
        Effect.map(authorizeAddress(caller, room, ["Room"]), ({ canonical }) =>
          options.follow === true
            ? rooms.subscribe(canonical, options.afterSeq)
            : Stream.fromIterableEffect(rooms.timeline(canonical, { ...(options.afterSeq === undefined ? {} : { afterSeq: options.afterSeq }), limit: 10_000 }))
        )
      )

    // Outboxes: each active run's new complete `outbox.jsonl` lines are sent as that run.
    const scanOutboxes = makeOutboxScan({ fs, path, activeRuns: supervisor.activeRuns, send: (caller, input) => sendVia(caller, input, {}, "outbox") })
    yield* Effect.forkScoped(
      scanOutboxes.pipe(
        Effect.catchAllCause((cause) => Effect.logWarning(`outbox scan failed: ${Cause.pretty(cause)}`)),
        Effect.repeat(Schedule.spaced(Duration.millis(redeliveryMs)))
      )
    )

    return { send, inboxNext, inboxList, inboxSettle, roomTail } as const
  })
}) {}

