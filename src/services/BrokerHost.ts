/**
 * `BrokerHost`: a Host v2 ({@link HostShape}) over one exec-broker connection (docs/broker.md).
 * Every leaf is a command the broker runs in its own process group on the broker's machine;
 * output arrives as `data` frames under per-stream credit, stdin goes out as `write` frames.
 *
 * Locally the broker is a child process (`BrokerHost.makeChild` / `layerChild`): a small
 * spawner that forks faster than a large daemon. On a Vers VM the same program runs over one
 * long-lived SSH channel (pi-vers opened one `ssh` process per command instead).
 */
import { spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { Context, Deferred, Effect, ExecutionStrategy, Exit, Layer, Option, Scope, Sink, Stream, SynchronizedRef } from "effect"
import { HostError, type HostShape, type LeafProcess, type ProcessIdentity, type StartSpec } from "./Host.js"
import { type BrokerChannel, type BrokerConnection, connect, type Leaf, unavailable } from "./internal/BrokerConnection.js"

export type { BrokerChannel } from "./internal/BrokerConnection.js"

/** Options of {@link make}. */
export interface BrokerHostOptions {
  /** The host's name, carried by every identity it makes (default `"broker"`; VmHost uses `"vm:<id>"`). */
  readonly name?: string | undefined
  /** SIGTERM → SIGKILL grace in ms when a leaf's scope closes or a leaf is reaped (default 5,000 ms). */
  readonly graceMs?: number | undefined
  /** How long to wait for the broker's `hello`, in ms (default 30,000 ms: a loaded machine or a slow SSH link). */
  readonly helloTimeoutMs?: number | undefined
  /**
   * A fresh channel to the same machine. When the connection dies with leaves running, one is
   * opened to `reap` them (identities verified as LocalHost does) before their scopes finish
   * closing. Without it they are left to the broker (which sweeps them when its input ends)
   * and a warning is logged.
   */
  readonly reconnect?: Effect.Effect<BrokerChannel, HostError, Scope.Scope> | undefined
}

/** Options of {@link makeChild}: a broker run as a local child process. */
export interface BrokerChildOptions extends Omit<BrokerHostOptions, "reconnect" | "name"> {
  /** Path of `exec-broker.mjs` (default: the one built into this package's `dist/broker/`). */
  readonly program?: string | undefined
  /** Node executable running the broker (default: this process's). */
  readonly node?: string | undefined
  /** The broker's environment, the base of every leaf's (default: this process's); undefined values are left out. */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
}

const defaultGraceMs = 5000
const defaultHelloTimeoutMs = 30_000

/** How long a leaf's scope waits for `killed`: three sweep rounds (grace + 1 s each) plus 10 s, in ms. */
const killAnswerBound = (graceMs: number) => 3 * (graceMs + 1000) + 10_000

const wireIdentity = (identity: ProcessIdentity) => ({
  pid: identity.pid,
  pgid: identity.pgid,
  start_time: identity.startTime,
  ...(identity.marker === undefined ? {} : { marker: identity.marker })
})

const refused = (reason: "spawn" | "io", what: string) => (answer: { readonly t: string; readonly message?: string }) =>
  new HostError({ reason, code: 1, message: `${what}: ${answer.message ?? `unexpected ${answer.t} answer`}` })

/**
 * A {@link HostShape} named `options.name` (default `"broker"`) over `channel`, valid for the
 * current scope. Identities are `{ host: <name>, pid, pgid, startTime, marker }` on the
 * broker's machine.
 *
 * - `start`: `spawn` → `started`; closing the leaf's scope sends `kill` (TERM, `graceMs`, KILL
 *   of the group and marked escapees) and waits for `killed`, unless the leaf already exited
 *   and both streams ended.
 * - `resolve` asks the broker's machine; `reap` sends `reap`.
 * - The broker's death, a malformed frame or a protocol version mismatch fail every pending and
 *   running leaf (`exit`, streams, stdin, `signal`) with `HostError` `unavailable`.
 * @fails HostError `unavailable` when the handshake does not complete.
 */
export const make = (channel: BrokerChannel, options: BrokerHostOptions = {}) => Effect.map(makeTracked(channel, options), (t) => t.host)

/** {@link make}, plus whether the connection has died (a dead broker host fails every call with `unavailable`). */
const makeTracked = (channel: BrokerChannel, options: BrokerHostOptions) =>
  Effect.gen(function* () {
    const graceMs = options.graceMs ?? defaultGraceMs
    const helloTimeoutMs = options.helloTimeoutMs ?? defaultHelloTimeoutMs
    const name = options.name ?? "broker"
    const conn = yield* connect(channel, { helloTimeoutMs, name })
    const recovered = yield* Deferred.make<void>()

    // Once the connection is dead, reap what it was running through a fresh connection.
    const recover = Effect.gen(function* () {
      const error = yield* conn.closed
      const orphans = conn.running()
      if (orphans.length === 0) return
      if (options.reconnect === undefined) {
        return yield* Effect.logWarning(`BrokerHost: ${orphans.length} leaves could not be reaped after: ${error.message}`)
      }
      const reconnect = options.reconnect
      yield* Effect.scoped(
        Effect.gen(function* () {
          const fresh = yield* connect(yield* reconnect, { helloTimeoutMs })
          yield* Effect.forEach(orphans, (identity) => fresh.request({ t: "reap", identity: wireIdentity(identity), graceMs }), {
            concurrency: "unbounded",
            discard: true
          })
        })
      ).pipe(Effect.catchAll((e) => Effect.logWarning(`BrokerHost: reaping leaves of a lost broker failed: ${e.message}`)))
    }).pipe(Effect.ensuring(Deferred.succeed(recovered, undefined)))
    yield* Effect.forkScoped(recover)

    const release = (leaf: Leaf) =>
      Effect.gen(function* () {
        const finished = leaf.exited && leaf.ended.stdout && leaf.ended.stderr
        if (conn.deadWith() === undefined && !finished) {
          // Bounded, and interruptible so the bound can fire inside this finalizer: a broker that
          // is alive but stuck (stopped, a wedged link) must not hang the scope.
          const answered = yield* conn.send({ t: "kill", id: leaf.id, graceMs }).pipe(
            Effect.zipRight(Effect.interruptible(Deferred.await(leaf.killed))),
            Effect.timeoutOption(killAnswerBound(graceMs)),
            Effect.orElseSucceed(() => Option.some(undefined))
          )
          if (Option.isNone(answered)) {
            yield* Effect.logWarning("BrokerHost: the exec broker did not confirm a kill in time").pipe(
              Effect.annotateLogs({ id: leaf.id, pid: leaf.identity?.pid })
            )
          }
        }
        if (conn.deadWith() !== undefined) yield* Deferred.await(recovered)
        yield* conn.forget(leaf)
      })

    const start = Effect.fn("BrokerHost.start")(
      function* (spec: StartSpec) {
        const leaf = yield* Effect.acquireRelease(
          Effect.gen(function* () {
            const leaf = yield* conn.register
            const stdin = spec.stdin._tag === "Pipe" ? { stdin: "pipe" } : spec.stdin._tag === "File" ? { stdin: "file", path: spec.stdin.path } : { stdin: "none" }
            yield* conn.send({ t: "spawn", id: leaf.id, argv: spec.argv, cwd: spec.cwd, env: spec.env ?? {}, ...stdin })
            yield* Deferred.await(leaf.started).pipe(Effect.tapError(() => conn.forget(leaf)))
            return leaf
          }),
          release
        )
        const closeStdin = Effect.suspend(() => (leaf.stdinClosed ? Effect.void : conn.send({ t: "close", id: leaf.id })))
        const process: LeafProcess = {
          identity: leaf.identity!,
          stdout: conn.output(leaf, "stdout"),
          stderr: conn.output(leaf, "stderr"),
          stdin: spec.stdin._tag === "Pipe"
            ? Sink.forEach((chunk: Uint8Array) => conn.writeStdin(leaf, chunk)).pipe(Sink.mapEffect(() => closeStdin))
            : Sink.drain,
          exit: Deferred.await(leaf.exit),
          signal: (signal) =>
            conn.request({ t: "signal", id: leaf.id, signal }).pipe(
              Effect.flatMap((answer) => (answer.t === "signaled" ? Effect.void : Effect.fail(refused("io", `cannot send ${signal}`)(answer))))
            )
        }
        return process
      }
    )

    const host: HostShape = {
      name,
      start,
      resolve: Effect.fn("BrokerHost.resolve")(function* (argv: ReadonlyArray<string>, cwd: string, home: string) {
        const answer = yield* conn.request({ t: "resolve", argv, cwd, home })
        if (answer.t === "resolved") return answer.argv
        return yield* refused("spawn", `cannot resolve ${argv[0]}`)(answer)
      }),
      reap: Effect.fn("BrokerHost.reap")(function* (identity: ProcessIdentity) {
        const answer = yield* conn.request({ t: "reap", identity: wireIdentity(identity), graceMs })
        if (answer.t === "reaped") return answer.count
        return yield* refused("io", `cannot reap pid ${identity.pid}`)(answer)
      })
    }
    return { host, dead: () => conn.deadWith() !== undefined }
  })

// ---------------------------------------------------------------------------------------------
// A broker as a local child process

/** `dist/broker/exec-broker.mjs` from this module: compiled (`dist/src/services`), bundled (`dist/bin/cli.cjs`) or source (`src/services`). */
export const defaultProgram = (): string | undefined =>
  ["../broker/exec-broker.mjs", "../../broker/exec-broker.mjs", "../../dist/broker/exec-broker.mjs"]
    .map((relative) => fileURLToPath(new URL(relative, import.meta.url)))
    .find((file) => fs.existsSync(file))

const definedEntries = (env: Readonly<Record<string, string | undefined>>) =>
  Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined))

