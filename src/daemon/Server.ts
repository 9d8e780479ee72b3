/**
 * The daemon: the one long-lived owner of actor processes for a `TROUPE_HOME`. It holds the
 * store's exclusive lock, migrates and reaps on startup, serves the `TroupeRpcs` group over
 * `TROUPE_HOME/troupe.sock` (mode 0600, directory 0700) and, on stop (SIGTERM/SIGINT,
 * `troupe daemon stop`, idle exit), stops accepting, kills every run's process groups, closes
 * the store and removes the socket.
 *
 * pi-actors had no daemon: each detached run was its own Node process. One owner is what
 * lets troupe kill, reap and account for every process (SPEC-adapters §1).
 */
import { FileSystem, type Headers } from "@effect/platform"
import * as SocketServer from "@effect/platform/SocketServer"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import type * as Net from "node:net"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import { RpcServer } from "@effect/rpc"
import { Clock, Context, Deferred, Duration, Effect, Layer, Option, Redacted, Ref, Schedule, Schema, Stream } from "effect"
import { ActorsError, isTerminal, SessionId } from "../domain/Run.js"
import * as Config from "../layers/Config.js"
import * as Runtime from "../layers/Runtime.js"
import { Inspector } from "../services/Inspector.js"
import { Router } from "../services/Router.js"
import { Supervisor } from "../services/Supervisor.js"
import { privateFileMode } from "../services/TroupeConfig.js"
import { Vms, type VmHow } from "../services/Vms.js"
import { VersCallerSettings } from "../services/VersConfig.js"
import type { VmCreateHow } from "../domain/Vms.js"
import { version } from "../version.js"
import { Authentication, CurrentCaller, DaemonStatus, headers, TroupeRpcs } from "../domain/Protocol.js"
import { batchWrites } from "./WriteBatching.js"
import * as RpcFraming from "./RpcFraming.js"

/** Idle exit: no runs, no requests in flight and none for this long (default 30 minutes). */
export const defaultIdleMs = 30 * 60 * 1000

/** How often the idle check runs: a quarter of the idle time, between 100 ms and 10 s. */
const idleCheck = (idleMs: number) => Schedule.spaced(Duration.millis(Math.min(10_000, Math.max(100, idleMs / 4))))

export interface DaemonOptions {
  /** Overrides of the configuration (`home`, `killGraceMs`, …). */
  readonly config?: Partial<Config.TroupeConfigShape> | undefined
  /** Idle exit after this many ms; `undefined` or 0 = never (`--foreground` default). */
  readonly idleMs?: number | undefined
}

const decodeSession = Schema.decodeUnknownOption(SessionId)

/**
 * Runs a VM request with the caller's own Vers settings when its client sent them (headers
 * `x-troupe-vers-base-url`, `x-troupe-vers-api-key`; see `VersCallerSettings`), else with the
 * daemon's.
 */
const asCaller = <A, E, R>(h: Headers.Headers, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  const baseUrl = h[headers.versBaseUrl]
  const apiKey = h[headers.versApiKey]
  if (baseUrl === undefined && apiKey === undefined) return effect
  return Effect.provideService(effect, VersCallerSettings, {
    baseUrl: baseUrl === undefined || baseUrl === "" ? undefined : baseUrl,
    apiKey: apiKey === undefined || apiKey === "" ? undefined : Redacted.make(apiKey)
  })
}

const vmHowOf = (how: VmCreateHow): VmHow =>
  how._tag === "root"
    ? { _tag: "root", config: { vcpuCount: how.vcpu_count, memSizeMib: how.mem_size_mib, fsSizeMib: how.fs_size_mib } }
    : how._tag === "branch"
    ? { _tag: "branch", vmId: how.vm_id }
    : { _tag: "restore", commitId: how.commit_id }

/**
 * The daemon's socket server: Unix socket `path`, each connection's writes batched and bounded
 * (see WriteBatching), each live connection's Node socket in `connections`. A connection that
 * ends with output still queued for its client (a stopped follower) is destroyed, not left to
 * drain: the platform only half-closes it, and closing the server waits for every connection
 * to be gone.
 */
