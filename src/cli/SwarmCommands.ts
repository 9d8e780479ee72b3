/**
 * `troupe swarm spawn | task | wait | status | read | teardown | discover` (docs/swarms.md,
 * SPEC-adapters §2): a group of Pi workers through the daemon as this invocation's session.
 * Placement: `--local` (a git worktree per worker) or `--vm` (a VM per worker restored from
 * `--commit`, default `VERS_GOLDEN_COMMIT_ID`); without either, VMs when a commit is known.
 * Compact text by default, `--json` the documented JSON. The service is loaded with `import()`
 * so the CLI's start stays free of it.
 */
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Option, Schema } from "effect"
import { compact } from "../domain/Inspect.js"
import { SwarmInfo, SwarmTeardown, SwarmWaitResult, SwarmWorker } from "../domain/Swarm.js"
import type { SwarmStep, SwarmsShape } from "../services/Swarms.js"
import { UsageError } from "./Common.js"
import { progressOnStderr, withProgress } from "./Progress.js"
import { callerOptions, connect, type Identity, parseDuration, print, printJson, withExamples } from "./Session.js"

/** The commit VM workers restore by default. */
export const goldenCommit = () => {
  const v = process.env.VERS_GOLDEN_COMMIT_ID
  return v === undefined || v.trim() === "" ? undefined : v.trim()
}

const stepText: Record<SwarmStep, string> = { vm: "restoring its VM", spawn: "starting Pi", ready: "waiting for Pi to be ready" }

/**
 * The progress line of a spawn: how many workers are in each step, e.g.
 * `swarm fix: 3 workers: 2 restoring a VM, 1 starting Pi`.
 */
export const swarmProgressText = (swarm: string, steps: ReadonlyMap<string, SwarmStep>): string => {
  const counts = (["vm", "spawn", "ready"] as const)
    .map((step) => [step, [...steps.values()].filter((s) => s === step).length] as const)
    .filter(([, n]) => n > 0)
    .map(([step, n]) => `${n} ${step === "vm" ? "restoring a VM" : step === "spawn" ? "starting Pi" : "waiting for Pi"}`)
  return `swarm ${swarm}: ${steps.size} worker${steps.size === 1 ? "" : "s"}${counts.length === 0 ? "" : `: ${counts.join(", ")}`}`
}

/** Connects as the caller and runs a swarm operation. */
const withSwarms = <A, E>(id: Identity, f: (swarms: SwarmsShape) => Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const remote = yield* connect(id)
    const { make } = yield* Effect.promise(() => import("../services/Swarms.js"))
    return yield* f(make(remote.actors, { vms: remote.vms, goldenCommitId: goldenCommit() }))
  })

const one = (s: string | null) => (s === null ? "-" : compact(s.length > 80 ? `${s.slice(0, 79)}…` : s))

/** One compact line of a worker. */
export const workerLine = (w: SwarmWorker) =>
  `${w.label} state=${w.state} run=${w.run}${w.vm_id === null ? "" : ` vm=${w.vm_id}`} turns=${w.turns} tool_calls=${w.tool_calls} output=${one(w.last_output)}${w.error === undefined ? "" : ` error=${compact(w.error)}`}`

/** The swarm: a heading line, then one line per worker (and per failed start). */
export const swarmText = (s: SwarmInfo) =>
  [
    `swarm=${s.swarm} placement=${s.placement} workers=${s.workers.length}${s.commit_id === null ? "" : ` commit=${s.commit_id}`}${s.model === null ? "" : ` model=${s.model}`} room=${s.room}`,
    ...s.workers.map((w) => `  ${workerLine(w)}`),
    ...s.failures.map((f) => `  ${f.label} failed to start: ${f.error}`)
  ].join("\n")

const encodeInfo = Schema.encodeSync(SwarmInfo)
const encodeWorker = Schema.encodeSync(SwarmWorker)
const encodeWait = Schema.encodeSync(SwarmWaitResult)
const encodeTeardown = Schema.encodeSync(SwarmTeardown)

