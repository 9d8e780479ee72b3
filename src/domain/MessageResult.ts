/**
 * The outcome of one `message` (SPEC-messaging §3), as the router returns it and the daemon's
 * RPC protocol carries it. Pure data, so the CLI and the RPC client decode it without loading
 * the runtime.
 *
 * Corresponds to pi-actors' `message` tool result (delivered or not, and why).
 */
import { Schema } from "effect"
import { Sender } from "./Envelope.js"
import { RunState } from "./Run.js"

/** Who consumed a message (SPEC-messaging §3). */
export const MessageConsumer = Schema.Literal("run-control", "run-inbox", "branch-inbox", "room-timeline", "tool", "session-events")
export type MessageConsumer = typeof MessageConsumer.Type

/**
 * The outcome of one `message`: the stored envelope's `id`, `to`, the verified `from`, its
 * `sender` provenance, `type`; `delivered` (a live consumer has it), `persisted` (in the store), `queued` (waiting
 * in an inbox for a reader or a pull), `consumer`, `reason` when not delivered
 * (`no_live_reader`, `pull_only`, `run_not_running`); for control messages the run's `state`,
 * for `tool:` targets the spawned `run`.
 */
export class MessageResult extends Schema.Class<MessageResult>("MessageResult")({
  id: Schema.String,
  to: Schema.String,
  from: Schema.String,
  /** Who vouches for `from` (`Envelope.sender`: `token`, `outbox`, `runtime`, `session:<id>`). */
  sender: Schema.optional(Sender),
  type: Schema.String,
  delivered: Schema.Boolean,
  persisted: Schema.Boolean,
  queued: Schema.Boolean,
  consumer: MessageConsumer,
  reason: Schema.optional(Schema.String),
  state: Schema.optional(RunState),
  run: Schema.optional(Schema.String),
  /** `not_in_emits`: the sending run's recipe declares `mailbox.emits` without this type (kept anyway). */
  flag: Schema.optional(Schema.Literal("not_in_emits"))
}) {}

