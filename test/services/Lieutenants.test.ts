/**
 * Lieutenants with FakePi (issue 16 item 6): create → ready after get_state, send as prompt,
 * auto follow-up while busy, read = last output + history, pause refuses sends until resume,
 * destroy one or `*`; and a lieutenant survives a daemon restart (a new runtime on the same
 * home): discover re-attaches it with its recorded role and it answers the next `send`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, ExecutionStrategy, Exit, Layer, Scope } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ActorsError, type Caller } from "../../src/domain/Run.js"
import { makeLocal } from "../../src/services/Actors.js"
import * as Lieutenants from "../../src/services/Lieutenants.js"
import { Supervisor } from "../../src/services/Supervisor.js"
import { eventually, testRuntime } from "../support/runtime.js"
import { fakePiFor, vmSetup } from "../support/swarm.js"

const A: Caller = { session: "A", all: false }
const runtime = (home?: string) => testRuntime({ home, config: { environment: process.env } })

/** Waits until lieutenant `name` is idle with at least `tasks` settled tasks. */
const settled = (lts: Lieutenants.LieutenantsShape, name: string, tasks: number) =>
  eventually(`${name} idle after ${tasks} tasks`, Effect.map(lts.status(name), ([lt]) => lt!.state === "idle" && lt!.tasks >= tasks), 20_000)

