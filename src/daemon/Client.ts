/**
 * The RPC client of the daemon: a session-bound `Actors` implementation that talks to
 * `TROUPE_HOME/troupe.sock`, starting the daemon (detached, logging to `TROUPE_HOME/daemon.log`)
 * when no daemon answers. Used by the CLI and the Pi adapter; an Effect program gets it as a
 * layer from `Troupe.client`. (This module stays free of the runtime so the CLI loads fast.)
 */
import * as Socket from "@effect/platform/Socket"
// From platform-node-shared, which @effect/platform-node/NodeSocket re-exports: esbuild does not
// initialise a lazily-initialised module behind such an `export *` for an eagerly-run importer
// (scripts/build.mjs bundles the CLI as one CommonJS file with lazy `import()`s).
import * as NodeSocket from "@effect/platform-node-shared/NodeSocket"
// Deep imports: the package index would also initialise RpcServer, RpcWorker and the platform's
// Worker on every CLI start.
import * as RpcClient from "@effect/rpc/RpcClient"
import * as RpcFraming from "./RpcFraming.js"
import type { RpcClientError } from "@effect/rpc/RpcClientError"
import { Cause, Config as EffectConfig, Effect, Layer, Option, Schedule, Stream } from "effect"
import { spawn } from "node:child_process"
import { closeSync, existsSync, fchmodSync, mkdirSync, openSync, readFileSync } from "node:fs"
import { createConnection } from "node:net"
import { join } from "node:path"
import { spawnEnvironment } from "../domain/Environment.js"
import { ActorsError, SpawnRequest, spawnInputProblem, spawnRequestOf, type WatchTick } from "../domain/Run.js"
import * as Config from "../layers/Config.js"
import * as Home from "../layers/Home.js"
import type { ActorsShape } from "../services/Actors.js"
import { type DaemonStatus, headers, TroupeRpcs } from "../domain/Protocol.js"
import type { VmTargetState } from "../domain/Vers.js"
import type { VmCommitted, VmCreateHow, VmEntry, VmRecord, VmsError } from "../domain/Vms.js"
import { batchWrites, clientStallMs, serverStallMs } from "./WriteBatching.js"

export interface ClientOptions {
  /** `TROUPE_HOME` (default: the environment's). */
  readonly home?: string | undefined
  /** Session to act as (default `cli`). Ignored when `token` is set. */
  readonly session?: string | undefined
  /** An actor process's run token (`TROUPE_TOKEN`): act as that run. */
  readonly token?: string | undefined
  /** Operator mode: act across sessions. */
  readonly all?: boolean | undefined
  /** Start the daemon when none answers (default true). */
  readonly autoStart?: boolean | undefined
  /** Idle exit of an auto-started daemon, ms (default 30 minutes). */
  readonly idleMs?: number | undefined
  /**
   * The environment sent with every spawn: the run's leaves get it (minus the deny-list of
   * `domain/Environment.ts`). Default: this process's environment, read when the client is made.
   */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
}

/** How long a client waits for an auto-started daemon to answer: 15 s. */
const startTimeoutMs = 15_000
/** Connection attempts while the daemon starts. */
const connectRetry = Schedule.spaced("25 millis")

/** How `daemon stop` polls for the daemon's exit: every 50 ms. */
export const stopPoll = Schedule.spaced("50 millis")
/**
 * `daemon stop`'s one deadline, ms, from its start to the daemon process gone (asking, then
 * waiting; the daemon's own shutdown kills runs with a 5 s grace): 30 s, else exit 1.
 */
export const stopTimeoutMs = 30_000

/** The bundled CLI that runs the daemon (`dist/bin/troupe.js` of this package). */
export const daemonEntry = () => join(Config.packageRoot(), "dist", "bin", "troupe.js")

/** True when something accepts connections on `socket`. */
export const probe = (socket: string) =>
  Effect.async<boolean>((resume) => {
    const conn = createConnection({ path: socket })
    conn.once("connect", () => {
      conn.destroy()
      resume(Effect.succeed(true))
    })
    conn.once("error", () => {
      conn.destroy()
      resume(Effect.succeed(false))
    })
    return Effect.sync(() => conn.destroy())
  })

const lastLogLines = (file: string) => {
  try {
    return readFileSync(file, "utf8").trim().split("\n").slice(-3).join(" | ")
  } catch {
    return "no daemon log"
  }
}

