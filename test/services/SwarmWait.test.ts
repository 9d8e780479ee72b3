/**
 * `Swarms.wait` on the TestClock over a fake `Actors` (no processes): it waits only for
 * workers with a task in flight (streaming, or a task message newer than their last settled
 * task), returns when they settle, and at the deadline returns `timed_out` — never waiting on
 * an idle worker.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Option, TestClock } from "effect"
import type { AgentStatus } from "../../src/domain/AgentStatus.js"
import { InspectView } from "../../src/domain/Inspect.js"
import { ActorsError, type RunInfo } from "../../src/domain/Run.js"
import { workerKey } from "../../src/domain/Swarm.js"
import type { ActorsShape } from "../../src/services/Actors.js"
import type { InboxRecord } from "../../src/services/Mailbox.js"
import * as Swarms from "../../src/services/Swarms.js"

interface FakeWorker {
  agent: AgentStatus
  /** When its newest task message was stored (ms). */
  taskAt: number
}

const agent = (state: AgentStatus["state"], settledAt?: number): AgentStatus => ({
  state,
  generation: "g",
  pid: 1,
  model: null,
  turns: settledAt === undefined ? 0 : 1,
  model_turns: 0,
  tool_calls: 0,
  aborted: 0,
  last_output: settledAt === undefined ? null : "done",
  events: settledAt === undefined ? [] : [{ at: settledAt, type: "agent_settled" }]
})

/** An `Actors` that knows the workers of swarm `s` and nothing else. */
const fakeActors = (workers: Record<string, FakeWorker>): ActorsShape => {
  const none = () => Effect.fail(new ActorsError({ reason: "internal", message: "not in this fake" }))
  const runOf = (label: string) => ({ id: `s-${label}`, state: "running", values: { [workerKey]: { swarm: "s", label, vm_id: null } } }) as unknown as RunInfo
  return {
    session: "A",
    spawn: none,
    control: none,
    kill: none,
    inspect: (target) => {
      const label = target.replace(/^run:s-/, "")
      const w = workers[label]
      return w === undefined
        ? Effect.fail(new ActorsError({ reason: "not_found", message: `no ${target}` }))
        : Effect.succeed(new InspectView({ target, view: "status", text: "", data: { id: `s-${label}`, state: "running", values: {}, agent: w.agent } }))
    },
    list: () => Effect.succeed(Object.keys(workers).map(runOf)),
    wait: none,
    logs: () => Effect.die("not in this fake") as never,
    events: () => Effect.die("not in this fake") as never,
    archive: none,
    prune: none,
    message: () => Effect.succeed({} as never),
    inboxNext: () => Effect.succeed(Option.none()),
    inboxList: (address) => {
      const w = workers[address.replace(/^run:s-/, "")]
      return Effect.succeed(w === undefined || w.taskAt === 0 ? [] : [{ envelope: { type: "task.prompt" }, created_at: w.taskAt } as unknown as InboxRecord])
    },
    inboxSettle: none,
    roomTail: () => Effect.die("not in this fake") as never
  }
}

describe("Swarms.wait (TestClock)", () => {
  it.effect("waits for the streaming and the just-tasked workers, not the idle one; returns once they settle", () =>
    Effect.gen(function* () {
      const workers: Record<string, FakeWorker> = {
        busy: { agent: agent("streaming"), taskAt: 5 },
        sent: { agent: agent("idle", 3), taskAt: 7 },
        idle: { agent: agent("idle", 9), taskAt: 4 }
      }
      yield* TestClock.setTime(10)
      const fiber = yield* Effect.fork(Swarms.make(fakeActors(workers)).wait("s", { timeoutMs: 60_000 }))
      yield* TestClock.adjust("5 seconds")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      workers.busy!.agent = agent("idle", 20)
      workers.sent!.agent = agent("idle", 21)
      yield* TestClock.adjust("200 millis")
      const r = yield* Fiber.join(fiber)
      expect(r).toMatchObject({ timed_out: false, waited: ["busy", "sent"] })
      expect(r.elapsed_ms).toBeLessThan(6_000)
    }))

  it.effect("times out with timed_out at the deadline; with only idle workers it returns at once", () =>
    Effect.gen(function* () {
      const workers: Record<string, FakeWorker> = { stuck: { agent: agent("streaming"), taskAt: 1 }, idle: { agent: agent("idle", 2), taskAt: 1 } }
      const swarms = Swarms.make(fakeActors(workers))
      const fiber = yield* Effect.fork(swarms.wait("s", { timeoutMs: 30_000 }))
      yield* TestClock.adjust("29 seconds")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust("2 seconds")
      const r = yield* Fiber.join(fiber)
      expect(r).toMatchObject({ timed_out: true, waited: ["stuck"] })
      expect(r.workers.map((w) => [w.label, w.state])).toEqual([["idle", "idle"], ["stuck", "working"]])

      const idleOnly = yield* swarms.wait("s", { labels: ["idle"], timeoutMs: 30_000 })
      expect(idleOnly).toMatchObject({ timed_out: false, waited: [], elapsed_ms: 0 })
      const unknown = yield* Effect.flip(swarms.wait("s", { labels: ["nope"] }))
      expect(unknown.message).toBe("swarm s has no worker nope")
    }))
})
