/**
 * Swarms with FakePi (issue 16 item 5): a 3-worker local swarm (a worktree each, in a temporary
 * repository) takes a task each, `wait` returns their results and posts them to `room:<swarm>`,
 * teardown leaves no worktree and no process; `wait` never waits on idle workers and times out
 * with `timed_out`; VM placement on a FakeFleet: one VM per worker restored from the commit,
 * owner-labelled and in the ledger, each worker's Pi running on its VM (the remote agent
 * process), a crashing worker reported with only its VM deleted,
 * an interruption at every spawn step leaves zero VMs, the VM budget is checked up front.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import type { Caller } from "../../src/domain/Run.js"
import { makeLocal } from "../../src/services/Actors.js"
import { Rooms } from "../../src/services/Rooms.js"
import * as Swarms from "../../src/services/Swarms.js"
import { eventually, testRuntime } from "../support/runtime.js"
import { agentsWith, fakePiFor, gitRepo, vmSetup, worktreesOf } from "../support/swarm.js"

const A: Caller = { session: "A", all: false }
const runtime = () => testRuntime({ config: { environment: process.env } })

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe("Swarms (FakePi)", () => {
  it.scopedLive("local: 3 workers in worktrees take a task each; wait returns their results; teardown leaves nothing", () =>
    Effect.gen(function* () {
      const repo = yield* gitRepo
      const actors = yield* makeLocal(A)
      const swarms = Swarms.make(actors)
      const info = yield* swarms.spawn({ swarm: "sw", count: 3, pi: fakePiFor("local", { "-agent-1": "slow", "-agent-2": "slow", "-agent-3": "slow" }, 250), cwd: repo })
      expect(info.failures).toEqual([])
      expect(info).toMatchObject({ swarm: "sw", room: "room:sw", placement: "local" })
      expect(info.workers.map((w) => [w.label, w.run, w.state])).toEqual([["agent-1", "sw-agent-1", "idle"], ["agent-2", "sw-agent-2", "idle"], ["agent-3", "sw-agent-3", "idle"]])
      expect(yield* worktreesOf(repo)).toHaveLength(4)

      // Nothing in flight: wait returns at once, waiting on nobody.
      const idle = yield* swarms.wait("sw", { timeoutMs: 60_000 })
      expect(idle).toMatchObject({ timed_out: false, waited: [] })

      for (const w of info.workers) yield* swarms.task("sw", w.label, `job ${w.label}`)
      const done = yield* swarms.wait("sw", { timeoutMs: 30_000 })
      expect(done.timed_out).toBe(false)
      // Slow turns (about 1 s each): all three are still working when the wait starts.
      expect(done.waited).toEqual(["agent-1", "agent-2", "agent-3"])
      expect(done.workers.map((w) => [w.state, w.turns, w.last_output])).toEqual([
        ["idle", 1, "done: job agent-1"],
        ["idle", 1, "done: job agent-2"],
        ["idle", 1, "done: job agent-3"]
      ])
      const read = yield* swarms.read("sw", "agent-2", { tail: 5 })
      expect(read.last_output).toBe("ent-2")
      // Results are task.result posts of the workers' branches in room:sw (once each, even after a second wait).
      yield* swarms.wait("sw")
      const posts = (yield* (yield* Rooms).timeline("room:sw", { limit: 50 })).filter((e) => e.envelope.type === "task.result")
      expect(posts.map((p) => [p.envelope.from, (p.envelope.body as { text: string }).text])).toEqual([
        ["branch:sw/agent-1", "done: job agent-1"],
        ["branch:sw/agent-2", "done: job agent-2"],
        ["branch:sw/agent-3", "done: job agent-3"]
      ])

      const discovered = yield* swarms.discover()
      expect(discovered.map((s) => [s.swarm, s.workers.length])).toEqual([["sw", 3]])
      const pids = yield* Effect.forEach(info.workers, (w) =>
        Effect.map(actors.inspect(`run:${w.run}`, "status"), (v) => (v.data as { agent: { pid: number } }).agent.pid))
      expect(pids.every(alive)).toBe(true)
      const down = yield* swarms.teardown("sw")
      expect(down.stopped).toEqual(["sw-agent-1", "sw-agent-2", "sw-agent-3", "sw"])
      expect(pids.some(alive)).toBe(false)
      expect(yield* worktreesOf(repo)).toHaveLength(1)
      expect(yield* swarms.discover()).toEqual([])
      const gone = yield* Effect.flip(swarms.status("sw"))
      expect(gone.reason).toBe("not_found")
    }).pipe(Effect.provide(runtime())), 90_000)

  it.scopedLive("wait only waits on workers with a task in flight, and times out with timed_out", () =>
    Effect.gen(function* () {
      const actors = yield* makeLocal(A)
      const swarms = Swarms.make(actors)
      yield* swarms.spawn({ swarm: "w", labels: ["quick", "slow", "idle"], pi: fakePiFor("waits", { "-slow": "hang", "-quick": "slow" }, 250), worktree: false })
      yield* swarms.task("w", "quick", "q")
      const first = yield* swarms.wait("w", { labels: ["quick", "idle"], timeoutMs: 30_000 })
      expect(first).toMatchObject({ timed_out: false, waited: ["quick"] })
      yield* swarms.task("w", "slow", "never ends")
      const second = yield* swarms.wait("w", { timeoutMs: 1_000 })
      expect(second.timed_out).toBe(true)
      expect(second.waited).toEqual(["slow"])
      expect(second.workers.find((x) => x.label === "slow")!.state).toBe("working")
      expect(second.workers.find((x) => x.label === "idle")!.state).toBe("idle")
      yield* swarms.teardown("w")
    }).pipe(Effect.provide(runtime())), 60_000)

  it.scopedLive("vm: a worker per restored VM (labelled, in the ledger); a crashing worker is reported and only its VM deleted; teardown deletes the rest", () =>
    Effect.gen(function* () {
      const { fleet, ssh, vms, actors, commit, swarmVms } = yield* vmSetup(A, { agentsOnVms: true })
      const swarms = Swarms.make(actors, { vms: swarmVms, goldenCommitId: commit })
      const info = yield* swarms.spawn({ swarm: "vs", labels: ["w1", "w2", "w3"], pi: fakePiFor("vm", { "-w2": "crash" }) })
      expect(info.placement).toBe("vm")
      expect(info.commit_id).toBe(commit)
      const vmIds = info.workers.map((w) => w.vm_id!)
      expect(new Set(vmIds).size).toBe(3)
      for (const id of vmIds) expect(fleet.vm(id)?.labels).toMatchObject({ "troupe-session": "A", "troupe-run": "vs" })
      expect((yield* vms.ledger("A")).filter((r) => r.deleted_at === null).map((r) => r.vm_id).sort()).toEqual([...vmIds].sort())

      for (const w of info.workers) yield* swarms.task("vs", w.label, `job ${w.label}`)
      const done = yield* swarms.wait("vs", { timeoutMs: 30_000 })
      expect(done.timed_out).toBe(false)
      const byLabel = Object.fromEntries(done.workers.map((w) => [w.label, w]))
      expect(byLabel.w1).toMatchObject({ state: "idle", last_output: "done: job w1" })
      expect(byLabel.w3).toMatchObject({ state: "idle", last_output: "done: job w3" })
      expect(byLabel.w2!.state).toBe("failed")
      expect(byLabel.w2!.error).toContain("fake-pi: crashed on purpose")
      // Only the crashed worker's VM is gone.
      expect(fleet.vm(byLabel.w2!.vm_id!)).toBeUndefined()
      expect(fleet.vm(byLabel.w1!.vm_id!)).toBeDefined()
      expect(fleet.vm(byLabel.w3!.vm_id!)).toBeDefined()
      // Each Pi ran on its worker's VM (the remote agent process's event file is in that VM's root).
      for (const w of [byLabel.w1!, byLabel.w3!]) {
        const events = readFileSync(join(ssh.vm(w.vm_id!)!.root, ".troupe/agents", w.run, "events.jsonl"), "utf8")
        expect(events).toContain(`done: job ${w.label}`)
      }

      yield* swarms.teardown("vs")
      expect(fleet.ledger.live()).toEqual([])
    }), 90_000)

  it.scopedLive("vm: an interruption at every spawn step (and a failed spawn) leaves zero VMs", () =>
    Effect.gen(function* () {
      const { fleet, actors, commit, swarmVms, rt, supervisor } = yield* vmSetup(A, { agentsOnVms: true })
      for (const [i, step] of (["vm", "spawn", "ready"] as const).entries()) {
        const reached = yield* Deferred.make<void>()
        const swarms = Swarms.make(actors, { vms: swarmVms, goldenCommitId: commit })
        const fiber = yield* Effect.fork(swarms.spawn({
          swarm: `int${i}`,
          labels: ["a", "b"],
          pi: fakePiFor("interrupt"),
          // Worker b stops at the step; worker a may be anywhere.
          onProgress: (label, at) => (label === "b" && at === step ? Effect.zipRight(Deferred.succeed(reached, undefined), Effect.never) : Effect.void)
        }))
        yield* Deferred.await(reached)
        if (step !== "vm") expect(fleet.ledger.live().length).toBeGreaterThan(0)
        yield* Fiber.interrupt(fiber)
        yield* eventually(`no VM left after an interruption at ${step}`, Effect.sync(() => fleet.ledger.live().length === 0), 20_000)
        const left = (yield* supervisor.list(A, "active")).filter((r) => r.id.startsWith(`int${i}`))
        expect(left).toEqual([])
      }
      // A spawn step that fails deletes only that worker's VM.
      const failing = Swarms.make(agentsWith(yield* makeLocal(A).pipe(Effect.provide(rt)), { failOn: "f-bad" }), { vms: swarmVms, goldenCommitId: commit })
      const partial = yield* failing.spawn({ swarm: "f", labels: ["good", "bad"], pi: fakePiFor("interrupt") })
      expect(partial.failures).toEqual([{ label: "bad", error: "spawn of f-bad failed on purpose" }])
      expect(partial.workers.map((w) => w.label)).toEqual(["good"])
      expect(fleet.ledger.live().map((v) => v.vm_id)).toEqual([partial.workers[0]!.vm_id])
      yield* failing.teardown("f")
      expect(fleet.ledger.live()).toEqual([])
    }), 90_000)

  it.scopedLive("checks before starting: names, labels, VM budget, VM placement without Vers", () =>
    Effect.gen(function* () {
      const { actors, commit, swarmVms, fleet } = yield* vmSetup(A)
      const swarms = Swarms.make(actors, { vms: swarmVms, goldenCommitId: commit, vmBudget: 2 })
      expect((yield* Effect.flip(swarms.spawn({ swarm: "../x" }))).reason).toBe("invalid")
      expect((yield* Effect.flip(swarms.spawn({ swarm: "s", count: 2, labels: ["a"] }))).message).toBe("1 labels for 2 workers: give one label per worker")
      expect((yield* Effect.flip(swarms.spawn({ swarm: "s", labels: ["a", "a"] }))).message).toBe("labels must be distinct")
      const over = yield* Effect.flip(swarms.spawn({ swarm: "s", count: 3 }))
      expect(over.reason).toBe("budget")
      expect(over.message).toBe("3 more worker VMs would make 3, over the VM budget of 2: tear down a swarm or spawn fewer")
      const noVers = yield* Effect.flip(Swarms.make(actors).spawn({ swarm: "s", placement: "vm" }))
      expect(noVers.reason).toBe("unavailable")
      expect(fleet.ledger.live()).toEqual([])
    }), 30_000)
})