const exitOf = (child: ChildProcess) =>
  Effect.async<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.succeed({ code: child.exitCode, signal: child.signalCode }))
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => resume(Effect.succeed({ code, signal }))
    child.once("exit", onExit)
    return Effect.sync(() => child.off("exit", onExit))
  })

/**
 * Starts `node exec-broker.mjs` as a child of this process and returns a channel over its
 * stdio, valid for the scope. Closing the scope ends the broker's stdin: the broker sweeps
 * every command it runs (TERM, `graceMs`, KILL) and exits; after `graceMs` + 5,000 ms it is
 * SIGKILLed.
 * @fails HostError `unavailable` when the program is missing or Node cannot start.
 */
export const childChannel = (options: BrokerChildOptions = {}) =>
  Effect.gen(function* () {
    const program = options.program ?? defaultProgram()
    if (program === undefined || !fs.existsSync(program)) {
      return yield* Effect.fail(unavailable(`the exec broker program was not found (${program ?? "dist/broker/exec-broker.mjs"}); run npm run build`))
    }
    const graceMs = options.graceMs ?? defaultGraceMs
    const child = yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          spawn(options.node ?? process.execPath, [program, "--grace-ms", String(graceMs)], {
            stdio: ["pipe", "pipe", "pipe"],
            ...(options.env === undefined ? {} : { env: definedEntries(options.env) })
          }),
        catch: (error) => unavailable(`cannot start the exec broker: ${error instanceof Error ? error.message : String(error)}`)
      }),
      (child) =>
        Effect.gen(function* () {
          child.stdin?.end()
          // Interruptible: finalizers are not, and a timeout must interrupt the wait it races.
          const ended = yield* Effect.timeoutOption(Effect.interruptible(exitOf(child)), graceMs + 5000)
          if (Option.isNone(ended)) {
            child.kill("SIGKILL")
            yield* exitOf(child)
          }
        })
    )
    child.on("error", () => undefined)
    child.stdin!.on("error", () => undefined)
    let stderrTail = ""
    child.stderr!.on("data", (chunk: Buffer) => {
      stderrTail = (stderrTail + chunk.toString("utf8")).slice(-2000)
    })
    const data = Stream.async<Uint8Array, HostError>((emit) => {
      child.stdout!.on("data", (chunk: Buffer) => void emit.single(chunk))
      child.stdout!.once("close", () => void emit.end())
      child.stdout!.once("error", () => void emit.end())
    }, "unbounded")
    // After its output ends: say how the broker went, from its exit status and last stderr line.
    const ending = Effect.gen(function* () {
      const status = yield* Effect.timeoutOption(exitOf(child), 1000)
      const how = Option.match(status, {
        onNone: () => "closed its output",
        onSome: ({ code, signal }) => (signal !== null ? `was killed by ${signal}` : `exited with code ${code}`)
      })
      const last = stderrTail.trim().split("\n").slice(-1)[0]
      return yield* Effect.fail(unavailable(`the exec broker (pid ${child.pid}) ${how}${last ? `: ${last}` : ""}`))
    })
    const channel: BrokerChannel = {
      input: Stream.concat(data, Stream.fromEffect(ending)),
      write: (bytes) => {
        const stdin = child.stdin
        if (stdin !== null && stdin.writable) stdin.write(bytes)
      }
    }
    return channel
  })