describe("Lieutenants (FakePi)", () => {
  it.scopedLive("create, send, auto follow-up, read with history, pause/resume, destroy", () =>
    Effect.gen(function* () {
      const lts = Lieutenants.make(yield* makeLocal(A))
      const created = yield* lts.create({ name: "ops", role: "keeps the build green", model: "fake/m1", pi: fakePiFor("lt-slow", { "-ops": "slow" }, 300) })
      expect(created).toMatchObject({ name: "ops", run: "lt-ops", role: "keeps the build green", model: "fake/m1", placement: "local", vm_id: null })
      expect(["idle", "working"]).toContain(created.state)
      // The briefing is its first task.
      yield* settled(lts, "ops", 1)
      expect((yield* lts.read("ops")).last_output).toContain(`done: You are a lieutenant agent named "ops".`)

      expect(yield* lts.send("ops", "first job")).toMatchObject({ mode: "prompt", auto: false })
      yield* eventually("ops works", Effect.map(lts.status("ops"), ([lt]) => lt!.state === "working"), 10_000)
      // Busy: a prompt becomes a follow-up of the running task.
      expect(yield* lts.send("ops", "more work")).toMatchObject({ mode: "followUp", auto: true })
      yield* settled(lts, "ops", 2)
      const read = yield* lts.read("ops")
      expect(read.last_output).toBe("done: more work")
      expect(read.history).toHaveLength(1)
      expect(read.history[0]).toContain("done: You are a lieutenant")
      expect((yield* lts.read("ops", { history: 0, tail: 4 }))).toMatchObject({ last_output: "work", history: [] })

      expect((yield* lts.pause("ops")).state).toBe("paused")
      const refused = yield* Effect.flip(lts.send("ops", "while paused"))
      expect(refused.message).toBe("lieutenant ops is paused: resume it first (troupe lt resume ops)")
      expect((yield* lts.resume("ops")).state).toBe("idle")
      yield* lts.send("ops", "after resume")
      yield* settled(lts, "ops", 3)
      expect((yield* lts.read("ops")).last_output).toBe("done: after resume")

      const dup = yield* Effect.flip(lts.create({ name: "ops", role: "x" }))
      expect(dup.message).toBe("lieutenant ops already exists: destroy it first or choose another name")
      yield* lts.create({ name: "docs", role: "writes docs", pi: fakePiFor("lt") })
      expect((yield* lts.status()).map((l) => l.name).sort()).toEqual(["docs", "ops"])
      expect(yield* lts.destroy("docs")).toEqual(["docs"])
      expect(yield* lts.destroy("*")).toEqual(["ops"])
      expect(yield* lts.status()).toEqual([])
      expect((yield* Effect.flip(lts.send("ops", "x"))).reason).toBe("not_found")
    }).pipe(Effect.provide(runtime())), 60_000)

  it.scopedLive("a lieutenant survives a daemon restart and answers the next send", () =>
    Effect.gen(function* () {
      const home = mkdtempSync(join(tmpdir(), "troupe-lt-restart-"))
      const pi = fakePiFor("restart")
      // The first "daemon": a runtime on `home`, closed like a daemon stop.
      const first = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
      const rt1 = yield* Layer.buildWithScope(runtime(home), first)
      const lts1 = Lieutenants.make(yield* makeLocal(A).pipe(Effect.provide(rt1)))
      yield* lts1.create({ name: "keeper", role: "remembers things", systemPrompt: "Be brief.", pi })
      yield* settled(lts1, "keeper", 1)
      yield* lts1.send("keeper", "before restart")
      yield* settled(lts1, "keeper", 2)
      const pid1 = (yield* Context.get(rt1, Supervisor).get(A, "lt-keeper")).info.processes[0]?.pid
      yield* Scope.close(first, Exit.void)

      const rt2 = yield* Layer.build(runtime(home))
      const lts2 = Lieutenants.make(yield* makeLocal(A).pipe(Effect.provide(rt2)))
      const [before] = yield* lts2.status("keeper")
      expect(before).toMatchObject({ name: "keeper", role: "remembers things", state: "stopped" })
      const [after] = yield* lts2.discover()
      expect(after).toMatchObject({ name: "keeper", role: "remembers things" })
      expect(["idle", "working"]).toContain(after!.state)
      const pid2 = (yield* Context.get(rt2, Supervisor).get(A, "lt-keeper")).info.processes[0]?.pid
      expect(pid2).not.toBe(pid1)
      yield* lts2.send("keeper", "after restart")
      yield* eventually("keeper answers", Effect.map(lts2.read("keeper"), (r) => r.state === "idle" && r.last_output === "done: after restart"), 20_000)
      // Its results from before the restart are kept; the new Pi got the briefing again, with the recorded role and system prompt.
      const history = (yield* lts2.read("keeper")).history
      expect(history[0]).toContain("Your role: remembers things")
      expect(history[1]).toBe("done: before restart")
      const events = yield* makeLocal(A).pipe(Effect.provide(rt2), Effect.flatMap((a) => a.inspect("run:lt-keeper", "events", { lines: 200 })))
      expect(events.text).toContain(`user: You are a lieutenant agent named "keeper". Your role: remembers things Be brief.`)
      yield* lts2.destroy("*")
    }), 60_000)

  it.scopedLive("on a VM: a session-owned VM restored from the commit, paused and resumed through Vers, deleted by destroy", () =>
    Effect.gen(function* () {
      const { fleet, actors, commit, swarmVms } = yield* vmSetup(A)
      const lts = Lieutenants.make(actors, { vms: swarmVms, goldenCommitId: commit })
      const l = yield* lts.create({ name: "far", role: "lives on a VM", pi: fakePiFor("lt-vm") })
      expect(l.placement).toBe("vm")
      const vm = fleet.vm(l.vm_id!)
      expect(vm?.labels).toMatchObject({ "troupe-session": "A" })
      expect(vm?.labels["troupe-run"]).toBeUndefined()
      yield* settled(lts, "far", 1)
      yield* lts.pause("far")
      expect(fleet.vm(l.vm_id!)?.state).toBe("paused")
      yield* lts.resume("far")
      expect(fleet.vm(l.vm_id!)?.state).toBe("running")
      yield* lts.destroy("far")
      expect(fleet.ledger.live()).toEqual([])

      // A failed start deletes the VM it restored.
      const failing = Lieutenants.make({ ...actors, spawn: (input) => (input.kind === "agent" ? Effect.fail(new ActorsError({ reason: "internal", message: "no Pi here" })) : actors.spawn(input)) }, { vms: swarmVms, goldenCommitId: commit })
      const err = yield* Effect.flip(failing.create({ name: "nope", role: "r" }))
      expect(err.message).toBe("no Pi here")
      expect(fleet.ledger.live()).toEqual([])
    }), 60_000)
})
