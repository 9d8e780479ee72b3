/**
 * CLI commands over the daemon: `spawn`, `ps`, `inspect`, `logs`, `wait`, `kill`, `events`,
 * `message`, `inbox next|ack|fail|list`, `room post|tail`, `prune` and
 * `daemon start|stop|status` (SPEC-adapters §2). Every
 * command acts as a session: `--session` (env `TROUPE_SESSION`, default `cli`), or, inside an
 * actor process, as its run (env `TROUPE_TOKEN`, which wins). `--all` acts across sessions.
 * Compact text by default; `--json` prints the documented JSON shapes.
 */
import { Args, Command, Options } from "@effect/cli"
import { Clock, Console, Duration, Effect, Option, Schema, Stream } from "effect"
import * as Client from "../daemon/Client.js"
import * as Envelope from "../domain/Envelope.js"
import { compact } from "../domain/Inspect.js"
import { ControlType, type RunInfo, StatusFilter } from "../domain/Run.js"
import * as Config from "../layers/Config.js"
import { callerEnvironment, CliExit, parsePairs, parseValuesJson, templateFromFlag, UsageError } from "./Common.js"

/** The daemon itself (the whole runtime) loads only in `daemon start --foreground`. */
const runDaemon = (options: { readonly idleMs: number }) =>
  Effect.flatMap(Effect.promise(() => import("../daemon/Server.js")), (server) => server.runDaemon(options))

// ---------------------------------------------------------------------------------------------
// Shared options

const session = Options.text("session").pipe(
  Options.withDescription("Act as this session (default: $TROUPE_SESSION or cli)"),
  Options.optional
)
const all = Options.boolean("all").pipe(Options.withDescription("Operator: act across every session"))
const json = Options.boolean("json").pipe(Options.withDescription("Print stable JSON instead of compact text"))

interface Identity {
  readonly session: Option.Option<string>
  readonly all: boolean
}

/** The daemon client for this invocation's identity (auto-starts the daemon). */
const connect = (id: Identity, autoStart = true) =>
  Effect.gen(function* () {
    const env = yield* callerEnvironment
    return yield* Client.makeRemote({
      autoStart,
      session: Option.getOrElse(Option.orElse(id.session, () => env.session), () => "cli"),
      token: Option.getOrUndefined(env.token),
      all: id.all
    })
  })

const print = (text: string) => Console.log(text)
const printJson = (value: unknown) => Console.log(JSON.stringify(value))

const decodeFilter = Schema.decodeUnknown(StatusFilter)
const statusFilter = (raw: Option.Option<string>) =>
  Option.match(raw, {
    onNone: () => Effect.succeed<StatusFilter>("all"),
    onSome: (s) => decodeFilter(s).pipe(Effect.mapError(() => new UsageError({ message: `--status must be one of: ${StatusFilter.literals.join(", ")}` })))
  })

const age = (r: RunInfo, now: number) => {
  const ms = (r.ended_at ?? now) - r.created_at
  return ms < 1000 ? `${ms}ms` : ms < 60_000 ? `${Math.round(ms / 1000)}s` : `${Math.round(ms / 60_000)}m`
}

/** One compact `ps` line. */
export const psLine = (r: RunInfo, now: number) =>
  `run=${r.id} status=${r.state} recipe=${compact(r.recipe)} code=${compact(r.code)} active=${r.progress.active} pid=${compact(r.processes[0]?.pid)} age=${age(r, now)}${r.owner === "cli" ? "" : ` owner=${compact(r.owner)}`}`

/** Exit code of a finished run for `wait`: its code, else 1 for failed/lost and 130 for kills. */
export const exitCodeOfRun = (r: RunInfo): number =>
  r.code !== null ? r.code : r.state === "done" ? 0 : r.state === "killed" || r.state === "cancelled" ? 130 : 1

