/**
 * Batched follow-ups (pi-actors 0.52: one batch per settled agent turn). The session's events
 * are collected while the agent is busy and flushed as ONE `troupe-run` follow-up when it is
 * idle again, so twenty runs ending during a turn cost one new turn, not twenty. A batch lists
 * at most {@link followUpBatchLimit} events; the rest are named by count and are one
 * `troupe ps` / `inspect` away (their ids are still in `details.event_ids`).
 *
 * - A batch of one event is exactly the single follow-up troupe always sent (same text and
 *   `details`, with `event_id`).
 * - Urgent messages (`metadata.attention: "steer"` on a coordinator/session message) skip the
 *   batch and go out at once as steering (`deliverAs: "steer"`).
 * - `command.done` stays a notification; terminal events of runs a foreground tool waited for
 *   are skipped (the tool reports them).
 * - Exactly once per event id: ids are recorded in `seen` when they are taken (the event stream
 *   is at least once, and replays from the cursor after a daemon restart); a pending batch
 *   lives in the Pi process, so a daemon restart neither loses nor repeats it.
 *
 * This module holds the state only; when to flush (idle, a short window after the last event)
 * is the adapter's (`./Adapter.ts`).
 */
import type { SessionEvent } from "../domain/Run.js"
import type { PiMessage } from "./PiHost.js"

/** The `customType` of troupe's follow-up messages. */
export const followUpType = "troupe-run"
/** How many events one batched follow-up lists in full: 20. */
export const followUpBatchLimit = 20
/** Longest text of one listed event, characters. */
const entryChars = 240

/**
 * The follow-up text of an event: the event's own action-shaped text; a message also says how
 * to answer it.
 */
export const followUpText = (e: SessionEvent): string =>
  e.type === "message" ? `${e.text}\nReply with message to=run:${e.run_id}, or inspect target=run:${e.run_id} view=messages.` : e.text

/** Whether `e` is a coordinator/session message its sender marked urgent (`metadata.attention: "steer"`). */
export const isUrgent = (e: SessionEvent): boolean => {
  if (e.type !== "message") return false
  const envelope = e.data.envelope
  if (typeof envelope !== "object" || envelope === null) return false
  const metadata = (envelope as { readonly metadata?: unknown }).metadata
  return typeof metadata === "object" && metadata !== null && (metadata as { readonly attention?: unknown }).attention === "steer"
}

const detailsOf = (e: SessionEvent) => ({ event_id: e.id, run: `run:${e.run_id}`, type: e.type, generation: e.generation, at: e.at, ...e.data })

/** The message of one event (today's single follow-up). */
export const eventMessage = (e: SessionEvent): PiMessage => ({
  customType: followUpType,
  content: followUpText(e),
  display: true,
  details: detailsOf(e)
})

const firstLine = (text: string): string => {
  const line = text.split("\n", 1)[0] ?? ""
  return line.length > entryChars ? `${line.slice(0, entryChars - 1)}…` : line
}

/**
 * The one follow-up of `events` (oldest first, at least one): a single event as
 * {@link eventMessage}; several as a list of the first `limit`, each on one line, then how many
 * more there are and where to look. `details`: `{batch: true, count, event_ids, events: [{event_id,
 * run, type, …}] (the listed ones)}`.
 */
export const batchMessage = (events: ReadonlyArray<SessionEvent>, limit = followUpBatchLimit): PiMessage => {
  if (events.length === 1) return eventMessage(events[0]!)
  const listed = events.slice(0, limit)
  const ended = events.filter((e) => e.type.startsWith("run.")).length
  const messages = events.filter((e) => e.type === "message").length
  const counts = [ended > 0 ? `${ended} run(s) ended` : undefined, messages > 0 ? `${messages} message(s)` : undefined, events.length - ended - messages > 0 ? `${events.length - ended - messages} other event(s)` : undefined]
  const lines = [
    `troupe: ${events.length} events since the last turn (${counts.filter((c) => c !== undefined).join(", ")}):`,
    ...listed.map((e) => `- run:${e.run_id} ${e.type === "message" ? "says: " : ""}${firstLine(e.text)}`)
  ]
  const rest = events.length - listed.length
  if (rest > 0) lines.push(`- and ${rest} more: troupe ps, or inspect target=coordinator view=runs.`)
  lines.push(
    messages > 0
      ? "Details: inspect target=run:<id> view=status|tail; answer a message with message to=run:<id> (inspect target=run:<id> view=messages shows it)."
      : "Details: inspect target=run:<id> view=status|tail."
  )
  return {
    customType: followUpType,
    content: lines.join("\n"),
    display: true,
    details: { batch: true, count: events.length, event_ids: events.map((e) => e.id), events: listed.map(detailsOf) }
  }
}

/** What a {@link FollowUpBatch} needs from the session. */
export interface FollowUpBatchOptions {
  /** Event ids already taken (dedupe: delivery is at least once). */
  readonly seen: Set<number>
  /** True after `session_shutdown`: nothing is sent any more. */
  readonly closed: () => boolean
  /** Runs a foreground tool reports itself. */
  readonly foreground: ReadonlySet<string>
  /** `sendMessage(…, {deliverAs: "followUp", triggerTurn: true})`. */
  readonly send: (message: PiMessage) => void
  /** `sendMessage(…, {deliverAs: "steer", triggerTurn: true})`. */
  readonly steer: (message: PiMessage) => void
  readonly notify: (text: string, level: "info" | "warning") => void
  /** Events listed in full per follow-up (default {@link followUpBatchLimit}). */
  readonly limit?: number | undefined
}

/** The session's pending follow-ups. */
export interface FollowUpBatch {
  /**
   * Takes one session event: skipped when seen, closed or reported by a foreground tool;
   * `command.done` → notification; urgent message → steering at once; anything else → pending.
   */
  readonly offer: (e: SessionEvent) => void
  /** How many events wait for the next flush. */
  readonly pending: () => number
  /** Sends the pending events as one follow-up (nothing when none, or after shutdown). */
  readonly flush: () => void
}

/** A new, empty batch. */
export const makeFollowUpBatch = (options: FollowUpBatchOptions): FollowUpBatch => {
  let pending: Array<SessionEvent> = []
  return {
    offer: (e) => {
      if (options.closed() || options.seen.has(e.id)) return
      options.seen.add(e.id)
      if (e.type === "command.done") {
        options.notify(e.text, e.data.status === "failed" || e.data.status === "timeout" ? "warning" : "info")
        return
      }
      if (e.type.startsWith("run.") && options.foreground.has(e.run_id)) return
      if (isUrgent(e)) {
        options.steer(eventMessage(e))
        return
      }
      pending.push(e)
    },
    pending: () => pending.length,
    flush: () => {
      if (pending.length === 0 || options.closed()) return
      const events = pending
      pending = []
      options.send(batchMessage(events, options.limit))
    }
  }
}
