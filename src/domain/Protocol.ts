/**
 * The daemon's RPC protocol (`@effect/rpc`, NDJSON over the Unix socket
 * `TROUPE_HOME/troupe.sock`). The group mirrors the `Actors` service; payloads and results are
 * the domain Schema classes. Every request carries the caller's identity in headers
 * (`x-troupe-session`, `x-troupe-token`, `x-troupe-all`); the `Authentication` middleware
 * turns them into the {@link CurrentCaller} the handlers act as.
 *
 * Every schema here and everything it pulls in is domain data: the CLI and the RPC client
 * (`daemon/Client.ts`) import this module without loading the runtime (store, supervisor).
 */
// Deep imports, so the CLI does not initialise the server side of @effect/rpc (see Client.ts).
import * as Rpc from "@effect/rpc/Rpc"
import * as RpcGroup from "@effect/rpc/RpcGroup"
import * as RpcMiddleware from "@effect/rpc/RpcMiddleware"
import { Context, Schema } from "effect"
import { InboxRecord } from "./Inbox.js"
import { InspectView } from "./Inspect.js"
import { MessageResult } from "./MessageResult.js"
import { TimelineEntry } from "./Room.js"
import { VmTargetState } from "./Vers.js"
import { VmCommitted, VmCreatePayload, VmEntry, VmRecord, VmsError } from "./Vms.js"
import { ActorsError, type Caller, ControlResult, ControlType, RunInfo, RunOutcome, SessionEvent, SpawnRequest, StatusFilter, WatchTick } from "./Run.js"

/** Header names of the caller identity. */
export const headers = {
  session: "x-troupe-session",
  token: "x-troupe-token",
  all: "x-troupe-all",
  /** On VM requests: the caller's `VERS_BASE_URL` and `VERS_API_KEY` (see `VersCallerSettings`). */
  versBaseUrl: "x-troupe-vers-base-url",
  versApiKey: "x-troupe-vers-api-key"
} as const

/** The caller of the current request (server side). */
export class CurrentCaller extends Context.Tag("troupe/CurrentCaller")<CurrentCaller, Caller>() {}

/** Resolves and checks the caller of every request; fails closed with `forbidden`. */
export class Authentication extends RpcMiddleware.Tag<Authentication>()("troupe/Authentication", {
  provides: CurrentCaller,
  failure: ActorsError
}) {}

/** What `troupe daemon status` shows. */
export class DaemonStatus extends Schema.Class<DaemonStatus>("DaemonStatus")({
  pid: Schema.Int,
  version: Schema.String,
  home: Schema.String,
  socket: Schema.String,
  started_at: Schema.Number,
  active_runs: Schema.Int,
  reaped_at_start: Schema.Int,
  /**
   * How a run's processes are contained and killed: `process-group+marker` (each leaf in its
   * own process group; descendants that left it found by the `TROUPE_LEAF_ID` marker in their
   * environment). cgroup v2 (`cgroup.kill`) is not used yet (docs/runtime.md "Containment").
   */
  containment: Schema.optionalWith(Schema.Literal("process-group+marker"), { default: () => "process-group+marker" as const }),
  /** Which host runs `on: local` leaves: `local` (this daemon forks them) or `broker` (`TROUPE_LOCAL_HOST`). */
  local_host: Schema.optional(Schema.String)
}) {}

export class TroupeRpcs extends RpcGroup.make(
  Rpc.make("Spawn", { payload: SpawnRequest, success: RunInfo, error: ActorsError }),
  Rpc.make("Control", {
    payload: { run: Schema.String, type: ControlType, generation: Schema.optional(Schema.String) },
    success: ControlResult,
    error: ActorsError
  }),
  Rpc.make("Inspect", {
    payload: {
      target: Schema.String,
      view: Schema.optional(Schema.String),
      lines: Schema.optional(Schema.Int),
      status: Schema.optional(StatusFilter),
      id: Schema.optional(Schema.String)
    },
    success: InspectView,
    error: ActorsError
  }),
  Rpc.make("List", {
    payload: { status: StatusFilter, session: Schema.optional(Schema.String) },
    success: Schema.Array(RunInfo),
    error: ActorsError
  }),
  Rpc.make("Wait", {
    payload: { run: Schema.String, timeout_ms: Schema.optional(Schema.Int) },
    success: RunOutcome,
    error: ActorsError
  }),
  Rpc.make("Logs", {
    payload: { run: Schema.String, stream: Schema.Literal("stdout", "stderr"), follow: Schema.Boolean },
    success: Schema.Uint8ArrayFromBase64,
    error: ActorsError,
    stream: true
  }),
  Rpc.make("Events", {
    payload: { since: Schema.Int, follow: Schema.Boolean },
    success: SessionEvent,
    error: ActorsError,
    stream: true
  }),
  // Ticks while runs or rooms change (`Supervisor.watch`): what `troupe top` redraws on.
  Rpc.make("Watch", { success: WatchTick, error: ActorsError, stream: true }),
  Rpc.make("Prune", {
    payload: { runs: Schema.optional(Schema.Array(Schema.String)), older_than_ms: Schema.optional(Schema.Int) },
    success: Schema.Array(Schema.String),
    error: ActorsError
  }),
  Rpc.make("Archive", { payload: { runs: Schema.Array(Schema.String) }, success: Schema.Array(Schema.String), error: ActorsError }),
  // `idempotency_key`: a retry with the same key is stored once (docs/messaging.md).
  Rpc.make("Message", { payload: { envelope: Schema.Unknown, idempotency_key: Schema.optional(Schema.String) }, success: MessageResult, error: ActorsError }),
  Rpc.make("InboxNext", {
    payload: { address: Schema.String, claim: Schema.Boolean, wait_ms: Schema.optional(Schema.Int) },
    success: Schema.OptionFromNullOr(InboxRecord),
    error: ActorsError
  }),
  Rpc.make("InboxList", { payload: { address: Schema.String, limit: Schema.optional(Schema.Int) }, success: Schema.Array(InboxRecord), error: ActorsError }),
  Rpc.make("InboxSettle", {
    payload: { address: Schema.String, id: Schema.String, error: Schema.optional(Schema.String) },
    success: InboxRecord,
    error: ActorsError
  }),
  Rpc.make("RoomTail", {
    payload: { room: Schema.String, after_seq: Schema.optional(Schema.Int), follow: Schema.Boolean },
    success: TimelineEntry,
    error: ActorsError,
    stream: true
  }),
  Rpc.make("Status", { success: DaemonStatus, error: ActorsError }),
  // VMs (`Vms`, docs/vers.md "CLI"): through the daemon, so the ledger is exact.
  Rpc.make("VmList", { payload: { owned: Schema.Boolean }, success: Schema.Array(VmEntry), error: VmsError }),
  Rpc.make("VmCreate", { payload: VmCreatePayload, success: VmRecord, error: VmsError }),
  Rpc.make("VmDelete", { payload: { vm_id: Schema.String }, success: Schema.NullOr(VmRecord), error: VmsError }),
  Rpc.make("VmCommit", { payload: { vm_id: Schema.String, keep_paused: Schema.Boolean }, success: VmCommitted, error: VmsError }),
  Rpc.make("VmSetState", { payload: { vm_id: Schema.String, state: VmTargetState }, success: VmEntry, error: VmsError }),
  Rpc.make("VmStatus", { payload: { vm_id: Schema.String }, success: VmEntry, error: VmsError }),
  Rpc.make("Shutdown", { success: Schema.Void, error: ActorsError })
).middleware(Authentication) {}
