/**
 * The `template` run kind: a run executes a CommandGraph plan (SPEC-runtime §1), as
 * pi-actors' detached runner did. Planning happens at spawn (every template and value error
 * before anything starts); each generation executes the plan. With `mailbox.delivery:
 * "stdin-jsonl"` the plan's first leaf reads a live stdin that the `stdin-jsonl` delivery
 * adapter writes envelopes into.
 */
import { Effect, Queue, Stream } from "effect"
import * as Output from "../../domain/Output.js"
import type { GraphResult, PlannedNode } from "../../domain/Plan.js"
import { ActorsError } from "../../domain/Run.js"
import type { TemplateError } from "../../domain/Template.js"
import { CommandGraph, firstLeafPath } from "../CommandGraph.js"
import { HostOwner } from "../Hosts.js"
import type { DeliveryRegistration, MailboxContract } from "../delivery/DeliveryAdapter.js"
import type { GenerationResult, RunInput, RunKind, StartedRun } from "./RunKind.js"

/** Bytes of final stdout/stderr kept in the store for `wait` and `view=tail`: 64 KiB. */
const outputTailBytes = Output.spilledTailBytes

const decodeTail = (o: Output.CapturedOutput) =>
  Output.decodeUtf8(Output.utf8SafeTail(o.bytes, outputTailBytes))

/**
 * One line on why a run failed: the critical failing step, its code and the last line of its
 * stderr (the full failure text stays in `view=tail`).
 */
export const failureSummary = (r: GraphResult): string => {
  const f = r.failures.find((x) => x.critical) ?? r.failures[r.failures.length - 1]
  if (f === undefined) return r.message ?? `exit code ${r.code}`
  const last = f.stderr_tail.trim().split("\n").pop() ?? ""
  const what = r.message ?? `step ${f.label ?? f.path} ${f.status === "timeout" ? "timed out" : `exited with code ${f.code}`}`
  return last === "" ? what : `${what} (${last.slice(0, 200)})`
}

/** A plan's result as a generation result. */
export const generationResult = (r: GraphResult): GenerationResult => {
  const state = r.status === "failed" || r.status === "timeout" ? "failed" : "done"
  return { state, code: r.code, error: state === "failed" ? failureSummary(r) : undefined, stdout: decodeTail(r.stdout), stderr: decodeTail(r.stderr) }
}

/**
 * A template run's delivery: what the recipe declares; without a declaration `fifo` when the
 * run makes `control.fifo`, else pull (pi-actors compatible). A declared `pi-rpc` is kept as
 * declared: only an agent run provides that adapter, so messages stay queued with
 * `delivery_unavailable` instead of silently becoming pull.
 */
export const templateDelivery = (mailbox: MailboxContract | undefined): DeliveryRegistration =>
  mailbox?.delivery === undefined ? { adapter: "fifo", declared: false } : { adapter: mailbox.delivery, declared: true }

/** A live stdin fed from an unbounded queue (`stdin-jsonl`). */
const queueInput = Effect.map(Queue.unbounded<Uint8Array>(), (queue): RunInput => ({
  offer: (bytes) => Effect.flatMap(queue.isShutdown, (down) => (down ? Effect.succeed(false) : Queue.offer(queue, bytes))),
  source: Stream.fromQueue(queue),
  close: Queue.shutdown(queue)
}))

/** The `template` kind over a CommandGraph. */
export const make = (graph: CommandGraph): RunKind => ({
  name: "template",
  delivery: templateDelivery,
  prepare: (setup) =>
    Effect.gen(function* () {
      const plan: PlannedNode = yield* graph
        .plan(setup.template, { values: setup.values, args: setup.recipe?.args, defaults: setup.recipe?.defaults, cwd: setup.cwd, home: setup.home, on: setup.on })
        .pipe(Effect.mapError((e: TemplateError) => new ActorsError({ reason: "invalid", message: e.message })))
      const delivery = templateDelivery(setup.mailbox)
      const input = delivery.adapter === "stdin-jsonl" ? yield* queueInput : undefined
      const leafPath = input === undefined ? undefined : firstLeafPath(plan)
      const execute = (run: StartedRun) =>
        graph.execute(plan, {
          outputDir: run.spillDir,
          env: run.env,
          logs: run.logs,
          maxLogBytes: run.logs.maxBytes,
          onEvent: run.onEvent,
          liveStdin: input === undefined || leafPath === undefined ? undefined : { leafPath, source: input.source }
        }).pipe(Effect.map(generationResult), Effect.provideService(HostOwner, { session: run.owner, run: run.id }))
      return { delivery, input, execute }
    })
})

