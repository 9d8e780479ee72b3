/**
 * CLI commands over the daemon (SPEC-adapters §2): `spawn`, `ps`, `inspect`, `logs`, `wait`,
 * `kill`, `events`, `archive`, `prune`, plus the messaging commands (`MessageCommands.ts`) and
 * `daemon start|stop|status` (`DaemonCommands.ts`). Every command acts as a session or, inside
 * an actor process, as its run (`Session.ts`); `--all` acts across sessions. Compact text by
 * default; `--json` prints the documented JSON shapes.
 */
import { Args, Command, Options } from "@effect/cli"
import { Clock, Console, Duration, Effect, Option, Stream } from "effect"
import { compact } from "../domain/Inspect.js"
import type { ControlType } from "../domain/Run.js"
import * as Config from "../layers/Config.js"
import { CliExit, parsePairs, parseValuesJson, templateFromFlag, UsageError, vmCwd } from "./Common.js"
import { daemon } from "./DaemonCommands.js"
import { messageCommands } from "./MessageCommands.js"
import { withProgress } from "./Progress.js"
import { all, callerOptions, connect, cursorOption, exitCodeOfRun, followOption, type Identity, json, parseDuration, print, printJson, printResult, psLine, session, statusFilter, withExamples } from "./Session.js"

export { exitCodeOfRun, psLine } from "./Session.js"

// ---------------------------------------------------------------------------------------------
// spawn

/**
 * `spawn --agent`: an agent run (docs/agents.md "Agent runs") with the positional words as its
 * task; `--pi` or this shell's `PI_PATH` names Pi (else the daemon's `PI_PATH`, else `pi`).
 */
/** The spawn request fields every run kind takes from the same flags (`--as`, `--on`, `--restart…`, `--max-log-bytes`, `--worktree`/`--clean`). */
const sharedSpawnFields = (
  input: {
    readonly as: Option.Option<string>
    readonly on: Option.Option<string>
    readonly restart: Option.Option<"never" | "on-failure" | "always">
    readonly maxRestarts: Option.Option<number>
    readonly maxLogBytes: Option.Option<number>
    readonly worktree: boolean
    readonly clean: boolean
  },
  windowMs: number | undefined
) => ({
  as: Option.getOrUndefined(input.as),
  on: Option.getOrUndefined(input.on),
  restart: Option.isSome(input.restart) || Option.isSome(input.maxRestarts) || windowMs !== undefined
    ? { restart: Option.getOrUndefined(input.restart), max_restarts: Option.getOrUndefined(input.maxRestarts), restart_window_ms: windowMs }
    : undefined,
  max_log_bytes: Option.getOrUndefined(input.maxLogBytes),
  isolation: input.worktree ? (input.clean ? "worktree-clean" as const : "worktree" as const) : undefined
})

const spawnAgent = (input: {
  readonly positionals: ReadonlyArray<string>
  readonly template: Option.Option<string>
  readonly values: Option.Option<string>
  readonly as: Option.Option<string>
  readonly cwd: Option.Option<string>
  readonly on: Option.Option<string>
  readonly restart: Option.Option<"never" | "on-failure" | "always">
  readonly maxRestarts: Option.Option<number>
  readonly restartWindow: Option.Option<string>
  readonly maxLogBytes: Option.Option<number>
  readonly model: Option.Option<string>
  readonly pi: Option.Option<string>
  readonly worktree: boolean
  readonly clean: boolean
  readonly session: Option.Option<string>
  readonly json: boolean
}) =>
  Effect.gen(function* () {
    if (Option.isSome(input.template) || Option.isSome(input.values)) return yield* new UsageError({ message: "--agent takes a task, not --template or --values" })
    const task = input.positionals.join(" ").trim()
    const cwd = Option.getOrElse(input.cwd, () => process.cwd())
    const window = Option.isSome(input.restartWindow) ? yield* parseDuration(input.restartWindow.value) : undefined
    // On a VM, --pi is a command line there (default pi): neither PI_PATH nor this cwd applies.
    const onVm = Option.isSome(input.on) && input.on.value !== "local"
    const pi = onVm ? Option.getOrUndefined(input.pi) : Option.getOrUndefined(Option.orElse(input.pi, () => Option.fromNullable(process.env.PI_PATH || undefined)))
    const remote = yield* connect({ session: input.session, all: false })
    const run = yield* remote.actors.spawn({
      kind: "agent",
      task: task === "" ? undefined : task,
      model: Option.getOrUndefined(input.model),
      // A path is made absolute here (the daemon has its own cwd); a bare name is looked up on PATH.
      pi: pi === undefined || onVm || !pi.includes("/") ? pi : Config.resolvePath(process.cwd(), pi),
      cwd: Config.resolvePath(process.cwd(), cwd),
      ...sharedSpawnFields(input, window)
    })
    yield* printResult(input.json, run, (run) =>
      `${run.address} ${run.state} (agent, generation ${run.generation.slice(0, 8)})\n` +
        `Next: troupe inspect ${run.address} status | troupe inspect ${run.address} output | troupe message to=${run.address} type=task.prompt body="…" | troupe kill ${run.address}`
    )
  })

