/**
 * Inbox records (SPEC-messaging §4): the shape `Mailbox` keeps and the daemon's RPC protocol
 * returns (`InboxNext`, `InboxList`, `InboxSettle`). Pure data, so the CLI and the RPC client
 * decode them without loading the store.
 *
 * Corresponds to pi-actors 0.17's branch `inbox.jsonl` records (`status` queued / claimed /
 * handled / failed).
 */
import { Schema } from "effect"
import { Envelope } from "./Envelope.js"

/**
 * `queued` (stored, not yet handed to a reader) → `delivered` (an adapter wrote it to the
 * actor) → `claimed` (a reader took it for processing) → `handled` | `failed` (terminal).
 */
export const InboxState = Schema.Literal("queued", "delivered", "claimed", "handled", "failed")
export type InboxState = typeof InboxState.Type

/** The terminal states; records in them are subject to retention. */
export const terminalInboxStates: ReadonlyArray<InboxState> = ["handled", "failed"]

/**
 * One inbox record. `id` is the envelope id; `address` the canonical inbox address (`run:x`,
 * `branch:x/b`, …) and `run_id` the run it belongs to (pruning); times are epoch ms;
 * `consumer` names who delivered or claimed it (`fifo`, `stdin-jsonl`, a reader's name);
 * `error` is set on `failed`.
 */
export class InboxRecord extends Schema.Class<InboxRecord>("troupe/InboxRecord")({
  id: Schema.String,
  address: Schema.String,
  run_id: Schema.String,
  state: InboxState,
  envelope: Envelope,
  created_at: Schema.Number,
  updated_at: Schema.Number,
  consumer: Schema.optional(Schema.String),
  error: Schema.optional(Schema.String)
}) {}
