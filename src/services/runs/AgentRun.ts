/**
 * The `agent` run kind (SPEC-vers §5 "Agent runs, local first"; docs/agents.md "Agent runs"):
 * a run is a Pi session in RPC mode. Each generation starts `pi --mode rpc --no-session`
 * (`PiRpc.spawnLocal`) in the run's cwd with the run's environment (`TROUPE_RUN`,
 * `TROUPE_TOKEN`, … as template leaves get), sets the model when asked (`set_model`, checked),
 * sends the task as the first prompt, and then stays up between tasks — like a service — until
 * `troupe kill`/`stop` (→ `killed`/`cancelled`). Pi exiting on its own is `failed` with
 * `PiRpcClosed`'s sentence, and the restart policy applies.
 *
 * Messages reach it through the `pi-rpc` delivery adapter (one envelope per live-input offer):
 * `task.prompt` → `prompt` (a follow-up while a task streams), `agent.steer` → `steer`,
 * `agent.follow_up` → `follow_up`, `agent.abort` → `abort`; any other type is handed to Pi as a
 * prompt naming its type and sender. Each settled task is reported to the owner (a follow-up
 * event `agent.settled` with the last assistant text) and posted to `room:<id>` as
 * `task.result`. The status (AgentStatus.ts) is written to `{state_dir}/agent.json`.
 *
 * With `on: vm:<id>` Pi runs on that VM under the setsid supervisor (AgentPi.ts, PiRpc's
 * RemotePi.ts; docs/agents.md "Agents on VMs"): each event's stream mark is folded into the
 * status with it, and a restarted owner re-attaches from that mark (`RunSetup.resume`,
 * RunAdoption.ts) instead of starting Pi again.
 *
 * pi-vers' lieutenants and swarm workers drove Pi over RPC the same way, fire-and-forget; here
 * every command is matched to its response and a rejection is recorded in the event tail.
 */
import { FileSystem, Path } from "@effect/platform"
import { Clock, Effect, Option, Queue, Schema, Stream } from "effect"
import { randomUUID } from "node:crypto"
import type { DiffStat, WorktreeRecord } from "../../domain/Worktree.js"
import { type AgentStatus, agentEventTail, agentStatusFile, foldEvent, initialStatus, settledText, settleStatus } from "../../domain/AgentStatus.js"
import type { EnvelopeBody } from "../../domain/Envelope.js"
import type { PiEvent, PiRpcError } from "../../domain/PiRpc.js"
import { initialMark, type StreamMark } from "../PiRpc.js"
import { ActorsError } from "../../domain/Run.js"
import type { DeliveryRegistration } from "../delivery/DeliveryAdapter.js"
import { startAgentPi } from "./AgentPi.js"
import type { AgentVmsShape } from "./AgentVms.js"
import type { GenerationResult, RunInput, RunKind, StartedRun } from "./RunKind.js"

/** What the `agent` kind needs from the runtime's configuration. */
export interface AgentRunOptions {
  /** Pi's executable when a spawn names none (`PI_PATH`, default `pi`). */
  readonly pi: string
  /** Base environment of Pi; the run's `TROUPE_*` variables are added. */
  readonly environment: Readonly<Record<string, string | undefined>>
  /** SIGTERM → SIGKILL grace when the run stops (ms). */
  readonly graceMs: number
  /**
   * The diff stat of a worktree-isolated run against its base commit (`Worktrees.diff`), added
   * to each settled task's follow-up; absent = no stat.
   */
  readonly diff?: ((record: WorktreeRecord) => Effect.Effect<DiffStat, unknown>) | undefined
  /** SSH to VMs, for `on: vm:<id>` (docs/agents.md "Agents on VMs"); absent = local agents only. */
  readonly vms?: AgentVmsShape | undefined
}

/** An agent run's inbox messages always go through `pi-rpc`: the kind's own choice (`declared: false`). */
export const agentDelivery = (): DeliveryRegistration => ({ adapter: "pi-rpc", declared: false })

/** The message types an agent run understands (others become a prompt naming their type). */
export const agentMessageTypes = ["task.prompt", "agent.steer", "agent.follow_up", "agent.abort"] as const

/** `provider/modelId` → its two parts (the id may contain `/`). */
export const parseModel = (model: string): { readonly provider: string; readonly modelId: string } | undefined => {
  const slash = model.indexOf("/")
  return slash <= 0 || slash === model.length - 1 ? undefined : { provider: model.slice(0, slash), modelId: model.slice(slash + 1) }
}