const spawn = Command.make(
  "spawn",
  {
    positionals: Args.text({ name: "recipe | k=v | task" }).pipe(
      Args.withDescription("A recipe id or recipe file (.json), then key=value pairs; with --agent: the task text"),
      Args.repeated
    ),
    template: Options.text("template").pipe(Options.withDescription("An inline command template instead of a recipe"), Options.optional),
    values: Options.text("values").pipe(Options.withDescription("A JSON object of values; wins over key=value pairs"), Options.optional),
    as: Options.text("as").pipe(Options.withDescription("Run id (run:<id> or <id>); generated when absent"), Options.optional),
    cwd: Options.text("cwd").pipe(Options.withDescription("Working directory (default: the current directory)"), Options.optional),
    on: Options.text("on").pipe(Options.withDescription("Where leaves without their own `on` run: local (default), vm:<id>, commit:<id> or golden"), Options.optional),
    restart: Options.choice("restart", ["never", "on-failure", "always"]).pipe(
      Options.withDescription("Restart policy (default never)"),
      Options.optional
    ),
    maxRestarts: Options.integer("max-restarts").pipe(Options.withDescription("Restarts allowed within --restart-window (default 3)"), Options.optional),
    restartWindow: Options.text("restart-window").pipe(Options.withDescription("Window of --max-restarts (default 60s)"), Options.optional),
    maxLogBytes: Options.integer("max-log-bytes").pipe(
      Options.withDescription("Size limit of each of the run's log files, bytes (default 67108864 = 64 MiB); later output is not kept"),
      Options.optional
    ),
    worktree: Options.boolean("worktree").pipe(
      Options.withDescription("Run in an own git worktree on the new branch troupe/<id>, from HEAD of the repository holding --cwd (uncommitted changes are not copied)")
    ),
    clean: Options.boolean("clean").pipe(Options.withDescription("With --worktree: refuse a repository with uncommitted changes or untracked files")),
    agent: Options.boolean("agent").pipe(Options.withDescription("Start Pi in RPC mode as the run (an agent); the positional words are its first task")),
    model: Options.text("model").pipe(Options.withDescription("--agent: the model, provider/modelId (checked with Pi's set_model)"), Options.optional),
    pi: Options.text("pi").pipe(Options.withDescription("--agent: Pi's executable (default: $PI_PATH, else pi on PATH); with --on vm:<id>, Pi's command line on the VM (default pi)"), Options.optional),
    session,
    json
  },
  (input) =>
    Effect.gen(function* () {
      if (input.clean && !input.worktree) return yield* new UsageError({ message: "--clean applies only with --worktree" })
      if (input.agent) return yield* spawnAgent(input)
      if (Option.isSome(input.model) || Option.isSome(input.pi)) return yield* new UsageError({ message: "--model and --pi apply only with --agent" })
      const [first, ...rest] = input.positionals
      const useTemplate = Option.isSome(input.template)
      const recipe = useTemplate ? undefined : first
      if (!useTemplate && recipe === undefined) return yield* new UsageError({ message: "troupe spawn needs a recipe id, a recipe file or --template" })
      const values: Record<string, unknown> = { ...(yield* parsePairs(useTemplate ? input.positionals : rest)) }
      if (Option.isSome(input.values)) Object.assign(values, yield* parseValuesJson(input.values.value))
      const cwd = Option.getOrElse(input.cwd, () => process.cwd())
      const window = Option.isSome(input.restartWindow) ? yield* parseDuration(input.restartWindow.value) : undefined
      const remote = yield* connect({ session: input.session, all: false })
      const run = yield* remote.actors.spawn({
        recipe: recipe !== undefined && (recipe.endsWith(".json") || recipe.includes("/")) ? Config.resolvePath(cwd, recipe) : recipe,
        template: Option.isSome(input.template) ? templateFromFlag(input.template.value) : undefined,
        values,
        cwd: vmCwd(input.on, input.cwd) ?? Config.resolvePath(process.cwd(), cwd),
        ...sharedSpawnFields(input, window)
      })
      yield* printResult(input.json, run, (run) =>
        `${run.address} ${run.state} (recipe ${run.recipe}, generation ${run.generation.slice(0, 8)})\n` +
          `Next: troupe inspect ${run.address} | troupe logs ${run.address} --follow | troupe wait ${run.address} | troupe kill ${run.address}`
      )
    })
).pipe(
  Command.withDescription(withExamples("Start a run (an actor) owned by the daemon and return at once.", [
    "troupe spawn --template 'sleep 30' --as nap",
    "troupe spawn --agent --model anthropic/claude-sonnet-4-5 --as fix \"fix the failing test\"",
    "troupe spawn repo-health top=5 --as health",
    "troupe spawn ./service.json --restart on-failure --max-restarts 5",
    "troupe spawn --worktree --as fix --template 'make fix' && troupe inspect run:fix diff",
    "troupe spawn --template 'yes' --as noisy --max-log-bytes 1000000"
  ]))
)