/**
 * Starts `troupe daemon start --foreground` on `node` (default this process's Node) detached
 * from this process (own session, stdio to `daemon.log`) with `TROUPE_HOME` set. The daemon takes the store lock, so two clients racing
 * to start one end with one daemon: the loser exits at once.
 */
export const startDaemon = (home: string, idleMs: number, node: string = process.execPath) =>
  // An unsafe existing home is refused here, before daemon.log is written into it.
  Effect.zipRight(Home.prepareHome(home), Effect.try({
    try: () => {
      mkdirSync(home, { recursive: true, mode: 0o700 })
      const log = openSync(Config.homePaths(home).daemonLog, "a", 0o600)
      // The mode above applies only when the file is created: an older, umask-made log is tightened too.
      fchmodSync(log, 0o600)
      try {
        const child = spawn(node, [daemonEntry(), "daemon", "start", "--foreground", "--idle-ms", String(idleMs)], {
          detached: true,
          stdio: ["ignore", log, log],
          // Its own minimal environment, not this command's (docs/daemon.md "Environment").
          env: { ...Config.daemonEnvironment(), TROUPE_HOME: home }
        })
        child.unref()
      } finally {
        closeSync(log)
      }
    },
    catch: (e) => new ActorsError({ reason: "unavailable", message: `cannot start the troupe daemon: ${String(e)}` })
  }))

/**
 * Makes sure a daemon answers on `home`'s socket, starting one if allowed.
 * @fails ActorsError `unavailable` when none answers (and auto-start is off or timed out).
 */
export const ensureDaemon = (home: string, autoStart: boolean, idleMs: number, node?: string) =>
  Effect.gen(function* () {
    const paths = Config.homePaths(home)
    if (yield* probe(paths.socket)) return false
    if (!autoStart) {
      return yield* new ActorsError({ reason: "unavailable", message: `no troupe daemon is running for ${home} (start one with: troupe daemon start)` })
    }
    yield* startDaemon(home, idleMs, node)
    const up = yield* probe(paths.socket).pipe(
      Effect.repeat({ schedule: connectRetry, until: (ok) => ok }),
      Effect.timeoutOption(startTimeoutMs)
    )
    if (up._tag === "None") {
      return yield* new ActorsError({ reason: "unavailable", message: `the troupe daemon did not start within ${startTimeoutMs} ms (${lastLogLines(paths.daemonLog)})` })
    }
    return true
  })

/** Why a connection ends: the daemon stopped, or dropped this client (it read nothing for 10 s). */
const unavailable = (e: RpcClientError) =>
  new ActorsError({
    reason: "unavailable",
    message: e.message === "Error in socket"
      ? `lost the connection to the troupe daemon (it stopped, or dropped this client for not reading its output for ${serverStallMs / 1000} s)`
      : `lost the connection to the troupe daemon: ${e.message}`
  })

/**
 * A stopping daemon interrupts the requests it is serving and tells the client so; the call
 * then ends interrupted although its caller was not (a caller's own interruption is not
 * caught: recovery does not run in an interrupted fiber). That is `unavailable`: the request
 * may or may not have taken effect (retry a message with an idempotency key).
 */
const stopped = <E>(cause: Cause.Cause<E>) => {
  if (Cause.isInterruptedOnly(cause)) {
    return new ActorsError({ reason: "unavailable", message: "the troupe daemon stopped before answering (the request was interrupted)" })
  }
  // The RPC client sends a request with `Effect.orDie(write(...))`: a write to the socket of a
  // daemon that just went away is a defect carrying the SocketError. That is `unavailable` too.
  const lost = [...Cause.defects(cause), ...Cause.failures(cause)].find(Socket.isSocketError)
  return lost === undefined ? undefined : new ActorsError({ reason: "unavailable", message: `lost the connection to the troupe daemon: ${lost.message}` })
}

/** The RPC client over `socket` (scoped: the connection closes with the caller's scope). */
export const makeRpcClient = (socket: string) =>
  Effect.gen(function* () {
    // Built in the caller's scope: `Effect.provide(layer)` would close the socket on return.
    const protocol = yield* Layer.build(
      RpcClient.layerProtocolSocket({ retryTransientErrors: false }).pipe(
        // Writes batched: concurrent calls share a socket write (see WriteBatching). Bounded,
        // and failing at once after the connection closed: the RPC client pings every 10 s and
        // would otherwise wait for a daemon that never comes back (and so would its scope).
        Layer.provide(Layer.effect(
          Socket.Socket,
          Effect.map(NodeSocket.makeNet({ path: socket }), (s) => batchWrites(s, { stallMs: clientStallMs }))
        )),
        Layer.provide(RpcFraming.layer)
      )
    )
    // No spans per call: nothing exports them (the daemon does not trace requests either).
    return yield* RpcClient.make(TroupeRpcs, { disableTracing: true }).pipe(Effect.provide(protocol))
  }).pipe(
    Effect.mapError((e) => new ActorsError({ reason: "unavailable", message: `cannot connect to the troupe daemon at ${socket}: ${e.message}` }))
  )