const parseDuration = (text: string) =>
  Effect.gen(function* () {
    const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(text.trim())
    if (m === null) return yield* new UsageError({ message: `Invalid duration ${text} (examples: 500ms, 30s, 5m, 1h, 7d)` })
    const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const
    return Math.round(Number(m[1]) * unitMs[(m[2] ?? "s") as keyof typeof unitMs])
  })

const withExamples = (text: string, examples: ReadonlyArray<string>) =>
  `${text}\nExamples:\n${examples.map((e) => `  ${e}`).join("\n")}`

// ---------------------------------------------------------------------------------------------
// spawn

const spawn = Command.make(
  "spawn",
  {
    positionals: Args.text({ name: "recipe | k=v" }).pipe(
      Args.withDescription("A recipe id or recipe file (.json), then key=value pairs"),
      Args.repeated
    ),
    template: Options.text("template").pipe(Options.withDescription("An inline command template instead of a recipe"), Options.optional),
    values: Options.text("values").pipe(Options.withDescription("A JSON object of values; wins over key=value pairs"), Options.optional),
    as: Options.text("as").pipe(Options.withDescription("Run id (run:<id> or <id>); generated when absent"), Options.optional),
    cwd: Options.text("cwd").pipe(Options.withDescription("Working directory (default: the current directory)"), Options.optional),
    restart: Options.choice("restart", ["never", "on-failure", "always"]).pipe(
      Options.withDescription("Restart policy (default never)"),
      Options.optional
    ),
    maxRestarts: Options.integer("max-restarts").pipe(Options.withDescription("Restarts allowed within --restart-window (default 3)"), Options.optional),
    restartWindow: Options.text("restart-window").pipe(Options.withDescription("Window of --max-restarts (default 60s)"), Options.optional),
    session,
    json
  },
  (input) =>
    Effect.gen(function* () {
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
        as: Option.getOrUndefined(input.as),
        cwd: Config.resolvePath(process.cwd(), cwd),
        restart: Option.isSome(input.restart) || Option.isSome(input.maxRestarts) || window !== undefined
          ? { restart: Option.getOrUndefined(input.restart), max_restarts: Option.getOrUndefined(input.maxRestarts), restart_window_ms: window }
          : undefined
      })
      if (input.json) return yield* printJson(run)
      yield* print(
        `${run.address} ${run.state} (recipe ${run.recipe}, generation ${run.generation.slice(0, 8)})\n` +
          `Next: troupe inspect ${run.address} | troupe logs ${run.address} --follow | troupe wait ${run.address} | troupe kill ${run.address}`
      )
    })
).pipe(
  Command.withDescription(withExamples("Start a run (an actor) owned by the daemon and return at once.", [
    "troupe spawn --template 'sleep 30' --as nap",
    "troupe spawn repo-health top=5 --as health",
    "troupe spawn ./service.json --restart on-failure --max-restarts 5"
  ]))
)

// ---------------------------------------------------------------------------------------------
// ps

const ps = Command.make(
  "ps",
  { status: Options.text("status").pipe(Options.withDescription("all | running | active | terminal | done | failed | cancelled | killed | lost"), Options.optional), session, all, json },
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
    view: Args.text({ name: "view" }).pipe(Args.withDescription("run: status | tail | files | artifacts | tree | recipe; sessions: runs"), Args.optional),
    lines: Options.integer("lines").pipe(Options.withDescription("Lines/events in tail views (default 40)"), Options.optional),
    status: Options.text("status").pipe(Options.withDescription("Status filter of runs views"), Options.optional),
    id: Options.text("id").pipe(Options.withDescription("inspect recipes doctor: only this recipe id"), Options.optional),
    session,
    all,
    json
  },
  (input) =>
    Effect.gen(function* () {
      const remote = yield* connect(input)
      const filter = Option.isSome(input.status) ? yield* statusFilter(input.status) : undefined
      const view = Option.map(input.view, (v) => v.replace(/^view=/, ""))
      const target = input.target.replace(/^target=/, "")
      const out = yield* remote.actors.inspect(target, Option.getOrUndefined(view), { lines: Option.getOrUndefined(input.lines), status: filter, id: Option.getOrUndefined(input.id) })
      if (input.json) return yield* printJson(out)
      yield* print(out.text.replace(/^\n/, ""))
    })
).pipe(Command.withDescription(withExamples("Read one view of a run or a session's inventory.", [
  "troupe inspect run:nap",
  "troupe inspect run:nap tail --lines 20",
  "troupe inspect coordinator runs --status active",
  "troupe inspect recipes doctor --id bound-values",
  "troupe inspect session:all --all"
])))

