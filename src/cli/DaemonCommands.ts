/**
 * `troupe daemon start|stop|status`: the daemon that owns the runs of `TROUPE_HOME`. Only
 * `start --foreground` loads the runtime (with `import()`), because it is the daemon.
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import * as Client from "../daemon/Client.js"
import * as Config from "../layers/Config.js"
import { CliExit } from "./Common.js"
import { connect, json, print, printJson, withExamples } from "./Session.js"

/** The daemon itself (the whole runtime) loads only in `daemon start --foreground`. */
const runDaemon = (options: { readonly idleMs: number }) =>
  Effect.flatMap(Effect.promise(() => import("../daemon/Server.js")), (server) => server.runDaemon(options))

const daemonStart = Command.make(
  "start",
  {
    foreground: Options.boolean("foreground").pipe(Options.withDescription("Run in this process (never idles out) instead of detaching")),
    idleMs: Options.integer("idle-ms").pipe(Options.withDescription("Idle exit after this many ms without runs or clients (default 30 minutes; 0 = never)"), Options.optional)
  },
  (input) =>
    Effect.gen(function* () {
      const config = yield* Config.TroupeConfig
      if (input.foreground) {
        return yield* runDaemon({ idleMs: Option.getOrElse(input.idleMs, () => 0) }).pipe(
          Effect.catchTag("ActorsError", (e) =>
            e.reason === "unavailable"
              // Another daemon owns this home (e.g. two clients auto-started at once): fine.
              ? Console.error(`troupe daemon: ${e.message}; not starting a second one`)
              : Effect.fail(e)
          )
        )
      }
      const started = yield* Client.ensureDaemon(config.home, true, Option.getOrElse(input.idleMs, () => 30 * 60 * 1000), config.daemonNode)
      yield* print(started ? `troupe daemon started (socket ${Config.homePaths(config.home).socket})` : "troupe daemon already running")
    }).pipe(Effect.scoped)
).pipe(Command.withDescription(withExamples("Start the daemon for TROUPE_HOME (clients also start it on demand).", ["troupe daemon start", "troupe daemon start --foreground"])))

/** `daemon stop`: ask the daemon to stop, then wait for its process to exit (zombies count as gone). */
const stopDaemon = Effect.gen(function* () {
  const config = yield* Config.TroupeConfig
  if (!(yield* Client.isRunning(config.home))) return "not running" as const
  const pid = Client.daemonPid(config.home)
  // A daemon that went away meanwhile, or stops before answering, is stopping: wait for it.
  yield* Effect.flatMap(connect({ session: Option.none(), all: false }, false), (remote) => remote.shutdown).pipe(
    Effect.catchIf((e) => e.reason === "unavailable", () => Effect.void)
  )
  // Its exit means it has killed its runs and closed the store.
  yield* Effect.sync(() => pid === undefined || !Client.processAlive(pid)).pipe(
    Effect.repeat({ schedule: Client.stopPoll, until: (done) => done })
  )
  return "stopped" as const
}).pipe(Effect.scoped)

const daemonStop = Command.make("stop", {}, () =>
  Effect.gen(function* () {
    // One deadline for all of it, the connection's close included.
    const outcome = yield* stopDaemon.pipe(Effect.timeoutOption(Client.stopTimeoutMs))
    if (Option.isNone(outcome)) {
      const config = yield* Config.TroupeConfig
      const pid = Client.daemonPid(config.home)
      yield* Console.error(`error: the troupe daemon${pid === undefined ? "" : ` (pid ${pid})`} did not stop within ${Client.stopTimeoutMs} ms`)
      return yield* new CliExit({ code: 1 })
    }
    yield* print(outcome.value === "stopped" ? "troupe daemon stopped" : "troupe daemon is not running")
  })
).pipe(Command.withDescription(withExamples(
  "Stop the daemon: kill every run's process groups, close the store, remove the socket; waits until it has exited (30 s at most, else exit 1).",
  ["troupe daemon stop"]
)))

const daemonStatus = Command.make("status", { json }, (input) =>
  Effect.gen(function* () {
    const config = yield* Config.TroupeConfig
    if (!(yield* Client.isRunning(config.home))) {
      if (input.json) return yield* printJson({ running: false, home: config.home })
      yield* print(`troupe daemon is not running (home ${config.home})`)
      return yield* new CliExit({ code: 3 })
    }
    const remote = yield* connect({ session: Option.none(), all: false }, false)
    const s = yield* remote.status
    if (input.json) return yield* printJson({ running: true, ...s })
    yield* print(
      `troupe daemon running pid=${s.pid} version=${s.version} active_runs=${s.active_runs} home=${s.home} socket=${s.socket} ` +
        `containment=${s.containment} local_host=${s.local_host ?? "local"}`
    )
  }).pipe(Effect.scoped)
).pipe(Command.withDescription("Show whether the daemon runs (exit 3 when not), its pid and active runs."))

export const daemon = Command.make("daemon").pipe(
  Command.withDescription("Manage the daemon that owns the runs of TROUPE_HOME."),
  Command.withSubcommands([daemonStart, daemonStop, daemonStatus])
)

/** The subcommands over the daemon. */
