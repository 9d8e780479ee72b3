/**
 * `troupe lt create | send | read | status | pause | resume | destroy | discover`
 * (docs/swarms.md "Lieutenants", SPEC-adapters §2): long-lived named Pi agents through the
 * daemon as this invocation's session. Compact text by default, `--json` the documented JSON.
 * The service is loaded with `import()` so the CLI's start stays free of it.
 */
import { Args, Command, Options } from "@effect/cli"
import { Effect, Option, Schema } from "effect"
import { compact } from "../domain/Inspect.js"
import { LieutenantInfo, LieutenantRead, LieutenantSent, type SendMode } from "../domain/Swarm.js"
import type { LieutenantsShape } from "../services/Lieutenants.js"
import { UsageError } from "./Common.js"
import { callerOptions, connect, type Identity, print, printJson, withExamples } from "./Session.js"
import { goldenCommit } from "./SwarmCommands.js"

const withLieutenants = <A, E>(id: Identity, f: (lts: LieutenantsShape) => Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const remote = yield* connect(id)
    const { make } = yield* Effect.promise(() => import("../services/Lieutenants.js"))
    return yield* f(make(remote.actors, { vms: remote.vms, goldenCommitId: goldenCommit() }))
  })

const encodeInfo = Schema.encodeSync(LieutenantInfo)
const encodeRead = Schema.encodeSync(LieutenantRead)
const encodeSent = Schema.encodeSync(LieutenantSent)

/** One compact line of a lieutenant. */
export const lieutenantLine = (l: LieutenantInfo) =>
  `${l.name} state=${l.state} run=${l.run} placement=${l.placement}${l.vm_id === null ? "" : ` vm=${l.vm_id}`}${l.model === null ? "" : ` model=${l.model}`} tasks=${l.tasks} role=${compact(l.role.length > 60 ? `${l.role.slice(0, 59)}…` : l.role)}${l.error === undefined ? "" : ` error=${compact(l.error)}`}`

const nameArg = Args.text({ name: "name" }).pipe(Args.withDescription("The lieutenant's name"))

const create = Command.make(
  "create",
  {
    name: nameArg,
    role: Options.text("role").pipe(Options.withDescription("What it is for (part of its briefing)")),
    systemPrompt: Options.text("system-prompt").pipe(Options.withDescription("More instructions for its briefing"), Options.optional),
    model: Options.text("model").pipe(Options.withDescription("provider/modelId"), Options.optional),
    local: Options.boolean("local").pipe(Options.withDescription("Run it here (its Pi session stays up while paused)")),
    vm: Options.boolean("vm").pipe(Options.withDescription("Run it on its own VM restored from --commit (default VERS_GOLDEN_COMMIT_ID)")),
    commit: Options.text("commit").pipe(Options.withDescription("The commit its VM restores"), Options.optional),
    pi: Options.text("pi").pipe(Options.withDescription("Pi's executable (default: the daemon's PI_PATH, else pi)"), Options.optional),
    cwd: Options.text("cwd").pipe(Options.withDescription("Local: its working directory (default: this directory)"), Options.optional),
    ...callerOptions
  },
  (input) =>
    Effect.gen(function* () {
      if (input.local && input.vm) return yield* new UsageError({ message: "choose --local or --vm, not both" })
      const l = yield* withLieutenants(input, (lts) =>
        lts.create({
          name: input.name,
          role: input.role,
          systemPrompt: Option.getOrUndefined(input.systemPrompt),
          model: Option.getOrUndefined(input.model),
          placement: input.local ? "local" : input.vm ? "vm" : undefined,
          commitId: Option.getOrUndefined(input.commit),
          pi: Option.getOrUndefined(input.pi),
          cwd: Option.getOrElse(input.cwd, () => process.cwd())
        }))
      yield* input.json ? printJson(encodeInfo(l)) : print(`lieutenant ${l.name} is ready\n  ${lieutenantLine(l)}`)
    })
).pipe(Command.withDescription(withExamples("Start a long-lived named Pi agent; returns once it is ready.", [
  "troupe lt create infra --role \"owns the deploy scripts\" --local",
  "troupe lt create billing --role \"billing service expert\" --vm --model anthropic/claude-sonnet-4-5"
])))