// ---------------------------------------------------------------------------------------------
// logs / wait / kill / events / message / prune

const runArg = Args.text({ name: "run" }).pipe(Args.withDescription("run:<id> or <id>"))

const logs = Command.make(
  "logs",
  {
    run: runArg,
    follow: Options.boolean("follow").pipe(Options.withAlias("f"), Options.withDescription("Keep printing until the run ends")),
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
    session,
    all,
    json
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
    if (remoteCall.json) return yield* printJson(out)
    yield* print(`${out.run} ${out.applied ? out.state : `unchanged (${out.reason ?? out.state})`}`)
  })

const kill = Command.make("kill", { run: runArg, session, all, json }, (input) =>
  controlCommand({ run: input.run, type: "control.kill", json: input.json, identity: input })
).pipe(Command.withDescription(withExamples("Kill a run: SIGTERM to every process group, 5 s grace, SIGKILL; state killed.", ["troupe kill run:nap"])))

const events = Command.make(
  "events",
  {
    follow: Options.boolean("follow").pipe(Options.withAlias("f"), Options.withDescription("Stay open and print new events")),
    since: Options.integer("since").pipe(Options.withDescription("Cursor: only events with a larger id (default 0)"), Options.optional),
    session,
    all,
    json
  },
  (input) =>
    Effect.gen(function* () {
      const remote = yield* connect(input)
      yield* remote.actors.events({ since: Option.getOrElse(input.since, () => 0), follow: input.follow }).pipe(
        Stream.runForEach((e) =>
          input.json ? printJson(e) : print(`#${e.id} ${e.type} run:${e.run_id} ${e.text.split("\n")[0]}`)
        )
      )
    })
).pipe(Command.withDescription(withExamples("Print this session's event stream (terminal transitions, failed steps).", ["troupe events", "troupe events --follow --since 12"])))

const optText = (name: string, description: string) => Options.text(name).pipe(Options.withDescription(description), Options.optional)