const swarmArg = Args.text({ name: "swarm" }).pipe(Args.withDescription("The swarm's name (its group run id)"))
const labelArg = Args.text({ name: "label" }).pipe(Args.withDescription("A worker's label (see: troupe swarm status <swarm>)"))
const labelsOption = Options.text("labels").pipe(Options.withDescription("Comma-separated worker labels"), Options.optional)
const splitLabels = (o: Option.Option<string>) => Option.map(o, (s) => s.split(",").map((l) => l.trim()).filter((l) => l !== ""))

const spawn = Command.make(
  "spawn",
  {
    swarm: swarmArg,
    count: Options.integer("count").pipe(Options.withDescription("Workers to start (default: one per --labels, else 1)"), Options.optional),
    labels: labelsOption,
    local: Options.boolean("local").pipe(Options.withDescription("Run the workers here, a git worktree each")),
    vm: Options.boolean("vm").pipe(Options.withDescription("Run each worker on its own VM restored from --commit (default VERS_GOLDEN_COMMIT_ID)")),
    commit: Options.text("commit").pipe(Options.withDescription("The commit VM workers restore (default: VERS_GOLDEN_COMMIT_ID)"), Options.optional),
    model: Options.text("model").pipe(Options.withDescription("provider/modelId for every worker"), Options.optional),
    pi: Options.text("pi").pipe(Options.withDescription("Pi's executable (local workers: default the daemon's PI_PATH, else pi; VM workers: the command line run on the VM, default pi)"), Options.optional),
    cwd: Options.text("cwd").pipe(Options.withDescription("Local workers: the repository their worktrees come from (default: this directory)"), Options.optional),
    noWorktree: Options.boolean("no-worktree").pipe(Options.withDescription("Local workers share the directory instead of a worktree each")),
    ...callerOptions
  },
  (input) =>
    Effect.gen(function* () {
      if (input.local && input.vm) return yield* new UsageError({ message: "choose --local or --vm, not both" })
      // On a terminal one updating line for all workers; elsewhere one plain line per step.
      const drawn = !input.json && progressOnStderr()
      const steps = new Map<string, SwarmStep>()
      const info = yield* withProgress(`swarm ${input.swarm}: starting`, drawn, (progress) => withSwarms(input, (swarms) =>
        swarms.spawn({
          swarm: input.swarm,
          count: Option.getOrUndefined(input.count),
          labels: Option.getOrUndefined(splitLabels(input.labels)),
          placement: input.local ? "local" : input.vm ? "vm" : undefined,
          commitId: Option.getOrUndefined(input.commit),
          model: Option.getOrUndefined(input.model),
          pi: Option.getOrUndefined(input.pi),
          cwd: Option.getOrElse(input.cwd, () => process.cwd()),
          worktree: !input.noWorktree,
          onProgress: input.json
            ? undefined
            : drawn
            ? (label, step) => Effect.suspend(() => progress.set(swarmProgressText(input.swarm, steps.set(label, step))))
            : (label, step) => Console.error(`swarm ${input.swarm}: ${label} ${stepText[step]}`)
        })))
      yield* input.json ? printJson(encodeInfo(info)) : print(swarmText(info))
    })
).pipe(Command.withDescription(withExamples("Start Pi workers as one swarm (joining the swarm if it exists); returns once each is ready or failed.", [
  "troupe swarm spawn fix --count 3 --local",
  "troupe swarm spawn fix --labels api,ui,docs --vm --model anthropic/claude-sonnet-4-5",
  "troupe swarm spawn fix --count 2 --commit $COMMIT --json"
])))

const task = Command.make(
  "task",
  { swarm: swarmArg, label: labelArg, task: Args.text({ name: "task" }).pipe(Args.withDescription("The prompt")), ...callerOptions },
  (input) =>
    withSwarms(input, (swarms) => swarms.task(input.swarm, input.label, input.task)).pipe(
      Effect.flatMap((w) => (input.json ? printJson(encodeWorker(w)) : print(`sent to ${w.label} (${w.address}); collect with: troupe swarm wait ${input.swarm}`)))
    )
).pipe(Command.withDescription(withExamples("Send a task (task.prompt) to one worker.", ["troupe swarm task fix api \"fix the failing test in api/\""])))

