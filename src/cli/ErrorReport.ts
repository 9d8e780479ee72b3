/**
 * The CLI's single error printer (`src/cli/Main.ts`), as a pure function so a test can walk
 * every error a user can see through it: a failure prints `error: <message>` (one line; a
 * multi-line message is cut to its first line and never shows a stack), a defect prints
 * `error: internal error: <first line>`, an interruption prints nothing and exits 130.
 * `@effect/cli` validation errors were already printed with their help: nothing more.
 */
import { ValidationError } from "@effect/cli"
import { Cause } from "effect"
import { errorDetail } from "../domain/Diagnostic.js"
import { exitCodeOf } from "./Common.js"

/** What the CLI does with a failed command: its exit code and the line for stderr (none: print nothing). */
export interface ErrorReport {
  readonly exitCode: number
  readonly line: string | undefined
}

/** A defect the user caused (e.g. `InvalidConfiguration` from the config layer): its message, not "internal error". */
const userDefect = (defect: unknown): boolean =>
  typeof defect === "object" && defect !== null && (defect as { _tag?: unknown })._tag === "InvalidConfiguration"

/** The exit code and stderr line for `cause` (see the module docs). */
export const errorReport = (cause: Cause.Cause<unknown>): ErrorReport => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some") {
    const e = failure.value as { _tag?: string; message?: string }
    const exitCode = exitCodeOf(e)
    if (e?._tag === "CliExit") return { exitCode, line: undefined }
    // @effect/cli already printed validation errors with help; they carry a HelpDoc, not a
    // message (printing one gave `error: [object Object]`).
    if (e?._tag?.startsWith("Validation") === true || ValidationError.isValidationError(e)) return { exitCode, line: undefined }
    return { exitCode, line: `error: ${errorDetail(e)}` }
  }
  if (Cause.isInterruptedOnly(cause)) return { exitCode: 130, line: undefined }
  const defect = Cause.squash(cause)
  if (userDefect(defect)) return { exitCode: 1, line: `error: ${errorDetail(defect)}` }
  return { exitCode: 1, line: `error: internal error: ${errorDetail(defect)}` }
}
