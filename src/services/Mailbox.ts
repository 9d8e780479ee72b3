/**
 * `Mailbox`: the durable inbox of every actor address (SPEC-messaging §4), in the store's
 * `inbox` table. A record is one envelope for one address and moves
 * `queued → delivered → claimed → handled | failed`; every transition is one atomic store
 * operation and idempotent. Delivery adapters (FIFO, stdin-jsonl, pi-rpc) and pull readers
 * (`troupe inbox next|ack`) drive it; this service only keeps the records.
 *
 * Corresponds to pi-actors 0.17's branch `inbox.jsonl` (records with `status` queued / claimed /
 * handled / failed, terminal ones retained up to 2,000, rewritten under a file lock); here the
 * records are rows, every address has one, and concurrent writers are batched (group commit).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Clock, Deferred, Effect, Either, Exit, Layer, Option, Schema } from "effect"
import { formatAddress, isInspectOnly, parseAddress } from "../domain/Address.js"
import { Envelope } from "../domain/Envelope.js"
import { errorDetail } from "../domain/Diagnostic.js"
import { storeFault } from "../domain/PersistenceError.js"
import { InboxRecord, type InboxState, terminalInboxStates } from "../domain/Inbox.js"
import { ActorsError } from "../domain/Run.js"
import { groupCommit } from "./internal/GroupCommit.js"
import { memoCheck } from "./internal/MemoCheck.js"

// ---------------------------------------------------------------------------------------------
// Records (the shapes live in domain/Inbox.ts: the RPC protocol carries them)

export { InboxRecord, InboxState, terminalInboxStates } from "../domain/Inbox.js"

/** Records per state of one address. */
export interface InboxCounts {
  readonly queued: number
  readonly delivered: number
  readonly claimed: number
  readonly handled: number
  readonly failed: number
}

/** Terminal (`handled` / `failed`) records kept per address (pi-actors: 2,000). */
export const terminalRetention = 2_000

/** Default number of records `list` returns (the newest ones). */
export const defaultListLimit = 40

/** Largest number of writes one group-commit transaction takes. */
const maxBatch = 500

/**
 * The canonical text of an actor address that may hold an inbox (any messageable address),
 * or `ActorsError` `invalid` with the address error.
 */
const inboxAddress = memoCheck((text) => {
  const parsed = parseAddress(text)
  if (Either.isLeft(parsed)) return Either.left(new ActorsError({ reason: "invalid", message: parsed.left.message }))
  if (isInspectOnly(parsed.right)) {
    return Either.left(new ActorsError({ reason: "invalid", message: `${formatAddress(parsed.right)} is inspect only and has no inbox` }))
  }
  return Either.right(formatAddress(parsed.right))
})

// ---------------------------------------------------------------------------------------------
// Rows

interface InboxRow {
  readonly id: string
  readonly address: string
  readonly run_id: string
  readonly state: InboxState
  readonly envelope: string
  readonly consumer: string | null
  readonly error: string | null
  readonly created_at: number
  readonly updated_at: number
}

/**
 * Rows are written only by this service from checked `Envelope`s, so they are rebuilt without
 * validating again (a 10,000-record read stays cheap); a row that is not JSON is a store fault.
 */
const toRecords = (rows: ReadonlyArray<InboxRow>): Effect.Effect<ReadonlyArray<InboxRecord>, ActorsError> =>
  Effect.try({
    try: () =>
      rows.map((r) => {
        const fields: { -readonly [K in keyof InboxRecord]: InboxRecord[K] } = {
          id: r.id,
          address: r.address,
          run_id: r.run_id,
          state: r.state,
          envelope: new Envelope(JSON.parse(r.envelope) as Envelope, true),
          created_at: r.created_at,
          updated_at: r.updated_at
        }
        if (r.consumer !== null) fields.consumer = r.consumer
        if (r.error !== null) fields.error = r.error
        return new InboxRecord(fields, true)
      }),
    catch: (e) => storeFault("Mailbox.read")({ message: `unreadable inbox record: ${errorDetail(e)}` })
  })

