/**
 * troupe — an Effect-native actor runtime for coding agents.
 *
 * - `Troupe.layer` / `Troupe.client` and the `Actors` service: spawn, control, inspect, list,
 *   wait for, read the logs of and follow the events of runs (actors), in-process or through
 *   the daemon.
 * - The runtime services: Supervisor, Store (SQLite), Events, Inspector.
 * - The execution core: the command-template domain, CommandGraph (plan and execute
 *   templates), Host v2 with LocalHost (process groups), Hosts (a leaf's `on` to its host),
 *   LeafCapture (capture above hosts), Recipes, and the wiring.
 */
export * as DaemonClient from "./daemon/Client.js"
export { Authentication, CurrentCaller, DaemonStatus, TroupeRpcs } from "./domain/Protocol.js"
export { runDaemon, type DaemonOptions } from "./daemon/Server.js"
export * as Address from "./domain/Address.js"
export * as Envelope from "./domain/Envelope.js"
export { MessageIds, stamp } from "./services/MessageIds.js"
export * as Output from "./domain/Output.js"
export type * from "./domain/Plan.js"
export { RecipeError, RecipeFile, type Recipe } from "./domain/Recipe.js"
export { argvRisks, planRisks, riskText } from "./domain/Risk.js"
export { TemplateError, TemplateInput, type ArgDecl, type ArgType, type ArgsJsonSchema, type FailureScope } from "./domain/Template.js"
export * as TemplateText from "./domain/TemplateText.js"
export * as Config from "./layers/Config.js"
export * as Live from "./layers/Live.js"
export * as Runtime from "./layers/Runtime.js"
export {
  ActorsError,
  ControlResult,
  LeafIdentity,
  Progress,
  ProcessRecord,
  RestartPolicy,
  RunEvent,
  RunId,
  RunInfo,
  RunOutcome,
  RunState,
  SessionEvent,
  StatusFilter
} from "./domain/Run.js"
export { Actors, type ActorsShape, type SpawnInput } from "./services/Actors.js"
export { Events } from "./services/Events.js"
export { Inspector, InspectView, type InspectOptions } from "./services/Inspector.js"
export { PersistenceError } from "./domain/PersistenceError.js"
export { Store } from "./services/Store.js"
export { type Caller, ControlType, SpawnRequest, Supervisor } from "./services/Supervisor.js"
export { Troupe, type TroupeLayerOptions } from "./Troupe.js"
export {
  CommandGraph,
  failureText,
  flattenPlan,
  incompleteStdinCode,
  maxFanout,
  templateArgsSchema,
  timeoutCode,
  type ExecuteOptions,
  type ImportResolver,
  type PlanOptions
} from "./services/CommandGraph.js"
export {
  Host,
  HostError,
  type HostShape,
  type LeafExit,
  type LeafProcess,
  type ProcessIdentity,
  type StartSpec,
  type StartStdin
} from "./services/Host.js"
export { type HostEntry, Hosts, type HostsOptions } from "./services/Hosts.js"
export { type LeafResult, type LeafSpec, type LeafStdin, PipeCloseGrace, runLeaf } from "./services/LeafCapture.js"
export { LocalHost, type LocalHostOptions } from "./services/LocalHost.js"
export { Recipes } from "./services/Recipes.js"
export { version } from "./version.js"
export * as Vers from "./domain/Vers.js"
export {
  VersAuthError,
  VersDecodeError,
  VersError,
  VersRateLimited,
  VersTimeout,
  VersUnavailable,
  VmConflict,
  VmDead,
  VmNotFound
} from "./domain/VersErrors.js"
export {
  type BranchOptions,
  type CommitOptions,
  type CreateRootOptions,
  requestLabel,
  type RestoreOptions,
  VersApi,
  type VersApiShape,
  type VmConfigInput
} from "./services/VersApi.js"
export { sshHost, VersConfig, type VersConfigInput, type VersConfigShape } from "./services/VersConfig.js"
export * as VmsDomain from "./domain/Vms.js"
export { labelKeys, VmCommitted, VmEntry, VmReconcileReport, VmRecord, VmsError } from "./domain/Vms.js"
export { homeLabel, type VmGetOptions, type VmHow, type VmOwner, Vms, type VmsShape } from "./services/Vms.js"
export type { VmsClient } from "./daemon/Client.js"
export * as VersConfigLayer from "./layers/VersConfig.js"
export * as VersLive from "./layers/Vers.js"
export * as PiRpcDomain from "./domain/PiRpc.js"
export { type DialogAnswer, type PiEvent, PiRpcClosed, PiRpcError, PiRpcProtocolError, PiRpcRejected, type PiUnknownEvent } from "./domain/PiRpc.js"
export * as PiRpc from "./services/PiRpc.js"
export {
  RemoteCommandFailed,
  SftpError,
  SshAuthError,
  SshConnectError,
  SshDisconnected,
  SshError,
  SshHostKeyChanged,
  SshTimeout
} from "./domain/SshErrors.js"
export {
  type ExecOptions,
  type PinnedHostKey,
  type RemoteEntry,
  type RemoteExit,
  type RemoteStat,
  type RunOptions,
  type RunResult,
  shellQuote,
  Ssh,
  type SshChannel,
  SshHostKeys,
  type SshHostKeysShape,
  type SshOptions,
  type SshProcess,
  type SshShape
} from "./services/Ssh.js"
export type { SshHostKeyPolicy } from "./services/VersConfig.js"
export { DiffFile, DiffStat, formatStat, Isolation, WorktreeRecord } from "./domain/Worktree.js"
export { type WorktreePlan, Worktrees } from "./services/Worktrees.js"
/** An agent run's status as `inspect run:<id> status` reports it (`data.agent`) and `{state_dir}/agent.json` holds it. */
export { AgentEventLine, AgentStatus } from "./domain/AgentStatus.js"
export { VmHost, type VmHostOptions } from "./services/VmHost.js"
export { VmHosts, type VmHostsOptions, type VmHostsShape } from "./services/VmHosts.js"
// Swarms and lieutenants (docs/swarms.md): services over a session-bound `Actors`.
export {
  LieutenantInfo,
  LieutenantRead,
  LieutenantSent,
  Placement,
  SendMode,
  SwarmError,
  SwarmInfo,
  SwarmTeardown,
  SwarmWaitResult,
  SwarmWorker,
  WorkerState
} from "./domain/Swarm.js"
export { make as makeSwarms, type SwarmSpawnRequest, type SwarmStep, Swarms, type SwarmsOptions, type SwarmsShape, type SwarmVms, workerRun } from "./services/Swarms.js"
export { type LieutenantCreateRequest, lieutenantRun, Lieutenants, make as makeLieutenants, type LieutenantsOptions, type LieutenantsShape } from "./services/Lieutenants.js"
// Recipe folders staged on VMs (docs/vmhost.md, "Recipe folders on VMs").
export { maxStageBytes, maxStageFiles, stageDir, type StageOptions, type StageSummary } from "./services/vmhost/Stage.js"

// Golden images (docs/vers.md "Golden images"): build, check, commit keep-paused, record.
export { GoldenAction, GoldenComponent, GoldenError, GoldenImage } from "./domain/Golden.js"
export * as GoldenImages from "./services/GoldenImages.js"