const batchedServer = (path: string, connections: Set<Net.Socket>): Layer.Layer<SocketServer.SocketServer, SocketServer.SocketServerError> =>
  Layer.scoped(
    SocketServer.SocketServer,
    Effect.map(NodeSocketServer.make({ path }), (server) =>
      SocketServer.SocketServer.of({
        address: server.address,
        run: (handler) =>
          server.run((socket) =>
            // The platform provides the Node socket of the connection to its handler.
            Effect.flatMap(Effect.serviceOption(NodeSocket.NetSocket), (conn) =>
              Effect.ensuring(
                Effect.zipRight(Effect.sync(() => Option.map(conn, (c) => connections.add(c))), handler(batchWrites(socket))),
                Effect.sync(() => {
                  if (Option.isNone(conn)) return
                  connections.delete(conn.value)
                  if (conn.value.writableLength > 0) conn.value.destroy()
                })
              ))
          )
      })
    )
  )

/** Activity bookkeeping for the idle exit. */
interface Activity {
  readonly inFlight: Ref.Ref<number>
  readonly last: Ref.Ref<number>
}

const tracked = <A, E, R>(activity: Activity, e: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.zipRight(Ref.update(activity.inFlight, (n) => n + 1), Effect.flatMap(Clock.currentTimeMillis, (t) => Ref.set(activity.last, t))),
    () => e,
    () => Effect.zipRight(Ref.update(activity.inFlight, (n) => n - 1), Effect.flatMap(Clock.currentTimeMillis, (t) => Ref.set(activity.last, t)))
  )

const trackedStream = <A, E, R>(activity: Activity, s: Stream.Stream<A, E, R>) =>
  Stream.unwrapScoped(
    Effect.as(
      Effect.acquireRelease(Ref.update(activity.inFlight, (n) => n + 1), () =>
        Effect.zipRight(Ref.update(activity.inFlight, (n) => n - 1), Effect.flatMap(Clock.currentTimeMillis, (t) => Ref.set(activity.last, t)))
      ),
      s
    )
  )

/**
 * Runs the daemon until it is told to stop (RPC `Shutdown`), goes idle, or is interrupted
 * (SIGTERM/SIGINT through `NodeRuntime.runMain`). Everything it owns is released on the way out.
 * @fails ActorsError `unavailable` when another daemon (or embedded runtime) owns `TROUPE_HOME`,
 *   `internal` when the socket cannot be bound or the store cannot be opened.
 */