// ---------------------------------------------------------------------------------------------
// ps

const ps = Command.make(
  "ps",
  { status: Options.text("status").pipe(Options.withDescription("all | running | active | terminal | done | failed | cancelled | killed | lost"), Options.optional), ...callerOptions },
  (input) =>
    Effect.gen(function* () {
      const filter = yield* statusFilter(input.status)
      const remote = yield* connect(input)
      const runs = yield* remote.actors.list({ status: filter })
      if (input.json) return yield* printJson(runs)
      if (runs.length === 0) return yield* print("no runs")
      const now = yield* Clock.currentTimeMillis
      yield* print(runs.map((r) => psLine(r, now)).join("\n"))
    })
).pipe(Command.withDescription(withExamples("List this session's runs, newest first.", ["troupe ps", "troupe ps --status active", "troupe ps --all --json"])))

// ---------------------------------------------------------------------------------------------
// inspect

const inspect = Command.make(
  "inspect",
  {
    target: Args.text({ name: "target" }).pipe(Args.withDescription("run:<id>, coordinator, session:<id> or session:all")),
    view: Args.text({ name: "view" }).pipe(Args.withDescription("run: status | tail | files | artifacts | tree | recipe | diff | output | events (agents); sessions: runs"), Args.optional),
    lines: Options.integer("lines").pipe(Options.withDescription("Lines/events in tail views (default 40)"), Options.optional),
    status: Options.text("status").pipe(Options.withDescription("Status filter of runs views"), Options.optional),
    id: Options.text("id").pipe(Options.withDescription("inspect recipes doctor: only this recipe id"), Options.optional),
    ...callerOptions
  },
  (input) =>
    Effect.gen(function* () {
      const remote = yield* connect(input)
      const filter = Option.isSome(input.status) ? yield* statusFilter(input.status) : undefined
      const view = Option.map(input.view, (v) => v.replace(/^view=/, ""))
      const target = input.target.replace(/^target=/, "")
      const out = yield* remote.actors.inspect(target, Option.getOrUndefined(view), { lines: Option.getOrUndefined(input.lines), status: filter, id: Option.getOrUndefined(input.id) })
      yield* printResult(input.json, out, (out) => out.text.replace(/^\n/, ""))
    })
).pipe(Command.withDescription(withExamples("Read one view of a run or a session's inventory.", [
  "troupe inspect run:nap",
  "troupe inspect run:nap tail --lines 20",
  "troupe inspect coordinator runs --status active",
  "troupe inspect recipes doctor --id bound-values",
  "troupe inspect session:all --all"
])))

// ---------------------------------------------------------------------------------------------
// logs / wait / kill / events

const runArg = Args.text({ name: "run" }).pipe(Args.withDescription("run:<id> or <id>"))

const logs = Command.make(
  "logs",
  {
    run: runArg,
    follow: followOption("Keep printing until the run ends"),
    stderr: Options.boolean("stderr").pipe(Options.withDescription("Print stderr.log instead of stdout.log")),
    session,
    all
  },
  (input) =>
    Effect.gen(function* () {
      const remote = yield* connect(input)
      yield* remote.actors.logs(input.run, { stream: input.stderr ? "stderr" : "stdout", follow: input.follow }).pipe(
        Stream.runForEach((bytes) => Effect.sync(() => void process.stdout.write(bytes)))
      )
    })
).pipe(Command.withDescription(withExamples("Print a run's stdout.log (or stderr.log).", ["troupe logs run:nap", "troupe logs run:nap --follow", "troupe logs run:nap --stderr"])))