const message = Command.make(
  "message",
  {
    fields: Args.text({ name: "key=value" }).pipe(Args.withDescription("to=<address> type=<type> [body=…] [summary=…] [metadata.k=…] (pi-actors style)"), Args.repeated),
    to: optText("to", "Target address: run:<id>, branch:<run>/<label>, room:<run>, tool:<name>, coordinator, session:<id>"),
    type: optText("type", "Message type (channel.action), e.g. control.continue"),
    body: optText("body", "Body: text, or JSON when it starts with { or ["),
    summary: optText("summary", "One-line summary"),
    from: optText("from", "Sender: inside an actor its run or one of its branches; a session: coordinator (default), a run it owns, or one of that run's branches"),
    replyTo: optText("reply-to", "Id of the message this answers"),
    correlationId: optText("correlation-id", "Correlation id"),
    idempotencyKey: optText("idempotency-key", "A key unique to this message: sending again with it (a retry) stores the message once"),
    session,
    all,
    json
  },
  (input) =>
    Effect.gen(function* () {
      const pairs = [...input.fields]
      const flag = (key: string, v: Option.Option<string>) => {
        if (Option.isSome(v)) pairs.push(`${key}=${v.value}`)
      }
      flag("to", input.to)
      flag("type", input.type)
      flag("body", input.body)
      flag("summary", input.summary)
      flag("from", input.from)
      flag("reply_to", input.replyTo)
      flag("correlation_id", input.correlationId)
      const envelope = yield* Envelope.envelopeFromPairs(pairs).pipe(Effect.mapError((e) => new UsageError({ message: e.message })))
      const remote = yield* connect(input)
      const out = yield* remote.actors.message(envelope, { idempotencyKey: Option.getOrUndefined(input.idempotencyKey) })
      if (input.json) return yield* printJson(out)
      if (out.consumer === "run-control") return yield* print(`${out.to} ${out.delivered ? out.state : `unchanged (${out.reason ?? out.state})`}`)
      yield* print(
        `${out.id} to=${out.to} from=${out.from}${out.sender === undefined ? "" : ` sender=${out.sender}`} consumer=${out.consumer} delivered=${out.delivered} queued=${out.queued}` +
          (out.reason === undefined ? "" : ` reason=${out.reason}`) + (out.run === undefined ? "" : ` run=run:${out.run}`)
      )
    })
).pipe(
  Command.withDescription(
    withExamples("Send one message (an envelope) to an address; prints the delivery outcome.", [
      "troupe message to=run:nap type=control.cancel",
      "troupe message to=run:player type=control.continue body=continue",
      "troupe message --to room:swarm --type note.posted --from coordinator --body 'round 2'",
      "troupe message to=room:review from=branch:review/security type=actor.join 'body={\"role\":\"reviewer\",\"caps\":[\"security-review\"]}'",
      "troupe message to=tool:shout type=tool.call 'body={\"word\":\"hi\"}'"
    ])
  )
)

const addressArg = Args.text({ name: "address" }).pipe(Args.withDescription("run:<id> or branch:<run>/<label>"))

const inboxNext = Command.make(
  "next",
  {
    address: addressArg,
    claim: Options.boolean("claim").pipe(Options.withDescription("Take the message exclusively (state claimed)")),
    wait: optText("wait", "Wait this long for a message (500ms, 30s); exit 3 when none came"),
    session,
    all,
    json
  },
  (input) =>
    Effect.gen(function* () {
      const waitMs = Option.isSome(input.wait) ? yield* parseDuration(input.wait.value) : undefined
      const remote = yield* connect(input)
      const next = yield* remote.actors.inboxNext(input.address, { claim: input.claim, waitMs })
      if (Option.isNone(next)) {
        if (input.json) yield* printJson(null)
        else yield* Console.error(`no message in ${input.address}`)
        return yield* new CliExit({ code: 3 })
      }
      const r = next.value
      yield* input.json ? printJson(r) : print(`${r.id} state=${r.state} from=${r.envelope.from} sender=${r.envelope.sender ?? ""} type=${r.envelope.type}${r.envelope.body === undefined ? "" : `\n${typeof r.envelope.body === "string" ? r.envelope.body : JSON.stringify(r.envelope.body)}`}`)
    })
).pipe(Command.withDescription(withExamples("Read the oldest unhandled message of an inbox (pull delivery).", ["troupe inbox next run:worker --claim", "troupe inbox next run:worker --wait 30s --json"])))

const inboxAck = Command.make("ack", { address: addressArg, id: Args.text({ name: "id" }), session, all, json }, (input) =>
  Effect.gen(function* () {
    const remote = yield* connect(input)
    const r = yield* remote.actors.inboxSettle(input.address, input.id)
    yield* input.json ? printJson(r) : print(`${r.id} ${r.state}`)
  })
).pipe(Command.withDescription("Mark an inbox message handled (idempotent)."))

const inboxFail = Command.make(
  "fail",
  { address: addressArg, id: Args.text({ name: "id" }), error: Options.text("error").pipe(Options.withDescription("Why handling failed"), Options.withDefault("failed")), session, all, json },
  (input) =>
    Effect.gen(function* () {
      const remote = yield* connect(input)
      const r = yield* remote.actors.inboxSettle(input.address, input.id, { error: input.error })
      yield* input.json ? printJson(r) : print(`${r.id} ${r.state}`)
    })
).pipe(Command.withDescription("Mark an inbox message failed, with --error (idempotent)."))