/** What a transition does to a record in a given state. */
type Step = { readonly _tag: "apply"; readonly state: InboxState } | { readonly _tag: "keep" } | { readonly _tag: "refuse"; readonly message: string }

const apply = (state: InboxState): Step => ({ _tag: "apply", state })
const keep: Step = { _tag: "keep" }
const refuse = (message: string): Step => ({ _tag: "refuse", message })

/** The enqueue input. `address` is canonicalized; `runId` is the run the inbox belongs to. */
export interface EnqueueInput {
  readonly address: string
  readonly runId: string
  readonly envelope: Envelope
}

/** Options of `Mailbox.next`. */
export interface NextOptions {
  /** Move the record to `claimed` (atomically: concurrent claimers never get the same record). */
  readonly claim?: boolean | undefined
  /** Wait up to this many ms (Clock) for a record when there is none. */
  readonly waitMs?: number | undefined
  /** Recorded as the record's consumer when claiming. */
  readonly consumer?: string | undefined
}

/** Options of `makeMailbox` (tests inject small limits). */
export interface MailboxOptions {
  /** Terminal records kept per address (default {@link terminalRetention}). */
  readonly terminalRetention?: number | undefined
}

// ---------------------------------------------------------------------------------------------
// Service

/**
 * Builds the mailbox service over the store's `SqlClient` (the `3_messages` migration must have
 * run: provide it with `Store.sqlite(file)`). Scoped: it owns the writer fiber.
 */