/** An inbox envelope as the live input carries it: the fields an agent reads. */
const DeliveredEnvelope = Schema.Struct({
  type: Schema.String,
  from: Schema.optional(Schema.String),
  summary: Schema.optional(Schema.String),
  body: Schema.optional(Schema.Unknown)
})
type DeliveredEnvelope = typeof DeliveredEnvelope.Type
const decodeDelivered = Schema.decodeUnknownOption(Schema.parseJson(DeliveredEnvelope))

/** The text of a message body: a string, or the `text`/`message`/`prompt` of an object, else its JSON. */
export const bodyText = (envelope: DeliveredEnvelope): string => {
  const body = envelope.body
  if (typeof body === "string") return body
  if (typeof body === "object" && body !== null) {
    for (const key of ["text", "message", "prompt"]) {
      const value = (body as Record<string, unknown>)[key]
      if (typeof value === "string") return value
    }
    return JSON.stringify(body)
  }
  return envelope.summary ?? ""
}

const decoder = new TextDecoder()

/** A live input fed from an unbounded queue: kept across generations, so queued messages wait for the next Pi. */
const queueInput = Effect.map(Queue.unbounded<Uint8Array>(), (queue): RunInput => ({
  offer: (bytes) => Effect.flatMap(queue.isShutdown, (down) => (down ? Effect.succeed(false) : Queue.offer(queue, bytes))),
  source: Stream.fromQueue(queue),
  close: Queue.shutdown(queue)
}))

/** Exit code of a generation from Pi's closing sentence (`exited with code N`), else 1. */
const exitCode = (message: string) => {
  const m = /exited with code (\d+)/.exec(message)
  return m === null ? 1 : Number(m[1]) === 0 ? 1 : Number(m[1])
}

/** The `agent` kind. */
export const make = (options: AgentRunOptions, fs: FileSystem.FileSystem, path: Path.Path): RunKind => ({
  name: "agent",
  delivery: agentDelivery,
  prepare: (setup) =>
    Effect.gen(function* () {
      const agent = setup.agent ?? {}
      if (setup.template !== undefined) {
        return yield* new ActorsError({ reason: "invalid", message: "an agent run takes a task, not a template (drop --template or the recipe's template)" })
      }
      const on = setup.on === undefined || setup.on === "local" ? undefined : setup.on
      if (on !== undefined && !(on.startsWith("vm:") && on.length > 3)) {
        return yield* new ActorsError({ reason: "invalid", message: `an agent runs locally or on vm:<id>, not on ${on}` })
      }
      if (on !== undefined && options.vms === undefined) {
        return yield* new ActorsError({ reason: "invalid", message: `an agent cannot run on ${on} here: this runtime has no VM access` })
      }
      if (on !== undefined && setup.worktree !== undefined) {
        return yield* new ActorsError({ reason: "invalid", message: "worktree isolation is for local agents; drop --worktree (or the recipe's isolation) with --on vm:<id>" })
      }
      const model = agent.model === undefined ? undefined : parseModel(agent.model)
      if (agent.model !== undefined && model === undefined) {
        return yield* new ActorsError({ reason: "invalid", message: `model must be provider/modelId (e.g. anthropic/claude-sonnet-4-5), not ${JSON.stringify(agent.model)}` })
      }
      if (agent.pi !== undefined && agent.pi.trim() === "") return yield* new ActorsError({ reason: "invalid", message: "pi must name Pi's executable" })
      const input = yield* queueInput
      // A resumed run re-attaches once; a later generation (restart policy) starts a fresh Pi.
      let resume = setup.resume?.remote === undefined ? undefined : setup.resume
      const execute = (run: StartedRun) => {
        const attach = resume
        resume = undefined
        return generation(run, { pi: agent.pi ?? (on === undefined ? options.pi : "pi"), task: agent.task, model: agent.model, cwd: setup.cwd, on, input, worktree: setup.worktree, resume: attach }, options, fs, path)
      }
      return { delivery: agentDelivery(), input, execute }
    })
})

interface Generation {
  readonly pi: string
  readonly task: string | undefined
  readonly model: string | undefined
  readonly cwd: string
  /** `vm:<id>`, or undefined for a local Pi. */
  readonly on: string | undefined
  readonly input: RunInput
  /** The run's git worktree (`--worktree`): each settled task reports its diff stat. */
  readonly worktree: WorktreeRecord | undefined
  /** The status a previous owner persisted: re-attach to its agent on the VM (no model, no task sent). */
  readonly resume?: AgentStatus | undefined
}