const inboxList = Command.make(
  "list",
  { address: addressArg, lines: Options.integer("lines").pipe(Options.withDefault(40)), session, all, json },
  (input) =>
    Effect.gen(function* () {
      const remote = yield* connect(input)
      const records = yield* remote.actors.inboxList(input.address, { limit: input.lines })
      if (input.json) return yield* printJson(records)
      yield* print(records.length === 0 ? "no messages" : records.map((r) => `${r.id} state=${r.state} from=${r.envelope.from} sender=${r.envelope.sender ?? ""} type=${r.envelope.type}`).join("\n"))
    })
).pipe(Command.withDescription("List an inbox's messages with their states."))

const inbox = Command.make("inbox").pipe(
  Command.withDescription("Pull delivery: read and settle the messages of run:<id> or branch:<run>/<label> inboxes."),
  Command.withSubcommands([inboxNext, inboxAck, inboxFail, inboxList])
)

const roomArg = Args.text({ name: "run" }).pipe(Args.withDescription("The run whose room (room:<run>) to use"))
const roomOf = (run: string) => (run.startsWith("room:") ? run : `room:${run.replace(/^run:/, "")}`)

const roomPost = Command.make(
  "post",
  {
    run: roomArg,
    type: Options.text("type").pipe(Options.withDefault("note.posted"), Options.withDescription("Message type (default note.posted)")),
    body: Args.text({ name: "body" }).pipe(Args.withDescription("Text, or JSON when it starts with { or [")),
    summary: optText("summary", "One-line summary"),
    from: optText("from", "Sender (default: this actor's run, or coordinator; a session may post as a run it owns or its branches)"),
    session,
    all,
    json
  },
  (input) =>
    Effect.gen(function* () {
      const pairs = [`to=${roomOf(input.run)}`, `type=${input.type}`, `body=${input.body}`]
      if (Option.isSome(input.summary)) pairs.push(`summary=${input.summary.value}`)
      const env = yield* callerEnvironment
      const inActor = Option.isSome(env.token)
      pairs.push(`from=${Option.getOrElse(input.from, () => (inActor ? `run:${Option.getOrElse(env.run, () => "")}` : "coordinator"))}`)
      const envelope = yield* Envelope.envelopeFromPairs(pairs).pipe(Effect.mapError((e) => new UsageError({ message: e.message })))
      const remote = yield* connect(input)
      const out = yield* remote.actors.message(envelope)
      yield* input.json ? printJson(out) : print(`${out.id} posted to ${out.to} from=${out.from}`)
    })
).pipe(Command.withDescription(withExamples("Post to a run's room.", ["troupe room post swarm 'hello everyone'", "troupe room post swarm --type plan.proposed '{\"step\":1}'"])))

const roomTail = Command.make(
  "tail",
  {
    run: roomArg,
    follow: Options.boolean("follow").pipe(Options.withAlias("f"), Options.withDescription("Stay open and print new posts")),
    after: Options.integer("after").pipe(Options.withDescription("Cursor: only entries with a larger seq"), Options.optional),
    session,
    all,
    json
  },
  (input) =>
    Effect.gen(function* () {
      const remote = yield* connect(input)
      yield* remote.actors.roomTail(roomOf(input.run), { afterSeq: Option.getOrUndefined(input.after), follow: input.follow }).pipe(
        Stream.runForEach((e) =>
          input.json
            ? printJson(e)
            : print(`#${e.seq} ${e.envelope.from} ${e.envelope.type}${e.envelope.summary === undefined ? "" : ` ${e.envelope.summary}`}${e.envelope.body === undefined ? "" : `: ${typeof e.envelope.body === "string" ? e.envelope.body : JSON.stringify(e.envelope.body)}`}`)
        )
      )
    })
).pipe(Command.withDescription(withExamples("Print a run's room timeline.", ["troupe room tail swarm", "troupe room tail swarm --follow"])))