export const runDaemon = (options: DaemonOptions = {}) =>
  Effect.scoped(
    Effect.gen(function* () {
      const stop = yield* Deferred.make<void>()
      const startedAt = yield* Clock.currentTimeMillis
      const activity: Activity = { inFlight: yield* Ref.make(0), last: yield* Ref.make(startedAt) }

      // Leaves get their spawning client's environment (sent with each spawn) over a minimal
      // base, never this process's: whoever auto-started the daemon keeps their secrets.
      const base = yield* Layer.build(Runtime.layer(options.config ?? {}, { leafEnvironment: Config.daemonLeafEnvironment() }))
      // VMs over the runtime; built after it, so released before it (held VMs are deleted
      // while the store is still open to record it).
      const runtime = Context.merge(base, yield* Layer.build(Runtime.vms().pipe(Layer.provide(Layer.succeedContext(base)))))
      const config = Config.TroupeConfig.pipe(Effect.provide(runtime))
      const c = yield* config
      const paths = Config.homePaths(c.home)
      const fs = yield* FileSystem.FileSystem.pipe(Effect.provide(runtime))

      // We hold the store's exclusive lock, so a socket or pid file left here is stale. The pid
      // file is written before listening: a client that sees the socket also finds the pid.
      // Finalizers run in reverse: the server closes first (the socket goes), then the runtime
      // is released (every run killed, the store closed and unlocked); `troupe daemon stop`
      // therefore waits for this process to exit, not for the socket.
      yield* fs.remove(paths.socket).pipe(Effect.ignore)
      // 0600 like every file troupe writes under TROUPE_HOME (chmod too: the mode only applies on create).
      yield* fs.writeFileString(paths.daemonPid, `${process.pid}\n`, { mode: privateFileMode }).pipe(
        Effect.zipRight(fs.chmod(paths.daemonPid, privateFileMode)),
        Effect.ignore
      )

      const auth = Layer.effect(
        Authentication,
        Effect.gen(function* () {
          const supervisor = yield* Supervisor
          return ({ headers: h }) =>
            Effect.gen(function* () {
              const token = h[headers.token]
              if (token !== undefined && token !== "") {
                const caller = yield* supervisor.callerForToken(token)
                if (Option.isNone(caller)) return yield* new ActorsError({ reason: "forbidden", message: "unknown run token" })
                return caller.value
              }
              const session = h[headers.session] ?? "cli"
              if (Option.isNone(decodeSession(session))) return yield* new ActorsError({ reason: "forbidden", message: "invalid session id" })
              return { session, all: h[headers.all] === "1" }
            })
        })
      )

      const handlers = TroupeRpcs.toLayer(
        Effect.gen(function* () {
          const supervisor = yield* Supervisor
          const inspector = yield* Inspector
          const router = yield* Router
          const vms = yield* Vms
          const reaped = supervisor.reaped
          return {
            Spawn: (req) => tracked(activity, Effect.flatMap(CurrentCaller, (caller) => supervisor.spawn(caller, req))),
            Control: (req) => tracked(activity, Effect.flatMap(CurrentCaller, (caller) => supervisor.control(caller, req.run, req.type, req.generation))),
            Inspect: (req) =>
              tracked(activity, Effect.flatMap(CurrentCaller, (caller) => inspector.inspect(caller, req.target, req.view, { lines: req.lines, status: req.status, id: req.id }))),
            List: (req) => tracked(activity, Effect.flatMap(CurrentCaller, (caller) => supervisor.list(caller, req.status, req.session))),
            Wait: (req) => tracked(activity, Effect.flatMap(CurrentCaller, (caller) => supervisor.wait(caller, req.run, req.timeout_ms))),
            Logs: (req) =>
              trackedStream(activity, Stream.unwrap(Effect.map(CurrentCaller, (caller) => supervisor.logs(caller, req.run, req.stream, req.follow)))),
            Events: (req) =>
              trackedStream(activity, Stream.unwrap(Effect.map(CurrentCaller, (caller) => supervisor.sessionEvents(caller, req.since, req.follow)))),
            Watch: () => trackedStream(activity, Stream.unwrap(Effect.map(CurrentCaller, (caller) => supervisor.watch(caller)))),
            Prune: (req) => tracked(activity, Effect.flatMap(CurrentCaller, (caller) => supervisor.prune(caller, req.runs, req.older_than_ms ?? 0))),
            Archive: (req) => tracked(activity, Effect.flatMap(CurrentCaller, (caller) => supervisor.archive(caller, req.runs))),
            Message: (req) => tracked(activity, Effect.flatMap(CurrentCaller, (caller) => router.send(caller, req.envelope, { idempotencyKey: req.idempotency_key }))),
            InboxNext: (req) =>
              tracked(activity, Effect.flatMap(CurrentCaller, (caller) => router.inboxNext(caller, req.address, { claim: req.claim, waitMs: req.wait_ms }))),
            InboxList: (req) => tracked(activity, Effect.flatMap(CurrentCaller, (caller) => router.inboxList(caller, req.address, req.limit))),
            InboxSettle: (req) => tracked(activity, Effect.flatMap(CurrentCaller, (caller) => router.inboxSettle(caller, req.address, req.id, { error: req.error }))),
            RoomTail: (req) =>
              trackedStream(activity, Stream.unwrap(Effect.map(CurrentCaller, (caller) => router.roomTail(caller, req.room, { afterSeq: req.after_seq, follow: req.follow })))),
            VmList: (req, { headers: h }) => asCaller(h, tracked(activity, Effect.flatMap(CurrentCaller, (caller) => vms.list(caller, { owned: req.owned })))),
            VmCreate: (req, { headers: h }) => asCaller(h,
              tracked(
                activity,
                Effect.flatMap(CurrentCaller, (caller) => {
                  const how = vmHowOf(req.how)
                  const ref = req.run ?? caller.run
                  if (ref === undefined) return vms.create(caller, how, { wait: req.wait })
                  // Run-owned: held until the run ends (its owner waits, whoever asked).
                  return Effect.flatMap(supervisor.get(caller, ref), (run) => {
                    if (isTerminal(run.info.state)) {
                      return Effect.fail(new ActorsError({ reason: "invalid", message: `run:${run.info.id} has ended (${run.info.state}): a VM it owned would be deleted at once` }))
                    }
                    const owner = { session: run.info.owner, all: false }
                    return vms.hold({ session: run.info.owner, run: run.info.id, keep: req.keep }, how, supervisor.wait(owner, run.info.id), { wait: req.wait })
                  })
                })
              )),
            VmDelete: (req, { headers: h }) => asCaller(h, tracked(activity, Effect.flatMap(CurrentCaller, (caller) => Effect.map(vms.delete(caller, req.vm_id), (r) => r ?? null)))),
            VmCommit: (req, { headers: h }) => asCaller(h, tracked(activity, Effect.flatMap(CurrentCaller, (caller) => vms.commit(caller, req.vm_id, { keepPaused: req.keep_paused })))),
            VmSetState: (req, { headers: h }) => asCaller(h, tracked(activity, Effect.flatMap(CurrentCaller, (caller) => vms.setState(caller, req.vm_id, req.state)))),
            VmStatus: (req, { headers: h }) => asCaller(h, tracked(activity, Effect.flatMap(CurrentCaller, (caller) => vms.status(caller, req.vm_id)))),
            Status: () =>
              Effect.map(supervisor.activeCount, (active) =>
                new DaemonStatus({
                  pid: process.pid,
                  version,
                  home: c.home,
                  socket: paths.socket,
                  started_at: startedAt,
                  active_runs: active,
                  reaped_at_start: reaped,
                  containment: "process-group+marker",
                  local_host: c.localHost
                })
              ),
            Shutdown: () =>
              Effect.flatMap(CurrentCaller, (caller) =>
                caller.run !== undefined
                  ? Effect.fail(new ActorsError({ reason: "forbidden", message: "an actor process cannot stop the daemon" }))
                  : Deferred.succeed(stop, undefined).pipe(Effect.asVoid)
              )
          }
        })
      )

      // Stopping drops every client first, so no request waits on a client that does not read
      // (the RPC server waits for each client's requests to answer before it closes).
      const connections = new Set<Net.Socket>()
      // No spans per request: nothing exports them, and a span per message cost more than
      // routing a room post.
      const server = RpcServer.layer(TroupeRpcs, { disableTracing: true }).pipe(
        Layer.provide(handlers),
        Layer.provide(auth),
        Layer.provide(RpcServer.layerProtocolSocketServer),
        Layer.provide(RpcFraming.layer),
        Layer.provide(batchedServer(paths.socket, connections)),
        // Only what the handlers and the authentication use: the RPC server merges this
        // context into every request's (copying it), so the whole runtime would cost a copy
        // of every service per request.
        Layer.provide(Layer.succeedContext(Context.pick(Supervisor, Inspector, Router, Vms)(runtime)))
      )
      yield* Layer.build(server).pipe(
        Effect.mapError((e) => new ActorsError({ reason: "internal", message: `cannot listen on ${paths.socket}: ${e.message}` }))
      )
      yield* Effect.addFinalizer(() => Effect.sync(() => connections.forEach((conn) => conn.destroy())))
      yield* Effect.addFinalizer(() => Effect.zipRight(fs.remove(paths.socket), fs.remove(paths.daemonPid)).pipe(Effect.ignore))
      yield* fs.chmod(paths.socket, 0o600).pipe(Effect.mapError((e) => new ActorsError({ reason: "internal", message: e.message })))
      yield* Effect.logInfo(`troupe daemon ${version} listening on ${paths.socket} (pid ${process.pid})`)
      // Startup reconciliation of VMs (after reaping, which ran when the runtime was built):
      // in the background, so a slow or absent Vers never delays the socket. It logs its report.
      yield* Effect.forkScoped(Effect.flatMap(Vms.pipe(Effect.provide(runtime)), (vms) => vms.reconcile()))

      const idleMs = options.idleMs ?? 0
      if (idleMs > 0) {
        const supervisor = yield* Supervisor.pipe(Effect.provide(runtime))
        yield* Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          const active = yield* supervisor.activeCount
          const inFlight = yield* Ref.get(activity.inFlight)
          const last = yield* Ref.get(activity.last)
          if (active === 0 && inFlight === 0 && now - last >= idleMs) {
            yield* Effect.logInfo(`troupe daemon idle for ${Duration.format(Duration.millis(idleMs))}; exiting`)
            yield* Deferred.succeed(stop, undefined)
          }
        }).pipe(Effect.repeat(idleCheck(idleMs)), Effect.forkScoped)
      }

      yield* Deferred.await(stop)
      yield* Effect.logInfo("troupe daemon stopping")
    })
  )