/**
 * Builds a session-bound `Actors` over the daemon, starting it if needed.
 * @fails ActorsError `unavailable`.
 */
export const makeRemote = (options: ClientOptions = {}) =>
  Effect.gen(function* () {
    const config = yield* Config.TroupeConfig
    const home = options.home ?? config.home
    yield* ensureDaemon(home, options.autoStart ?? true, options.idleMs ?? 30 * 60 * 1000, config.daemonNode)
    const client = yield* makeRpcClient(Config.homePaths(home).socket)
    const session = options.session ?? "cli"
    const h: Record<string, string> = options.token !== undefined && options.token !== ""
      ? { [headers.token]: options.token }
      : { [headers.session]: session, ...(options.all === true ? { [headers.all]: "1" } : {}) }
    const call = { headers: h } as const
    const env = spawnEnvironment(options.env ?? Config.inheritedEnvironment())
    // VM requests also carry this process's own Vers settings, which the daemon uses for them
    // (a daemon started before they were exported, or a rotated key, needs no restart).
    const vers = yield* EffectConfig.all({
      baseUrl: EffectConfig.option(EffectConfig.nonEmptyString("VERS_BASE_URL")),
      apiKey: EffectConfig.option(EffectConfig.nonEmptyString("VERS_API_KEY"))
    }).pipe(Effect.orElseSucceed(() => ({ baseUrl: Option.none<string>(), apiKey: Option.none<string>() })))
    const vmCall = {
      headers: {
        ...h,
        ...Option.match(vers.baseUrl, { onNone: () => ({}), onSome: (v) => ({ [headers.versBaseUrl]: v }) }),
        ...Option.match(vers.apiKey, { onNone: () => ({}), onSome: (v) => ({ [headers.versApiKey]: v }) })
      }
    } as const
    const eff = <A, E extends { readonly _tag: string } = ActorsError>(e: Effect.Effect<A, E | RpcClientError>): Effect.Effect<A, Exclude<E, RpcClientError> | ActorsError> =>
      Effect.catchIf(e, (err): err is RpcClientError => err._tag === "RpcClientError", (err) => Effect.fail(unavailable(err))).pipe(
        Effect.catchAllCause((cause) => {
          const err = stopped(cause)
          return err === undefined ? Effect.failCause(cause) : Effect.fail(err)
        })
      )
    const str = <A>(s: Stream.Stream<A, ActorsError | RpcClientError>) =>
      Stream.catchTag(s, "RpcClientError", (err) => Stream.fail(unavailable(err))).pipe(
        Stream.catchAllCause((cause) => {
          const err = stopped(cause)
          return err === undefined ? Stream.failCause(cause) : Stream.fail(err)
        })
      )
    const shape: ActorsShape = {
      session,
      spawn: (input) => {
        // Checked here too: values too deep to serialise would be a defect of the socket write.
        const problem = spawnInputProblem(input)
        return problem === undefined ? eff(client.Spawn(SpawnRequest.make({ ...spawnRequestOf(input), env }), call)) : Effect.fail(new ActorsError({ reason: "invalid", message: problem }))
      },
      control: (run, type, o) => eff(client.Control({ run, type, generation: o?.generation }, call)),
      kill: (run) => eff(client.Control({ run, type: "control.kill" }, call)),
      inspect: (target, view, o) => eff(client.Inspect({ target, view, lines: o?.lines, status: o?.status, id: o?.id }, call)),
      list: (o) => eff(client.List({ status: o?.status ?? "all", session: o?.session }, call)),
      wait: (run, o) => eff(client.Wait({ run, timeout_ms: o?.timeoutMs }, call)),
      logs: (run, o) => str(client.Logs({ run, stream: o?.stream ?? "stdout", follow: o?.follow ?? false }, call)),
      events: (o) => str(client.Events({ since: o?.since ?? 0, follow: o?.follow ?? false }, call)),
      archive: (runs) => eff(client.Archive({ runs }, call)),
      prune: (o) => eff(client.Prune({ runs: o.runs, older_than_ms: o.olderThanMs }, call)),
      message: (envelope, o) => eff(client.Message({ envelope, idempotency_key: o?.idempotencyKey }, call)),
      inboxNext: (address, o) => eff(client.InboxNext({ address, claim: o?.claim ?? false, wait_ms: o?.waitMs }, call)),
      inboxList: (address, o) => eff(client.InboxList({ address, limit: o?.limit }, call)),
      inboxSettle: (address, id, o) => eff(client.InboxSettle({ address, id, error: o?.error }, call)),
      roomTail: (room, o) => str(client.RoomTail({ room, after_seq: o?.afterSeq, follow: o?.follow ?? false }, call))
    }
    const vms: VmsClient = {
      list: (o) => eff(client.VmList({ owned: o?.owned ?? false }, vmCall)),
      create: (req) => eff(client.VmCreate({ how: req.how, run: req.run, keep: req.keep ?? false, wait: req.wait ?? true }, vmCall)),
      delete: (vmId) => eff(client.VmDelete({ vm_id: vmId }, vmCall)),
      commit: (vmId, o) => eff(client.VmCommit({ vm_id: vmId, keep_paused: o?.keepPaused ?? false }, vmCall)),
      setState: (vmId, state) => eff(client.VmSetState({ vm_id: vmId, state }, vmCall)),
      status: (vmId) => eff(client.VmStatus({ vm_id: vmId }, vmCall))
    }
    return {
      actors: shape,
      vms,
      status: eff(client.Status(undefined, call)) as Effect.Effect<DaemonStatus, ActorsError>,
      /** Ticks while runs or rooms change, at most one per 250 ms (RPC `Watch`; `troupe top`). */
      watch: str(client.Watch(undefined, call)) as Stream.Stream<WatchTick, ActorsError>,
      shutdown: eff(client.Shutdown(undefined, call))
    }
  })