/** One generation: Pi up, model set, task sent, messages and events handled until Pi ends. */
const generation = (run: StartedRun, g: Generation, options: AgentRunOptions, fs: FileSystem.FileSystem, path: Path.Path) =>
  Effect.scoped(
    Effect.gen(function* () {
      const file = path.join(run.stateDir, agentStatusFile)
      const resumed = g.resume
      let status: AgentStatus = resumed === undefined
        ? { ...initialStatus(run.generation), model: g.model ?? null }
        : { ...resumed, generation: run.generation, state: resumed.state === "streaming" ? "streaming" : "idle" }
      const lock = yield* Effect.makeSemaphore(1)
      // Written whole to a temporary file and renamed, so a reader never sees half a status.
      const save = Effect.suspend(() => {
        const tmp = `${file}.${randomUUID().slice(0, 8)}.tmp`
        return fs.writeFileString(tmp, JSON.stringify(status), { mode: 0o600 }).pipe(
          Effect.zipRight(fs.rename(tmp, file)),
          Effect.catchAll((e) => Effect.logWarning(`run:${run.id}: agent status not written: ${e.message}`))
        )
      })
      const update = (f: (s: AgentStatus) => AgentStatus) => lock.withPermits(1)(Effect.zipRight(Effect.sync(() => void (status = f(status))), save))
      const note = (type: string, summary: string) =>
        Effect.flatMap(Clock.currentTimeMillis, (at) => update((s) => ({ ...s, events: [...s.events, { at, type, summary }].slice(-agentEventTail) })))
      const ended = (error: string, code: number): Effect.Effect<GenerationResult> =>
        Effect.as(update((s) => ({ ...s, state: "exited", error })), { state: "failed", code, error, stdout: status.last_output ?? "", stderr: "" })
      yield* save
      // Registered before Pi starts, so it runs after Pi is stopped (kill, cancel, owner stop).
      yield* Effect.addFinalizer(() => update((s) => (s.state === "exited" ? s : { ...s, state: "exited" })))

      const marker = `agent-${run.id}-${randomUUID()}`
      const started = yield* startAgentPi(
        {
          runId: run.id,
          owner: run.owner,
          pi: g.pi,
          cwd: g.cwd,
          on: g.on,
          env: { ...options.environment, ...run.env },
          marker,
          graceMs: options.graceMs,
          attach: resumed?.remote === undefined
            ? undefined
            : { remote: resumed.remote, from: resumed.stream ?? initialMark, streaming: resumed.state === "streaming" }
        },
        options.vms
      ).pipe(Effect.either)
      if (started._tag === "Left") return yield* ended(started.left.message, 127)
      const pi = started.right.session
      const { nextMark, remote } = started.right
      yield* run.onEvent({
        type: "command.start",
        path: "pi",
        label: "pi",
        argv: [...started.right.argv],
        host: started.right.host,
        pid: started.right.pid,
        pgid: started.right.pid,
        startTime: started.right.startTime,
        marker,
        attempt: 1
      })
      yield* update((s) => ({ ...s, pid: started.right.pid, ...(remote === undefined ? {} : { remote }) }))

      let lastEndAborted = false
      // Settled tasks, reported once each (Pi 1.x `agent_settled`; older Pi: the session's fallback).
      let reported = (yield* pi.turnState).settledRuns
      const reportLock = yield* Effect.makeSemaphore(1)
      const reportSettled = reportLock.withPermits(1)(
        Effect.gen(function* () {
          const turn = yield* pi.turnState
          if (turn.settledRuns <= reported) return
          reported = turn.settledRuns
          // Older Pi does not say `aborted` when settling (0.82: `agent_settled` without it, or no
          // `agent_settled` at all); the run's aborted assistant message does.
          const aborted = turn.lastAborted || lastEndAborted
          const text = yield* pi.send({ type: "get_last_assistant_text" }).pipe(Effect.map((r) => r.text), Effect.orElseSucceed(() => null))
          const stats = yield* pi.send({ type: "get_session_stats" }).pipe(Effect.option, Effect.map(Option.getOrUndefined))
          // A follow-up queued during the task may have started the next one meanwhile.
          const streaming = (yield* pi.turnState).streaming
          yield* update((s) => settleStatus(s, { aborted, text, stats, streaming }))
          // A worktree run's stat against its base commit (a failed `git diff` only loses the stat).
          const stat = g.worktree === undefined || options.diff === undefined
            ? undefined
            : yield* options.diff(g.worktree).pipe(Effect.option, Effect.map(Option.getOrUndefined))
          const data = {
            turn: status.turns,
            aborted,
            text,
            tool_calls: status.tool_calls,
            ...(status.tokens === undefined ? {} : { tokens: status.tokens }),
            ...(status.cost === undefined ? {} : { cost: status.cost }),
            ...(stat === undefined ? {} : { worktree: { branch: stat.branch, base: stat.base, insertions: stat.insertions, deletions: stat.deletions, files: stat.files.length } })
          }
          yield* run.report({
            type: "agent.settled",
            roomType: "task.result",
            summary: `Task ${status.turns} ${aborted ? "aborted" : "settled"}`,
            text: settledText(run.id, status.turns, aborted, text) + (stat === undefined ? "" : `\n${stat.text}`),
            data: data as EnvelopeBody & Record<string, unknown>
          })
        })
      )

      // On a VM each event's mark is folded with it, in the same status write (resume point).
      const fold = (event: PiEvent, at: number, mark: StreamMark | undefined) => (s: AgentStatus): AgentStatus => {
        const folded = foldEvent(s, event, at)
        return mark === undefined ? folded : { ...folded, stream: mark }
      }
      const onEvent = (event: PiEvent) =>
        Effect.gen(function* () {
          const at = yield* Clock.currentTimeMillis
          const mark = nextMark === undefined ? undefined : yield* nextMark
          // Deltas and partial tool results are many and change no count: kept in memory only.
          if (event.type === "message_update" || event.type === "tool_execution_update") {
            status = fold(event, at, mark)(status)
            return
          }
          yield* update(fold(event, at, mark))
          // Forked: the report asks Pi (responses come through the reader this fiber must keep draining).
          if (event.type === "agent_settled") yield* Effect.forkScoped(reportSettled)
          // Older Pi has no `agent_settled`: the session settles the run after `agent_end` (get_state).
          if (event.type === "agent_end") lastEndAborted = event.messages.some((m) => m.role === "assistant" && m.stopReason === "aborted")
          if (event.type === "agent_end" && event.willRetry !== true && !(yield* pi.turnState).sendsSettled) {
            yield* Effect.forkScoped(Effect.zipRight(Effect.ignore(pi.awaitSettled), reportSettled))
          }
        })
      const events = yield* pi.subscribe
      yield* Effect.forkScoped(Stream.runForEach(events, onEvent))
      yield* started.right.open

      // Up only once Pi answers a decoded `get_state` (what a swarm worker's readiness means).
      // Asked after `open`: on a VM, Pi's responses arrive through the event flow `open` starts.
      if (resumed === undefined) {
        const piState = yield* Effect.either(pi.send({ type: "get_state" }))
        if (piState._tag === "Left") return yield* ended(piState.left.message, 1)
      }

      if (g.model !== undefined && resumed === undefined) {
        const { provider, modelId } = parseModel(g.model)!
        const set = yield* Effect.either(pi.send({ type: "set_model", provider, modelId }))
        if (set._tag === "Left") return yield* ended(set.left.message, 1)
      }

      const refused = (what: string) => (e: PiRpcError) =>
        e._tag === "PiRpcClosed" ? Effect.void : Effect.zipRight(note("rejected", `${what}: ${e.message}`), Effect.logWarning(`run:${run.id}: ${e.message}`))
      const command = (what: string, effect: Effect.Effect<unknown, PiRpcError>) => Effect.asVoid(Effect.catchAll(effect, refused(what)))
      const dispatch = (envelope: DeliveredEnvelope) => {
        const text = bodyText(envelope)
        switch (envelope.type) {
          case "task.prompt":
            return command("prompt", pi.prompt(text))
          case "agent.steer":
            return command("steer", pi.steer(text))
          case "agent.follow_up":
            return command("follow_up", pi.followUp(text))
          case "agent.abort":
            return Effect.catchAll(pi.abort, refused("abort"))
          default:
            return command("prompt", pi.prompt(`Message ${envelope.type}${envelope.from === undefined ? "" : ` from ${envelope.from}`}${envelope.summary === undefined ? "" : ` (${envelope.summary})`}:\n${text}`))
        }
      }
      const onInput = (bytes: Uint8Array) =>
        Option.match(decodeDelivered(decoder.decode(bytes).trim()), {
          onNone: () => note("ignored", "a message that is not an envelope"),
          // Forked: an abort waits for Pi to be idle, and later messages must not wait behind it.
          onSome: (envelope) => (envelope.type === "agent.abort" ? Effect.asVoid(Effect.forkScoped(dispatch(envelope))) : dispatch(envelope))
        })

      if (resumed === undefined) {
        yield* update((s) => ({ ...s, state: "idle" }))
        if (g.task !== undefined && g.task !== "") yield* command("prompt", pi.prompt(g.task))
      }
      yield* Effect.forkScoped(Stream.runForEach(g.input.source, onInput))

      const closed = yield* pi.closed
      return yield* ended(closed.message, exitCode(closed.message))
    })
  )
