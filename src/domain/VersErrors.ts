/**
 * The errors of the Vers REST client (`VersApi`), one per way a call can fail, each a
 * `Schema.TaggedError` (they cross the CLI's `--json`, RPC and Pi boundaries) with one
 * human sentence as `message` that names the operation and the VM. A message never contains
 * the API key, a response body dump or a schema dump. HTTP status → error:
 *
 * | status / cause                         | error            |
 * |----------------------------------------|------------------|
 * | 401, 403, no key configured            | `VersAuthError`  |
 * | 404                                    | `VmNotFound`     |
 * | 409, 400, other 4xx; a request troupe refuses to send (invalid input) | `VmConflict` |
 * | 429                                    | `VersRateLimited` (`retryAfterMs`) |
 * | 5xx, connection refused/reset          | `VersUnavailable` |
 * | no answer within the call's timeout, boot budget spent | `VersTimeout` |
 * | a body the document does not allow    | `VersDecodeError` |
 * | a VM died while troupe waited for it   | `VmDead`         |
 */
import { Schema } from "effect"
import { shortVmId } from "./Vers.js"

const common = {
  /** The VersApi operation (`createRoot`, `status`, …). */
  operation: Schema.String,
  /** The VM the call was about, when there is one. */
  vmId: Schema.optional(Schema.String),
  message: Schema.String
}

/** 401/403, or no API key configured (then `status` is absent and the message says where to set one). */
export class VersAuthError extends Schema.TaggedError<VersAuthError>()("VersAuthError", {
  ...common,
  status: Schema.optional(Schema.Number)
}) {}

/** 404: the VM (or commit) does not exist, or no longer does. */
export class VmNotFound extends Schema.TaggedError<VmNotFound>()("VmNotFound", common) {}

/** 409 or 400: the request conflicts with the VM's state (e.g. a disk resize that does not grow), or a reconciliation found more than one candidate. */
export class VmConflict extends Schema.TaggedError<VmConflict>()("VmConflict", {
  ...common,
  status: Schema.optional(Schema.Number)
}) {}

/** 429 after the retry budget: `retryAfterMs` is what the server asked to wait (ms). */
export class VersRateLimited extends Schema.TaggedError<VersRateLimited>()("VersRateLimited", {
  ...common,
  retryAfterMs: Schema.Number
}) {}

/** 5xx, or the connection failed (refused, reset, DNS): Vers is unreachable or broken. */
export class VersUnavailable extends Schema.TaggedError<VersUnavailable>()("VersUnavailable", {
  ...common,
  status: Schema.optional(Schema.Number)
}) {}

/** No answer within `timeoutMs` (a call's timeout, or waitRunning's boot budget). */
export class VersTimeout extends Schema.TaggedError<VersTimeout>()("VersTimeout", {
  ...common,
  timeoutMs: Schema.Number
}) {}

/** A response body that the Vers API document does not allow (malformed JSON, a missing or mistyped field). */
export class VersDecodeError extends Schema.TaggedError<VersDecodeError>()("VersDecodeError", common) {}

/** The VM reached `dead` while troupe waited for it to run. */
export class VmDead extends Schema.TaggedError<VmDead>()("VmDead", common) {}

/** Every error a `VersApi` call can fail with. */
export type VersError = VersAuthError | VmNotFound | VmConflict | VersRateLimited | VersUnavailable | VersTimeout | VersDecodeError | VmDead

/** The schema of {@link VersError}, for boundaries that carry it. */
export const VersError = Schema.Union(VersAuthError, VmNotFound, VmConflict, VersRateLimited, VersUnavailable, VersTimeout, VersDecodeError, VmDead)

/** `VM 1234abcd…` or `the request` — how a message refers to what a call was about. */
const subject = (vmId: string | undefined): string => (vmId === undefined ? "" : ` for VM ${shortVmId(vmId)}`)

/** Where an API key can be set, for the no-key message. */
export const apiKeyHelp = "set VERS_API_KEY, or put {\"keys\":{\"VERS_API_KEY\":\"…\"}} in ~/.vers/keys.json, or versApiKey in ~/.vers/config.json"

/** Message builders (one sentence, no trailing period, never the key). */
export const VersMessages = {
  noKey: (problems: ReadonlyArray<string> = []) => `No Vers API key is set: ${apiKeyHelp}${problems.length === 0 ? "" : ` (${problems.join("; ")})`}`,
  auth: (operation: string, status: number, vmId?: string) =>
    `Vers refused ${operation}${subject(vmId)} (HTTP ${status}): the API key is invalid or lacks access`,
  notFound: (operation: string, vmId?: string) =>
    vmId === undefined
      ? `Vers ${operation} failed: not found`
      : `Vers could not find VM ${shortVmId(vmId)} (${operation}): it may have been deleted`,
  conflict: (operation: string, status: number, reason: string | undefined, vmId?: string) =>
    `Vers refused ${operation}${subject(vmId)} (HTTP ${status})${reason === undefined ? "" : `: ${reason}`}`,
  rateLimited: (operation: string, retryAfterMs: number, vmId?: string) =>
    `Vers rate-limited ${operation}${subject(vmId)}: retry after ${retryAfterMs} ms`,
  unavailable: (operation: string, cause: string, vmId?: string) =>
    `Vers is unavailable for ${operation}${subject(vmId)}: ${cause}`,
  timeout: (operation: string, timeoutMs: number, vmId?: string) =>
    `Vers ${operation}${subject(vmId)} did not answer within ${timeoutMs} ms`,
  decode: (operation: string, problem: string, vmId?: string) =>
    `Vers answered ${operation}${subject(vmId)} with an unexpected body: ${problem}`,
  invalid: (operation: string, problem: string, vmId?: string) => `Vers ${operation}${subject(vmId)} was not sent: ${problem}`,
  dead: (operation: string, vmId: string) => `VM ${shortVmId(vmId)} died during ${operation}`
}
