/**
 * `PersistenceError`: the store failed — SQLite at `TROUPE_HOME/troupe.db` could not read or
 * write (disk full, file damaged or unreadable, a stored row that no longer decodes). Every
 * persistence service (`Store`, `Mailbox`, `Rooms`, `MessageKeys`) maps its SQL faults to it at
 * its own boundary, so callers see a typed error naming the operation instead of a generic
 * `internal` one; the public API reports it as `ActorsError` `persistence` with the same
 * message ({@link toActorsError}).
 *
 * pi-actors surfaced file-lock and JSON-parse failures of its `status.json` files as plain
 * `Error`s; pi-vers had no store.
 */
import { ParseResult, Schema } from "effect"
import { errorDetail } from "./Diagnostic.js"
import { ActorsError } from "./Run.js"

export class PersistenceError extends Schema.TaggedError<PersistenceError>()("PersistenceError", {
  /** The operation that failed, as `Service.method` (`Store.insertRun`, `Mailbox.enqueue`). */
  operation: Schema.String,
  /** What SQLite (or the row decoder) said, e.g. `SQLITE_FULL: database or disk is full`. */
  detail: Schema.String
}) {
  /** One sentence a person can act on. */
  override get message(): string {
    return `The troupe store failed during ${this.operation} (${errorDetail(this.detail)}); check free disk space and TROUPE_HOME/troupe.db, then retry.`
  }
}

/** The failure's message and, when it wraps one (SqlError does), its cause's: `Failed to prepare statement: no such table: runs`. */
const detailOf = (e: { readonly message: string; readonly cause?: unknown }): string => {
  // One line each: a ParseError's own message is a multi-line schema tree.
  const own = e.message.trim() === "" ? "" : errorDetail(e)
  const inner = e.cause instanceof Error || ParseResult.isParseError(e.cause) ? errorDetail(e.cause) : ""
  return inner === "" || inner === own ? own : own === "" ? inner : `${own}: ${inner}`
}

/** Maps any failure with a `message` (SqlError, MigrationError, a decode error) to a PersistenceError of `operation`. */
export const persistenceError = (operation: string) => (e: { readonly message: string; readonly cause?: unknown }): PersistenceError =>
  new PersistenceError({ operation, detail: detailOf(e) })

/** A PersistenceError as the public `Actors` API reports it: `ActorsError` `persistence`, same message. */
export const toActorsError = (e: PersistenceError): ActorsError => new ActorsError({ reason: "persistence", message: e.message })

/**
 * For services whose public error is `ActorsError` (`Mailbox`, `Rooms`, `MessageKeys`): a store
 * fault of `operation` as `ActorsError` `persistence`, with the {@link PersistenceError} sentence.
 */
export const storeFault = (operation: string) => (e: { readonly message: string; readonly cause?: unknown }): ActorsError =>
  toActorsError(persistenceError(operation)(e))