/**
 * VM operations over the daemon (`Vms`; docs/vers.md "CLI"), as this client's caller. Errors:
 * the Vers errors (`VersAuthError`, `VmNotFound`, …), `PersistenceError`, `ActorsError`.
 */
export interface VmsClient {
  /** VMs the API key sees; `owned`: only the caller session's ledger VMs. */
  readonly list: (options?: { readonly owned?: boolean | undefined }) => Effect.Effect<ReadonlyArray<VmEntry>, VmsError>
  /** A VM owned by the caller's session (or by `run`, deleted when it ends unless `keep`). */
  readonly create: (request: { readonly how: VmCreateHow; readonly run?: string | undefined; readonly keep?: boolean | undefined; readonly wait?: boolean | undefined }) => Effect.Effect<VmRecord, VmsError>
  /** Deletes a VM; its ledger record (null for a VM troupe did not create). */
  readonly delete: (vmId: string) => Effect.Effect<VmRecord | null, VmsError>
  readonly commit: (vmId: string, options?: { readonly keepPaused?: boolean | undefined }) => Effect.Effect<VmCommitted, VmsError>
  /** Pause (`Paused`) or resume (`Running`); the VM afterwards. */
  readonly setState: (vmId: string, state: VmTargetState) => Effect.Effect<VmEntry, VmsError>
  readonly status: (vmId: string) => Effect.Effect<VmEntry, VmsError>
}

/** The pid in `home`'s `daemon.pid`, if any. */
export const daemonPid = (home: string): number | undefined => {
  try {
    const pid = Number(readFileSync(Config.homePaths(home).daemonPid, "utf8").trim())
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

/**
 * Whether process `pid` exists and has not exited: a zombie (state `Z` or `X` in
 * `/proc/<pid>/stat`: exited, not yet reaped by its parent) counts as gone. Where `/proc` is
 * absent, `kill(pid, 0)` decides.
 */
export const processAlive = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // `pid (comm) state …`: comm may hold spaces and parentheses, the state follows the last ')'.
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3)
    return state !== "Z" && state !== "X"
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT" && existsSync("/proc/self/stat")) return false
  }
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as { code?: string }).code === "EPERM"
  }
}

/** Whether a daemon is running for `home` (socket answers) — for `daemon status`. */
export const isRunning = (home: string) => probe(Config.homePaths(home).socket)