const wait = Command.make(
  "wait",
  {
    run: runArg,
    timeout: Options.text("timeout").pipe(Options.withDescription("Give up after this long (500ms, 30s, 5m); exit 124"), Options.optional),
    ...callerOptions
  },
  (input) =>
    Effect.gen(function* () {
      const timeoutMs = Option.isSome(input.timeout) ? yield* parseDuration(input.timeout.value) : undefined
      const remote = yield* connect(input)
      const out = yield* remote.actors.wait(input.run, { timeoutMs })
      if (input.json) yield* printJson(out)
      else if (out.timed_out) yield* Console.error(`run:${out.run.id} is still ${out.run.state} after ${Duration.format(Duration.millis(timeoutMs ?? 0))}`)
      else {
        if (out.stdout.length > 0) yield* Effect.sync(() => void process.stdout.write(out.stdout))
        yield* Console.error(`run:${out.run.id} ${out.run.state} code=${compact(out.run.code)}${out.run.error === undefined ? "" : ` error: ${out.run.error}`}`)
      }
      const code = out.timed_out ? 124 : exitCodeOfRun(out.run)
      if (code !== 0) return yield* new CliExit({ code })
    })
).pipe(Command.withDescription(withExamples("Wait for a run to finish; exit with its exit code (124 on --timeout).", ["troupe wait run:health", "troupe wait run:nap --timeout 5s"])))

const controlCommand = (remoteCall: { run: string; type: ControlType; json: boolean; identity: Identity }) =>
  Effect.gen(function* () {
    const remote = yield* connect(remoteCall.identity)
    const out = yield* remote.actors.control(remoteCall.run, remoteCall.type)
    yield* printResult(remoteCall.json, out, (out) => `${out.run} ${out.applied ? out.state : `unchanged (${out.reason ?? out.state})`}`)
  })

const kill = Command.make("kill", { run: runArg, ...callerOptions }, (input) =>
  controlCommand({ run: input.run, type: "control.kill", json: input.json, identity: input })
).pipe(Command.withDescription(withExamples("Kill a run: SIGTERM to every process group, 5 s grace, SIGKILL; state killed.", ["troupe kill run:nap"])))

const events = Command.make(
  "events",
  {
    follow: followOption("Stay open and print new events"),
    since: cursorOption("since", "Cursor: only events with a larger id (default 0)"),
    ...callerOptions
  },
  (input) =>
    Effect.gen(function* () {
      const remote = yield* connect(input)
      yield* remote.actors.events({ since: Option.getOrElse(input.since, () => 0), follow: input.follow }).pipe(
        Stream.runForEach((event) => printResult(input.json, event, (e) => `#${e.id} ${e.type} run:${e.run_id} ${e.text.split("\n")[0]}`))
      )
    })
).pipe(Command.withDescription(withExamples("Print this session's event stream (terminal transitions, failed steps).", ["troupe events", "troupe events --follow --since 12"])))

/** How many pruned runs `prune` names before it only counts the rest. */
const prunedShown = 10

/** `pruned run:a run:b`, or with many runs `pruned 250 runs: run:a … run:j and 240 more (--json lists them all)`. */
export const prunedText = (removed: ReadonlyArray<string>): string =>
  removed.length === 0
    ? "nothing to prune"
    : removed.length <= prunedShown
    ? `pruned ${removed.map((r) => `run:${r}`).join(" ")}`
    : `pruned ${removed.length} runs: ${removed.slice(0, prunedShown).map((r) => `run:${r}`).join(" ")} and ${removed.length - prunedShown} more (--json lists them all)`

const prune = Command.make(
  "prune",
  {
    runs: Args.text({ name: "run" }).pipe(Args.repeated),
    olderThan: Options.text("older-than").pipe(Options.withDescription("Prune every terminal run that ended longer ago (e.g. 7d is the automatic retention; 1h, 30m)"), Options.optional),
    ...callerOptions
  },
  (input) =>
    Effect.gen(function* () {
      if (input.runs.length === 0 && Option.isNone(input.olderThan)) {
        return yield* new UsageError({ message: "troupe prune needs run ids or --older-than" })
      }
      const older = Option.isSome(input.olderThan) ? yield* parseDuration(input.olderThan.value) : 0
      const remote = yield* connect(input)
      const removed = yield* withProgress("pruning runs", !input.json, () => remote.actors.prune({ runs: input.runs.length > 0 ? input.runs : undefined, olderThanMs: older }))
      yield* printResult(input.json, removed, prunedText)
    })
).pipe(Command.withDescription(withExamples("Delete terminal runs and their state directories.", ["troupe prune run:nap", "troupe prune --older-than 1d"])))

const archive = Command.make(
  "archive",
  { runs: Args.text({ name: "run" }).pipe(Args.atLeast(1)), ...callerOptions },
  (input) =>
    Effect.gen(function* () {
      const remote = yield* connect(input)
      yield* printResult(input.json, yield* remote.actors.archive(input.runs), (dirs) => dirs.map((d) => `archived ${d}`).join("\n"))
    })
).pipe(Command.withDescription(withExamples("Move terminal runs to TROUPE_HOME/archive/ (with run.json) and out of the store.", ["troupe archive run:health"])))

/** The subcommands over the daemon. */
export const actorCommands = [spawn, ps, inspect, logs, wait, kill, events, ...messageCommands, archive, prune, daemon] as const