export const makeMailbox = (options: MailboxOptions = {}) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const retain = Math.max(0, Math.floor(options.terminalRetention ?? terminalRetention))

    // Readers waiting in `next` for an address; woken after an enqueue for it commits.
    const waiters = new Map<string, Set<Deferred.Deferred<void>>>()
    const wake = (addresses: Iterable<string>) =>
      Effect.sync(() => {
        for (const address of addresses) {
          const set = waiters.get(address)
          if (set === undefined) continue
          waiters.delete(address)
          for (const d of set) Deferred.unsafeDone(d, Exit.void)
        }
      })
    const register = (address: string) =>
      Effect.acquireRelease(
        Effect.map(Deferred.make<void>(), (d) => {
          const set = waiters.get(address) ?? new Set()
          set.add(d)
          waiters.set(address, set)
          return d
        }),
        (d) =>
          Effect.sync(() => {
            const set = waiters.get(address)
            set?.delete(d)
            if (set?.size === 0) waiters.delete(address)
          })
      )

    const byId = (id: string) => Effect.flatMap(sql<InboxRow>`SELECT * FROM inbox WHERE id = ${id}`, (rows) => Effect.succeed(rows[0]))

    // -- enqueue (group commit) -----------------------------------------------------------------

    const writeEnqueues = (batch: ReadonlyArray<EnqueueInput>) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        // Inside a transaction although one INSERT is atomic on its own: @effect/sql's SQLite
        // client holds its lock only while handing out the connection, so an autocommit
        // statement could land inside another fiber's open transaction and be rolled back
        // with it — an acknowledged message must never be lost that way.
        const { fresh, existing } = yield* sql.withTransaction(
          Effect.gen(function* () {
            const inserted = yield* sql<{ id: string }>`INSERT INTO inbox ${sql.insert(
              batch.map((i) => ({
                id: i.envelope.id,
                address: i.address,
                run_id: i.runId,
                state: "queued",
                envelope: JSON.stringify(i.envelope),
                consumer: null,
                error: null,
                created_at: now,
                updated_at: now
              }))
            )} ON CONFLICT (id) DO NOTHING RETURNING id`
            const fresh = new Set(inserted.map((r) => r.id))
            // Ids stored before this batch: their callers get the stored record back.
            const old = [...new Set(batch.map((i) => i.envelope.id).filter((id) => !fresh.has(id)))]
            const existing = old.length === 0 ? [] : yield* sql<InboxRow>`SELECT * FROM inbox WHERE ${sql.in("id", old)}`
            return { fresh, existing }
          })
        ).pipe(Effect.mapError(storeFault("Mailbox.enqueue")))
        const records = new Map<string, InboxRecord>()
        for (const r of yield* toRecords(existing)) records.set(r.id, r)
        const woken = new Set<string>()
        const out = batch.map((i) => {
          const known = records.get(i.envelope.id)
          if (known !== undefined) return known
          // First of its id in this batch: the one that was inserted.
          const record = new InboxRecord(
            { id: i.envelope.id, address: i.address, run_id: i.runId, state: "queued", envelope: i.envelope, created_at: now, updated_at: now },
            true
          )
          records.set(record.id, record)
          if (fresh.has(record.id)) woken.add(i.address)
          return record
        })
        yield* wake(woken)
        return out
      })

    const enqueueWrite = yield* groupCommit(writeEnqueues, { max: maxBatch, name: "Mailbox.enqueue" })

    /**
     * Stores `envelope` in the inbox of `address` as `queued` and wakes readers waiting on it.
     * Idempotent on the envelope id: enqueuing an id again returns the stored record unchanged
     * (whatever its state or address). Concurrent enqueues are committed in batches.
     * @fails ActorsError `invalid` (not an address, or an inspect-only one), `persistence`.
     */
    // Untraced: one call per message (a span and a call-site stack per enqueue cost more than
    // the enqueue's share of its batch).
    const enqueue = Effect.fnUntraced(function* (input: EnqueueInput) {
      const address = yield* inboxAddress(input.address)
      if (input.runId === "") return yield* new ActorsError({ reason: "invalid", message: "inbox run id is required" })
      return yield* enqueueWrite({ address, runId: input.runId, envelope: input.envelope })
    })

    // -- transitions ------------------------------------------------------------------------------

    /** Keeps at most `retain` terminal records of `address`, deleting the oldest (by id). */
    const enforceRetention = (address: string) =>
      sql`DELETE FROM inbox WHERE address = ${address} AND state IN ('handled', 'failed') AND id <= (
            SELECT id FROM inbox WHERE address = ${address} AND state IN ('handled', 'failed')
            ORDER BY id DESC LIMIT 1 OFFSET ${retain})`

    const transition = (id: string, decide: (state: InboxState) => Step, patch: { consumer?: string; error?: string }) =>
      sql.withTransaction(
        Effect.gen(function* () {
          const row = yield* byId(id)
          if (row === undefined) return yield* new ActorsError({ reason: "not_found", message: `no inbox record ${id}` })
          const step = decide(row.state)
          if (step._tag === "refuse") return yield* new ActorsError({ reason: "invalid", message: step.message })
          if (step._tag === "keep") return row
          const now = yield* Clock.currentTimeMillis
          const fields: Record<string, unknown> = { state: step.state, updated_at: now }
          if (patch.consumer !== undefined) fields.consumer = patch.consumer
          if (patch.error !== undefined) fields.error = patch.error
          const [updated] = yield* sql<InboxRow>`UPDATE inbox SET ${sql.update(fields)} WHERE id = ${id} RETURNING *`
          if (terminalInboxStates.includes(step.state)) yield* enforceRetention(row.address)
          return updated!
        })
      ).pipe(
        Effect.catchTag("SqlError", (e) => Effect.fail(storeFault("Mailbox.transition")(e))),
        Effect.flatMap((row) => toRecords([row])),
        Effect.map((records) => records[0]!)
      )

    /**
     * `queued → delivered` (an adapter wrote it to the actor), recording `consumer`.
     * Already `delivered`, `claimed` or `handled`: the record unchanged.
     * @fails ActorsError `not_found` (unknown id), `invalid` (the record failed), `persistence`.
     */
    const markDelivered = Effect.fn("Mailbox.markDelivered")(function* (id: string, consumer: string) {
      // The usual case, `queued → delivered`, is one conditional UPDATE (atomic on its own);
      // anything else goes through the general transition, which says why.
      const now = yield* Clock.currentTimeMillis
      const [updated] = yield* sql<InboxRow>`UPDATE inbox SET state = 'delivered', consumer = ${consumer}, updated_at = ${now}
          WHERE id = ${id} AND state = 'queued' RETURNING *`.pipe(Effect.mapError(storeFault("Mailbox.markDelivered")))
      if (updated !== undefined) return (yield* toRecords([updated]))[0]!
      return yield* transition(
        id,
        (state) =>
          state === "queued" ? apply("delivered") : state === "failed" ? refuse(`inbox record ${id} failed; it cannot be marked delivered`) : keep,
        { consumer }
      )
    })

    /**
     * `queued | delivered | claimed → handled` (a queued record is handled directly by a pull
     * reader that read it with `next` without claiming). `handled`: unchanged.
     * @fails ActorsError `not_found`, `invalid` (`inbox record <id> failed; it cannot be acknowledged`), `persistence`.
     */
    const ack = Effect.fn("Mailbox.ack")(function* (id: string) {
      return yield* transition(
        id,
        (state) => (state === "handled" ? keep : state === "failed" ? refuse(`inbox record ${id} failed; it cannot be acknowledged`) : apply("handled")),
        {}
      )
    })

    /**
     * `queued | delivered | claimed → failed` with `error`. `failed`: unchanged (the first
     * error is kept).
     * @fails ActorsError `not_found`, `invalid` (`inbox record <id> was already handled; it cannot fail`), `persistence`.
     */
    const fail = Effect.fn("Mailbox.fail")(function* (id: string, error: string) {
      return yield* transition(
        id,
        (state) => (state === "failed" ? keep : state === "handled" ? refuse(`inbox record ${id} was already handled; it cannot fail`) : apply("failed")),
        { error }
      )
    })

    // -- reading ----------------------------------------------------------------------------------

    /** The oldest open record of `address` (claimed atomically with `claim`), if any. */
    const take = (address: string, options: NextOptions, now: number) =>
      Effect.flatMap(
        options.claim === true
          ? sql<InboxRow>`UPDATE inbox SET state = 'claimed', consumer = COALESCE(${options.consumer ?? null}, consumer), updated_at = ${now}
              WHERE id = (SELECT id FROM inbox WHERE address = ${address} AND state IN ('queued', 'delivered') ORDER BY id LIMIT 1)
              RETURNING *`
          : sql<InboxRow>`SELECT * FROM inbox WHERE address = ${address} AND state IN ('queued', 'delivered') ORDER BY id LIMIT 1`,
        (rows) => Effect.map(toRecords(rows), (records) => Option.fromNullable(records[0]))
      ).pipe(Effect.catchTag("SqlError", (e) => Effect.fail(storeFault("Mailbox.next")(e))))

    /**
     * The oldest record of `address` in `queued` or `delivered` (FIFO by id). With `claim` it
     * moves to `claimed` in the same statement, so two concurrent claimers never get the same
     * record. With `waitMs` it waits up to that long (Clock time; interruptible) for one,
     * woken by each enqueue to `address`.
     * @fails ActorsError `invalid` (address), `persistence`.
     */
    const next = Effect.fn("Mailbox.next")(function* (address: string, options: NextOptions = {}) {
      const canonical = yield* inboxAddress(address)
      const start = yield* Clock.currentTimeMillis
      const deadline = start + Math.max(0, options.waitMs ?? 0)
      for (;;) {
        const outcome = yield* Effect.scoped(
          Effect.gen(function* () {
            // Registered before looking, so an enqueue committed after the look still wakes us.
            const signal = yield* register(canonical)
            const now = yield* Clock.currentTimeMillis
            const found = yield* take(canonical, options, now)
            if (Option.isSome(found) || now >= deadline) return Option.some(found)
            const woken = yield* Effect.timeoutOption(Deferred.await(signal), deadline - now)
            // Woken: look again; timed out: nothing came.
            return Option.isSome(woken) ? Option.none() : Option.some(Option.none<InboxRecord>())
          })
        )
        if (Option.isSome(outcome)) return outcome.value
      }
    })

    /**
     * Records of `address`, oldest first: the newest `limit` (default 40) of those in `states`
     * (default all).
     * @fails ActorsError `invalid` (address), `persistence`.
     */
    const list = Effect.fn("Mailbox.list")(function* (
      address: string,
      options: { readonly states?: ReadonlyArray<InboxState> | undefined; readonly limit?: number | undefined } = {}
    ) {
      const canonical = yield* inboxAddress(address)
      const limit = Math.max(0, Math.floor(options.limit ?? defaultListLimit))
      const byState = options.states === undefined ? sql`1 = 1` : options.states.length === 0 ? sql`0 = 1` : sql.in("state", options.states)
      const rows = yield* sql<InboxRow>`SELECT * FROM (
          SELECT * FROM inbox WHERE address = ${canonical} AND ${byState} ORDER BY id DESC LIMIT ${limit}
        ) ORDER BY id`.pipe(Effect.mapError(storeFault("Mailbox.list")))
      return yield* toRecords(rows)
    })

    /**
     * Every `queued` record of `address`, oldest first: what a delivery adapter redelivers
     * when a reader appears.
     * @fails ActorsError `invalid` (address), `persistence`.
     */
    const pending = Effect.fn("Mailbox.pending")(function* (address: string) {
      const canonical = yield* inboxAddress(address)
      const rows = yield* sql<InboxRow>`SELECT * FROM inbox WHERE address = ${canonical} AND state = 'queued' ORDER BY id`.pipe(Effect.mapError(storeFault("Mailbox.pending")))
      return yield* toRecords(rows)
    })

    /**
     * How many records of `address` are in each state.
     * @fails ActorsError `invalid` (address), `persistence`.
     */
    const counts = Effect.fn("Mailbox.counts")(function* (address: string) {
      const canonical = yield* inboxAddress(address)
      const rows = yield* sql<{ state: InboxState; n: number }>`SELECT state, COUNT(*) AS n FROM inbox WHERE address = ${canonical} GROUP BY state`.pipe(
        Effect.mapError(storeFault("Mailbox.counts"))
      )
      const out = { queued: 0, delivered: 0, claimed: 0, handled: 0, failed: 0 }
      for (const r of rows) if (r.state in out) out[r.state] = r.n
      return out as InboxCounts
    })

    /**
     * The record with envelope id `id`, if any.
     * @fails ActorsError `persistence`.
     */
    const get = Effect.fn("Mailbox.get")(function* (id: string) {
      const row = yield* byId(id).pipe(Effect.mapError(storeFault("Mailbox.get")))
      if (row === undefined) return Option.none<InboxRecord>()
      const [record] = yield* toRecords([row])
      return Option.some(record!)
    })

    /**
     * Deletes every record of run `runId` (all its addresses; prune / archive).
     * @returns how many records were deleted.
     * @fails ActorsError `persistence`.
     */
    const removeRun = Effect.fn("Mailbox.removeRun")(function* (runId: string) {
      const rows = yield* sql<{ id: string }>`DELETE FROM inbox WHERE run_id = ${runId} RETURNING id`.pipe(Effect.mapError(storeFault("Mailbox.removeRun")))
      return rows.length
    })

    return { enqueue, markDelivered, next, ack, fail, list, pending, counts, get, removeRun } as const
  })

/**
 * The durable inboxes. Needs the store's `SqlClient` (`Store.sqlite(file)`); keeps
 * {@link terminalRetention} terminal records per address (`Mailbox.layer({ terminalRetention })`
 * to choose another bound).
 */
export class Mailbox extends Effect.Service<Mailbox>()("troupe/Mailbox", {
  scoped: makeMailbox()
}) {
  /** The service with other options (tests: a small retention). */
  static readonly layer = (options: MailboxOptions): Layer.Layer<Mailbox, never, SqlClient.SqlClient> =>
    Layer.scoped(Mailbox, Effect.map(makeMailbox(options), (impl) => Mailbox.make(impl)))
}