/**
 * A {@link HostShape} over a broker started as a local child process (see {@link childChannel}),
 * valid for the scope; after the broker dies, leftovers are reaped through a fresh child.
 */
export const makeChild = (options: BrokerChildOptions = {}) =>
  Effect.flatMap(childChannel(options), (channel) => make(channel, { ...options, reconnect: childChannel(options) }))

/**
 * A broker host over local children, restarted on demand: returns the effect that gives the
 * current {@link HostShape}. The first call starts a child broker (in a scope of its own inside
 * the caller's scope); later calls reuse it while it lives. After the child failed to start, or
 * died (its leaves then failed with `unavailable` and were reaped through a fresh child), the
 * next call starts a new one — one at a time, however many callers ask together.
 * @fails HostError `unavailable` (from the returned effect) when a child cannot be started.
 */
export const makeRestartingChild = (options: BrokerChildOptions = {}) =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const current = yield* SynchronizedRef.make<{ readonly host: HostShape; readonly dead: () => boolean } | undefined>(undefined)
    return SynchronizedRef.modifyEffect(current, (live) =>
      live !== undefined && !live.dead()
        ? Effect.succeed([live.host, live] as const)
        : Effect.gen(function* () {
          // A child scope per broker: a dead broker's recovery (reaping its leaves) keeps running
          // until the caller's scope closes, and a failed start releases what it opened.
          const child = yield* Scope.fork(scope, ExecutionStrategy.sequential)
          const tracked = yield* Effect.flatMap(childChannel(options), (channel) => makeTracked(channel, { ...options, reconnect: childChannel(options) })).pipe(
            Scope.extend(child),
            Effect.tapError(() => Scope.close(child, Exit.void))
          )
          return [tracked.host, tracked] as const
        })
    )
  })

/**
 * The broker host as a service: `BrokerHost.layerChild(options)` runs a local broker child for
 * the layer's lifetime. To let `Hosts` hand it out for `on: "broker"` (or for every local leaf
 * with `TROUPE_LOCAL_HOST=broker`), map `"broker"` to this service.
 */
export class BrokerHost extends Context.Tag("troupe/BrokerHost")<BrokerHost, HostShape>() {
  static readonly make = make
  static readonly makeChild = makeChild
  static readonly makeRestartingChild = makeRestartingChild
  static readonly childChannel = childChannel
  static readonly layerChild = (options?: BrokerChildOptions): Layer.Layer<BrokerHost, HostError> =>
    Layer.scoped(BrokerHost, makeChild(options))
  /** A local broker child serving any tag of {@link HostShape} (e.g. `BrokerHost.layerAs(Host, { graceMs })`). */
  static readonly layerAs = <I>(tag: Context.Tag<I, HostShape>, options?: BrokerChildOptions): Layer.Layer<I, HostError> =>
    Layer.scoped(tag, makeChild(options))
}

export type { BrokerConnection }
