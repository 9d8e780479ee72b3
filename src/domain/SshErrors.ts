/**
 * The errors of the `Ssh` service (docs/ssh.md "Errors"), each a `Schema.TaggedError` (they
 * cross the CLI's `--json`, RPC and Pi boundaries) with one human sentence as `message` that
 * names the VM. A message never contains a private key, a host key or a schema dump.
 *
 * | cause                                                   | error                |
 * |---------------------------------------------------------|----------------------|
 * | TLS or TCP failed, the SSH handshake failed, no key     | `SshConnectError`    |
 * | the VM refused the key                                  | `SshAuthError`       |
 * | no handshake within the ready timeout                   | `SshTimeout`         |
 * | the connection dropped, a channel closed without exit   | `SshDisconnected`    |
 * | the VM's host key differs from the pinned one           | `SshHostKeyChanged`  |
 * | an SFTP operation failed (names the path)               | `SftpError`          |
 * | the remote command exited non-zero or by a signal       | `RemoteCommandFailed`|
 *
 * The first five are transport failures ({@link SshError}); a command that ran and failed is
 * `RemoteCommandFailed`, never one of them. pi-vers reported all of these as one `ssh` exit
 * code 255 or a non-zero exit, indistinguishably.
 */
import { Schema } from "effect"
import { shortVmId } from "./Vers.js"

const vm = {
  /** The VM the connection was to. */
  vmId: Schema.String,
  message: Schema.String
}

/** TLS/TCP connect failed, the SSH handshake failed, or the VM's key could not be fetched. */
export class SshConnectError extends Schema.TaggedError<SshConnectError>()("SshConnectError", vm) {}

/** The VM's sshd refused troupe's key (`GET /vm/{id}/ssh_key` gave a key it does not accept). */
export class SshAuthError extends Schema.TaggedError<SshAuthError>()("SshAuthError", vm) {}

/** The TLS + SSH handshake did not complete within `timeoutMs`. */
export class SshTimeout extends Schema.TaggedError<SshTimeout>()("SshTimeout", {
  ...vm,
  timeoutMs: Schema.Number
}) {}

/** The connection dropped (or a channel closed without an exit status) while it was in use. */
export class SshDisconnected extends Schema.TaggedError<SshDisconnected>()("SshDisconnected", vm) {}

/**
 * The VM presented a host key other than the one pinned on first connect. `expected` and
 * `actual` are SHA-256 fingerprints (`SHA256:<base64>`, as `ssh-keygen -l` prints them).
 */
export class SshHostKeyChanged extends Schema.TaggedError<SshHostKeyChanged>()("SshHostKeyChanged", {
  ...vm,
  expected: Schema.String,
  actual: Schema.String
}) {}

/** An SFTP operation failed on `path`: `reason` is `not-found`, `permission`, `exists` or `failure`. */
export class SftpError extends Schema.TaggedError<SftpError>()("SftpError", {
  ...vm,
  operation: Schema.String,
  path: Schema.String,
  reason: Schema.Literal("not-found", "permission", "exists", "failure")
}) {}

/** The remote command exited non-zero (`code`) or was killed (`signal`); `stderrTail` is its last stderr, at most 4 KiB. */
export class RemoteCommandFailed extends Schema.TaggedError<RemoteCommandFailed>()("RemoteCommandFailed", {
  ...vm,
  code: Schema.NullOr(Schema.Number),
  signal: Schema.NullOr(Schema.String),
  stderrTail: Schema.String
}) {}

/** The transport failures: something between troupe and the VM's shell broke. */
export type SshError = SshConnectError | SshAuthError | SshTimeout | SshDisconnected | SshHostKeyChanged

/** The schema of {@link SshError}, for boundaries that carry it. */
export const SshError = Schema.Union(SshConnectError, SshAuthError, SshTimeout, SshDisconnected, SshHostKeyChanged)

/** Message builders (one sentence, no trailing period, never a key). */
export const SshMessages = {
  connect: (vmId: string, target: string, detail: string) => `Could not connect to VM ${shortVmId(vmId)} at ${target}: ${detail}`,
  auth: (vmId: string) => `VM ${shortVmId(vmId)} refused troupe's SSH key (from GET /vm/{id}/ssh_key)`,
  timeout: (vmId: string, ms: number) => `The SSH handshake with VM ${shortVmId(vmId)} did not finish within ${ms} ms`,
  disconnected: (vmId: string, detail: string) => `The SSH connection to VM ${shortVmId(vmId)} dropped: ${detail}`,
  hostKeyChanged: (vmId: string, expected: string, actual: string) =>
    `VM ${shortVmId(vmId)} presented host key ${actual}, not the pinned ${expected}; if the VM was restored or replaced, run forgetHostKey or set VERS_SSH_HOST_KEY_POLICY=accept-changed`,
  sftp: (vmId: string, operation: string, path: string, detail: string) => `SFTP ${operation} of ${path} on VM ${shortVmId(vmId)} failed: ${detail}`,
  failed: (vmId: string, command: string, code: number | null, signal: string | null, stderrTail: string) => {
    const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code ?? "unknown"}`
    const cmd = command.length > 80 ? `${command.slice(0, 77)}…` : command
    const last = stderrTail.trim().split("\n").pop()?.slice(0, 200) ?? ""
    return `The command ${JSON.stringify(cmd)} on VM ${shortVmId(vmId)} ${how}${last === "" ? "" : ` (${last})`}`
  }
}
