/**
 * `PiRpc`: a client for Pi's RPC mode (`pi --mode rpc`, Pi's `docs/rpc.md`) over any byte
 * duplex — a local child's stdio ({@link spawnLocal}), a broker stream, an SSH channel
 * ({@link connect}). SPEC-vers §5; docs/agents.md.
 *
 * - Framing: one JSON object per line, split on LF only (one trailing CR stripped), never
 *   `readline` (U+2028/U+2029 are valid inside strings); lines up to 64 MiB.
 * - Commands carry a fresh id (`troupe-<n>`); a Deferred per id resolves on the matching
 *   `response`. `success: false` is `PiRpcRejected` (Pi's text, e.g. `Model not found: p/m`).
 * - Events are published to every subscriber (bounded buffer, backpressure down to Pi); an
 *   unknown event type arrives as `{ type: "unknown", name, raw }`.
 * - A turn is finished on `agent_settled` (older Pi: `agent_end` without `willRetry`, then
 *   `get_state.isStreaming === false`). `prompt` always says `streamingBehavior: "followUp"`,
 *   so a prompt while streaming is queued, never rejected.
 * - Dialogs (`extension_ui_request` select/confirm/input/editor) are answered
 *   `{type:"extension_ui_response", id, cancelled: true}` unless `onDialog` is given.
 * - The end of Pi's output (or of the scope) fails every pending and later call with
 *   `PiRpcClosed`; a line that is not a JSON object ends the session with `PiRpcProtocolError`
 *   (stdout is reserved for protocol records: such a line means this is not a Pi RPC stream).
 */
export { connect, type PiRpcDuplex, type PiRpcOptions, type PiRpcSession, type PiSettled, type PiTurnState } from "./pirpc/Session.js"
export { type LocalPiOptions, type LocalPiSession, spawnLocal } from "./pirpc/LocalPi.js"
export { defaultMaxLineBytes, encodeLine, parseRecord, splitLines } from "./pirpc/Framing.js"
export {
  attachRemote,
  envFileText,
  initialMark,
  type RemoteAgent,
  type RemoteAttachOptions,
  type RemotePiSession,
  type RemoteStartOptions,
  startRemote,
  stopRemote,
  type StreamMark
} from "./pirpc/RemotePi.js"
export { agentDir, defaultEnvFile, supervisorPath, supervisorScript } from "./pirpc/RemoteSupervisor.js"