const wait = Command.make(
  "wait",
  {
    swarm: swarmArg,
    labels: labelsOption,
    timeout: Options.text("timeout").pipe(Options.withDescription("Longest wait (default 5m; e.g. 90s, 10m)"), Options.optional),
    ...callerOptions
  },
  (input) =>
    Effect.gen(function* () {
      const timeoutMs = Option.isSome(input.timeout) ? yield* parseDuration(input.timeout.value) : undefined
      const r = yield* withSwarms(input, (swarms) => swarms.wait(input.swarm, { labels: Option.getOrUndefined(splitLabels(input.labels)), timeoutMs }))
      if (input.json) return yield* printJson(encodeWait(r))
      // The waited workers and every worker with a result (one may have finished before this wait).
      const waited = r.workers.filter((w) => r.waited.includes(w.label) || w.turns > 0 || w.state === "failed")
      yield* print([
        `${r.timed_out ? "timed out after" : waited.length === 0 ? "no task in flight; waited" : "all settled in"} ${(r.elapsed_ms / 1000).toFixed(1)}s`,
        ...waited.map((w) => `=== ${w.label} [${w.state}] ===\n${w.last_output ?? w.error ?? "(no output)"}`)
      ].join("\n"))
    })
).pipe(Command.withDescription(withExamples("Wait until every worker with a task in flight settles (idle workers are not waited on); print their results.", [
  "troupe swarm wait fix",
  "troupe swarm wait fix --labels api,ui --timeout 10m --json"
])))

const status = Command.make("status", { swarm: swarmArg, ...callerOptions }, (input) =>
  withSwarms(input, (swarms) => swarms.status(input.swarm)).pipe(Effect.flatMap((s) => (input.json ? printJson(encodeInfo(s)) : print(swarmText(s))))))
  .pipe(Command.withDescription(withExamples("Every worker's state, turns and last output.", ["troupe swarm status fix"])))

const read = Command.make(
  "read",
  { swarm: swarmArg, label: labelArg, tail: Options.integer("tail").pipe(Options.withDescription("Only the last N characters"), Options.optional), ...callerOptions },
  (input) =>
    withSwarms(input, (swarms) => swarms.read(input.swarm, input.label, { tail: Option.getOrUndefined(input.tail) })).pipe(
      Effect.flatMap((w) => (input.json ? printJson(encodeWorker(w)) : print(`[${w.label}] (${w.state}, ${w.turns} tasks):\n${w.last_output ?? "(no output yet)"}`)))
    )
).pipe(Command.withDescription(withExamples("A worker's last output.", ["troupe swarm read fix api", "troupe swarm read fix api --tail 2000"])))

const teardown = Command.make("teardown", { swarm: swarmArg, ...callerOptions }, (input) =>
  withSwarms(input, (swarms) => swarms.teardown(input.swarm)).pipe(
    Effect.flatMap((r) => (input.json ? printJson(encodeTeardown(r)) : print(`swarm ${r.swarm} torn down: ${r.stopped.length} runs stopped, ${r.vms_deleted.length} VMs deleted`)))
  )).pipe(Command.withDescription(withExamples("Stop every worker and the swarm's run, delete their VMs, remove their worktrees.", ["troupe swarm teardown fix"])))

const discover = Command.make("discover", { ...callerOptions }, (input) =>
  withSwarms(input, (swarms) => swarms.discover()).pipe(
    Effect.flatMap((list) => (input.json ? printJson(list.map((s) => encodeInfo(s))) : print(list.length === 0 ? "no swarms" : list.map(swarmText).join("\n"))))
  )).pipe(Command.withDescription(withExamples("The swarms of this session and their workers, read back from the daemon's store (after a restart too).", ["troupe swarm discover --json"])))

/** `troupe swarm …`. */
export const swarm = Command.make("swarm").pipe(
  Command.withDescription("Groups of Pi workers: spawn, task, wait, status, read, teardown, discover (docs/swarms.md)"),
  Command.withSubcommands([spawn, task, wait, status, read, teardown, discover])
)