const room = Command.make("room").pipe(
  Command.withDescription("A run's room (room:<run>): post to its timeline, tail it."),
  Command.withSubcommands([roomPost, roomTail])
)

const prune = Command.make(
  "prune",
  {
    runs: Args.text({ name: "run" }).pipe(Args.repeated),
    olderThan: Options.text("older-than").pipe(Options.withDescription("Prune every terminal run that ended longer ago (e.g. 7d is the automatic retention; 1h, 30m)"), Options.optional),
    session,
    all,
    json
  },
  (input) =>
    Effect.gen(function* () {
      if (input.runs.length === 0 && Option.isNone(input.olderThan)) {
        return yield* new UsageError({ message: "troupe prune needs run ids or --older-than" })
      }
      const older = Option.isSome(input.olderThan) ? yield* parseDuration(input.olderThan.value) : 0
      const remote = yield* connect(input)
      const removed = yield* remote.actors.prune({ runs: input.runs.length > 0 ? input.runs : undefined, olderThanMs: older })
      if (input.json) return yield* printJson(removed)
      yield* print(removed.length === 0 ? "nothing to prune" : `pruned ${removed.map((r) => `run:${r}`).join(" ")}`)
    })
).pipe(Command.withDescription(withExamples("Delete terminal runs and their state directories.", ["troupe prune run:nap", "troupe prune --older-than 1d"])))

const archive = Command.make(
  "archive",
  { runs: Args.text({ name: "run" }).pipe(Args.atLeast(1)), session, all, json },
  (input) =>
    Effect.gen(function* () {
      const remote = yield* connect(input)
      const dirs = yield* remote.actors.archive(input.runs)
      if (input.json) return yield* printJson(dirs)
      yield* print(dirs.map((d) => `archived ${d}`).join("\n"))
    })
).pipe(Command.withDescription(withExamples("Move terminal runs to TROUPE_HOME/archive/ (with run.json) and out of the store.", ["troupe archive run:health"])))

// ---------------------------------------------------------------------------------------------
// daemon

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

const daemonStop = Command.make("stop", {}, () =>
  Effect.gen(function* () {
    const config = yield* Config.TroupeConfig
    if (!(yield* Client.isRunning(config.home))) return yield* print("troupe daemon is not running")
    const pid = Client.daemonPid(config.home)
    const remote = yield* connect({ session: Option.none(), all: false })
    yield* remote.shutdown
    // Wait for the process to exit: it has then killed its runs and closed the store.
    const gone = yield* Effect.sync(() => pid === undefined || !Client.processAlive(pid)).pipe(
      Effect.repeat({ schedule: Client.stopPoll, until: (done) => done }),
      Effect.timeoutOption(Client.stopTimeoutMs)
    )
    if (Option.isNone(gone)) {
      return yield* new UsageError({ message: `the troupe daemon (pid ${pid}) did not stop within ${Client.stopTimeoutMs} ms` })
    }
    yield* print("troupe daemon stopped")
  }).pipe(Effect.scoped)
).pipe(Command.withDescription("Stop the daemon: kill every run's process groups, close the store, remove the socket; waits until it has exited."))

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
    yield* print(`troupe daemon running pid=${s.pid} version=${s.version} active_runs=${s.active_runs} home=${s.home} socket=${s.socket}`)
  }).pipe(Effect.scoped)
).pipe(Command.withDescription("Show whether the daemon runs (exit 3 when not), its pid and active runs."))

const daemon = Command.make("daemon").pipe(
  Command.withDescription("Manage the daemon that owns the runs of TROUPE_HOME."),
  Command.withSubcommands([daemonStart, daemonStop, daemonStatus])
)

/** The subcommands over the daemon. */
export const actorCommands = [spawn, ps, inspect, logs, wait, kill, events, message, inbox, room, archive, prune, daemon] as const