const send = Command.make(
  "send",
  {
    name: nameArg,
    message: Args.text({ name: "message" }),
    mode: Options.choice("mode", ["prompt", "steer", "followUp"]).pipe(Options.withDescription("prompt (default; a follow-up when it is busy), steer, followUp"), Options.optional),
    ...callerOptions
  },
  (input) =>
    withLieutenants(input, (lts) => lts.send(input.name, input.message, Option.getOrUndefined(input.mode) as SendMode | undefined)).pipe(
      Effect.flatMap((r) => (input.json ? printJson(encodeSent(r)) : print(`sent to ${r.name} (${r.mode}${r.auto ? ", chosen because of its state" : ""})`)))
    )
).pipe(Command.withDescription(withExamples("Send a message: a new task, a steer of the current one, or a follow-up after it.", [
  "troupe lt send infra \"rotate the staging certificates\"",
  "troupe lt send infra \"stop, use the new script instead\" --mode steer"
])))

const read = Command.make(
  "read",
  {
    name: nameArg,
    tail: Options.integer("tail").pipe(Options.withDescription("Only the last N characters of the last output"), Options.optional),
    history: Options.integer("history").pipe(Options.withDescription("Earlier results to include (default 20, at most 20)"), Options.optional),
    ...callerOptions
  },
  (input) =>
    withLieutenants(input, (lts) => lts.read(input.name, { tail: Option.getOrUndefined(input.tail), history: Option.getOrUndefined(input.history) })).pipe(
      Effect.flatMap((r) =>
        input.json
          ? printJson(encodeRead(r))
          : print([...r.history.map((h, i) => `=== result ${i + 1} ===\n${h}`), `=== current (${r.state}) ===\n${r.last_output ?? "(no output yet)"}`].join("\n")))
    )
).pipe(Command.withDescription(withExamples("Its last output and earlier results.", ["troupe lt read infra", "troupe lt read infra --history 3 --json"])))

const status = Command.make("status", { name: Args.text({ name: "name" }).pipe(Args.optional), ...callerOptions }, (input) =>
  withLieutenants(input, (lts) => lts.status(Option.getOrUndefined(input.name))).pipe(
    Effect.flatMap((list) => (input.json ? printJson(list.map((l) => encodeInfo(l))) : print(list.length === 0 ? "no lieutenants" : list.map(lieutenantLine).join("\n"))))
  )).pipe(Command.withDescription(withExamples("Every lieutenant (or one): state, placement, tasks, role.", ["troupe lt status", "troupe lt status infra --json"])))

const pause = Command.make("pause", { name: nameArg, ...callerOptions }, (input) =>
  withLieutenants(input, (lts) => lts.pause(input.name)).pipe(Effect.flatMap((l) => (input.json ? printJson(encodeInfo(l)) : print(lieutenantLine(l))))))
  .pipe(Command.withDescription(withExamples("Pause it: its VM is paused (memory kept); a local one keeps its session and refuses messages until resumed.", ["troupe lt pause infra"])))

const resume = Command.make("resume", { name: nameArg, ...callerOptions }, (input) =>
  withLieutenants(input, (lts) => lts.resume(input.name)).pipe(Effect.flatMap((l) => (input.json ? printJson(encodeInfo(l)) : print(lieutenantLine(l))))))
  .pipe(Command.withDescription(withExamples("Resume it (re-attached when its Pi is gone).", ["troupe lt resume infra"])))

const destroy = Command.make("destroy", { name: Args.text({ name: "name" }).pipe(Args.withDescription("A lieutenant's name, or * for all")), ...callerOptions }, (input) =>
  withLieutenants(input, (lts) => lts.destroy(input.name)).pipe(
    Effect.flatMap((names) => (input.json ? printJson({ destroyed: names }) : print(names.length === 0 ? "no lieutenants" : `destroyed ${names.join(", ")}`)))
  )).pipe(Command.withDescription(withExamples("Stop one lieutenant (or all: '*'), delete its VM.", ["troupe lt destroy infra", "troupe lt destroy '*'"])))

const discover = Command.make("discover", { ...callerOptions }, (input) =>
  withLieutenants(input, (lts) => lts.discover()).pipe(
    Effect.flatMap((list) => (input.json ? printJson(list.map((l) => encodeInfo(l))) : print(list.length === 0 ? "no lieutenants" : list.map(lieutenantLine).join("\n"))))
  )).pipe(Command.withDescription(withExamples("Re-attach every lieutenant whose Pi is gone (after a daemon restart) and list them.", ["troupe lt discover"])))

/** `troupe lt …`. */
export const lt = Command.make("lt").pipe(
  Command.withDescription("Lieutenants — long-lived named Pi agents: create, send, read, status, pause, resume, destroy, discover (docs/swarms.md)"),
  Command.withSubcommands([create, send, read, status, pause, resume, destroy, discover])
)
