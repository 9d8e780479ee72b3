/**
 * Supervisor: restart policy and backoff, generation fencing, duplicate and invalid spawns,
 * ownership, session events and kills — on the TestClock with a fake Clock-driven host, plus a
 * few runs of real processes through LocalHost.
 */
import { FileSystem, Path } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Layer, Option, Stream, TestClock } from "effect"
import { type ActorsError, isTerminal, type RunEvent, type SessionEvent } from "../../src/domain/Run.js"
import { homePaths, TroupeConfig } from "../../src/layers/Config.js"
import { makeLocal } from "../../src/services/Actors.js"
import { type Caller, SpawnRequest, Supervisor } from "../../src/services/Supervisor.js"
import { pidsWithEnv } from "../support/procs.js"
import { type ClockHostStats, clockHost, eventually, liveSleep, testRuntime } from "../support/runtime.js"

type Runtime = Layer.Layer.Success<ReturnType<typeof testRuntime>>

const A: Caller = { session: "A", all: false }
const B: Caller = { session: "B", all: false }
const operator: Caller = { session: "cli", all: true }
/** An empty session: owns nothing, whatever it started (fail closed). */
const nobody: Caller = { session: "", all: false }

/** Runs `body` against a fresh runtime on a fake Clock-driven host. */
const withFakeHost = <X, E>(body: (host: ClockHostStats) => Effect.Effect<X, E, Runtime>) => {
  const host = clockHost()
  return body(host.stats).pipe(Effect.provide(testRuntime({ host: host.layer })))
}

type SpawnFields = ConstructorParameters<typeof SpawnRequest>[0]

const spawn = (caller: Caller, fields: SpawnFields) =>
  Effect.flatMap(Supervisor, (s) => s.spawn(caller, SpawnRequest.make({ cwd: "/", ...fields })))

/** The current record of a run, read as the operator. */
const info = (id: string) => Effect.map(Effect.flatMap(Supervisor, (s) => s.get(operator, id)), (r) => r.info)

const runEvents = (id: string): Effect.Effect<ReadonlyArray<RunEvent>, ActorsError, Supervisor> =>
  Effect.flatMap(Supervisor, (s) => s.runEvents(operator, id, 1000))

const sessionEvents = (caller: Caller, since = 0): Effect.Effect<ReadonlyArray<SessionEvent>, ActorsError, Supervisor> =>
  Effect.flatMap(Supervisor, (s) => Stream.runCollect(s.sessionEvents(caller, since, false))).pipe(Effect.map(Chunk.toReadonlyArray))

/** Waits (real time) until the fake host has started `n` leaves in total. */
const started = (host: ClockHostStats, n: number) =>
  eventually(`${n} leaf start(s) (have ${host.specs.length})`, Effect.sync(() => host.specs.length >= n))

/** Waits until the run's record satisfies `p` (e.g. it reached its backoff sleep). */
const until = (id: string, what: string, p: (r: Effect.Effect.Success<ReturnType<typeof info>>) => boolean) =>
  eventually(`run:${id} ${what}`, Effect.map(info(id), p))

/** Lets forked fibers and I/O settle on the real clock, for "nothing happened" assertions. */
const settle = liveSleep(25)

const types = (events: ReadonlyArray<{ readonly type: string }>) => events.map((e) => e.type)

// ---------------------------------------------------------------------------------------------

describe("restart policy and backoff (TestClock)", () => {
  it.effect("on-failure: 3 attempts, backoffs 100 then 200 ms, then failed at the restart limit", () =>
    withFakeHost((host) =>
      Effect.gen(function* () {
        const sup = yield* Supervisor
        const first = yield* spawn(A, {
          template: "leaf 10 3",
          as: "run:flaky",
          restart: { restart: "on-failure", max_restarts: 2, restart_window_ms: 60_000, backoff_ms: 100 }
        })
        expect(first.state).toMatch(/^(starting|running)$/)
        yield* started(host, 1)

        // Attempt 1 fails at t=10; the first backoff is 100 ms.
        yield* TestClock.adjust(10)
        yield* until("flaky", "restart 1 recorded", (r) => r.restarts === 1)
        yield* TestClock.adjust(99)
        yield* settle
        expect(host.specs).toHaveLength(1)
        expect((yield* info("flaky")).state).toBe("starting")
        yield* TestClock.adjust(1)
        yield* started(host, 2)

        // Attempt 2 fails at t=120; the second backoff is 200 ms.
        yield* TestClock.adjust(10)
        yield* until("flaky", "restart 2 recorded", (r) => r.restarts === 2)
        yield* TestClock.adjust(199)
        yield* settle
        expect(host.specs).toHaveLength(2)
        yield* TestClock.adjust(1)
        yield* started(host, 3)

        // Attempt 3 fails at t=330: 2 restarts within the window already → failed for good.
        yield* TestClock.adjust(10)
        yield* until("flaky", "terminal", (r) => isTerminal(r.state))
        const outcome = yield* sup.wait(A, "run:flaky")
        expect(outcome.timed_out).toBe(false)
        expect(outcome.run.state).toBe("failed")
        expect(outcome.run.restarts).toBe(2)
        expect(outcome.run.code).toBe(3)
        expect(outcome.run.error).toMatch(/^restart limit reached \(2 restarts within 60000 ms\)/)
        expect(outcome.run.error).toContain("boom 3")
        expect(outcome.run.ended_at).toBe(330)

        // Nothing more starts, however long we wait.
        yield* TestClock.adjust(60_000)
        yield* settle
        expect(host.specs).toHaveLength(3)

        const events = yield* runEvents("flaky")
        const starts = events.filter((e) => e.type === "run.start")
        const restarts = events.filter((e) => e.type === "run.restart")
        expect(starts.map((e) => e.at)).toEqual([0, 110, 320])
        expect(restarts.map((e) => e.data.delay_ms)).toEqual([100, 200])
        expect(restarts.map((e) => e.data.restart)).toEqual([1, 2])
        expect(restarts.map((e) => e.data.code)).toEqual([3, 3])
        // A new generation on every restart, announced by the restart event.
        const generations = starts.map((e) => e.generation)
        expect(new Set(generations).size).toBe(3)
        expect(generations[0]).toBe(first.generation)
        expect(restarts.map((e) => e.data.next_generation)).toEqual(generations.slice(1))
        expect(restarts.map((e) => e.generation)).toEqual(generations.slice(0, 2))
        expect(outcome.run.generation).toBe(generations[2])
        expect(types(events).at(-1)).toBe("run.failed")
        // The owner saw each failed attempt and one final failure.
        expect(types(yield* sessionEvents(A))).toEqual(["command.done", "command.done", "command.done", "run.failed"])
        // Each attempt is a separate leaf with the run's environment.
        expect(host.specs.every((s) => s.env?.TROUPE_RUN === "flaky")).toBe(true)
      })
    ))

  it.effect("on-failure: a successful run is not restarted", () =>
    withFakeHost((host) =>
      Effect.gen(function* () {
        yield* spawn(A, { template: "leaf 10 0", as: "ok", restart: { restart: "on-failure", backoff_ms: 100 } })
        yield* started(host, 1)
        yield* TestClock.adjust(10)
        yield* until("ok", "done", (r) => r.state === "done")
        yield* TestClock.adjust(10_000)
        yield* settle
        const r = yield* info("ok")
        expect(r.state).toBe("done")
        expect(r.code).toBe(0)
        expect(r.restarts).toBe(0)
        expect(host.specs).toHaveLength(1)
        expect(types(yield* runEvents("ok"))).not.toContain("run.restart")
      })
    ))

  it.effect("always: restarts after success too, until the restart limit", () =>
    withFakeHost((host) =>
      Effect.gen(function* () {
        yield* spawn(A, { template: "leaf 10 0", as: "loop", restart: { restart: "always", max_restarts: 1, backoff_ms: 100 } })
        yield* started(host, 1)
        yield* TestClock.adjust(10)
        yield* until("loop", "restart 1 recorded", (r) => r.restarts === 1)
        const restart = (yield* runEvents("loop")).find((e) => e.type === "run.restart")
        expect(restart?.data).toMatchObject({ state: "done", code: 0, delay_ms: 100 })
        yield* TestClock.adjust(100)
        yield* started(host, 2)
        yield* TestClock.adjust(10)
        yield* until("loop", "terminal", (r) => isTerminal(r.state))
        const final = yield* info("loop")
        // Intensity exceeded: the run fails for good even though every attempt succeeded.
        expect(final.state).toBe("failed")
        expect(final.restarts).toBe(1)
        expect(final.error).toMatch(/^restart limit reached/)
        expect(host.specs).toHaveLength(2)
      })
    ))

  it.effect("never (the default): a failed run is not restarted", () =>
    withFakeHost((host) =>
      Effect.gen(function* () {
        const r0 = yield* spawn(A, { template: "leaf 10 2", as: "once" })
        expect(r0.restart.restart).toBe("never")
        yield* started(host, 1)
        yield* TestClock.adjust(10)
        yield* until("once", "failed", (r) => r.state === "failed")
        yield* TestClock.adjust(60_000)
        yield* settle
        const r = yield* info("once")
        expect(r.code).toBe(2)
        expect(r.restarts).toBe(0)
        expect(r.error).toContain("exited with code 2")
        expect(host.specs).toHaveLength(1)
        expect(types(yield* runEvents("once"))).toEqual(["run.start", "command.start", "command.done", "run.failed"])
      })
    ))

  it.effect("restart window: restarts older than the window do not count", () =>
    withFakeHost((host) =>
      Effect.gen(function* () {
        const policy = { restart: "on-failure", max_restarts: 1, restart_window_ms: 1000, backoff_ms: 100 } as const
        // Fast failures: the second failure comes 110 ms after the first restart → limit.
        yield* spawn(A, { template: "leaf 10 1", as: "fast", restart: policy })
        yield* started(host, 1)
        yield* TestClock.adjust(10)
        yield* until("fast", "restart 1 recorded", (r) => r.restarts === 1)
        yield* TestClock.adjust(100)
        yield* started(host, 2)
        yield* TestClock.adjust(10)
        yield* until("fast", "failed", (r) => r.state === "failed")
        expect((yield* info("fast")).error).toMatch(/^restart limit reached \(1 restarts within 1000 ms\)/)
        expect(host.specs).toHaveLength(2)

        // Slow failures: each attempt lasts 2000 ms, so the previous restart has left the
        // 1000 ms window by the time the next failure comes — it keeps restarting.
        yield* spawn(A, { template: "leaf 2000 1", as: "slow", restart: policy })
        yield* started(host, 3)
        for (let k = 1; k <= 3; k++) {
          yield* TestClock.adjust(2000)
          yield* until("slow", `restart ${k} recorded`, (r) => r.restarts === k)
          yield* TestClock.adjust(backoff(policy.backoff_ms, k))
          yield* started(host, 3 + k)
        }
        const slow = yield* info("slow")
        expect(slow.state).toBe("running")
        expect(slow.restarts).toBe(3)
        const killed = yield* Effect.flatMap(Supervisor, (s) => s.control(A, "slow", "control.kill"))
        expect(killed).toMatchObject({ applied: true, state: "killed" })
      })
    ))
})

const backoff = (base: number, restart: number) => base * 2 ** (restart - 1)

describe("backoff cap", () => {
  it.effect("the backoff doubles up to 30 s and stays there", () =>
    withFakeHost((host) =>
      Effect.gen(function* () {
        yield* spawn(A, { template: "leaf 10 1", as: "capped", restart: { restart: "on-failure", max_restarts: 4, restart_window_ms: 1_000_000, backoff_ms: 10_000 } })
        const expected = [10_000, 20_000, 30_000, 30_000]
        for (let k = 1; k <= expected.length; k++) {
          yield* started(host, k)
          yield* TestClock.adjust(10)
          yield* until("capped", `restart ${k} recorded`, (r) => r.restarts === k)
          yield* TestClock.adjust(expected[k - 1]! - 1)
          yield* settle
          expect(host.specs).toHaveLength(k)
          yield* TestClock.adjust(1)
        }
        yield* started(host, 5)
        yield* TestClock.adjust(10)
        yield* until("capped", "failed", (r) => r.state === "failed")
        const restarts = (yield* runEvents("capped")).filter((e) => e.type === "run.restart")
        expect(restarts.map((e) => e.data.delay_ms)).toEqual(expected)
      })
    ))
})

// ---------------------------------------------------------------------------------------------

describe("generation fencing", () => {
  it.effect("a kill aimed at an old generation is not applied; at the current one it is", () =>
    withFakeHost((host) =>
      Effect.gen(function* () {
        const sup = yield* Supervisor
        const g1 = (yield* spawn(A, {
          template: "leaf 50 1",
          as: "fenced",
          restart: { restart: "on-failure", max_restarts: 10, backoff_ms: 100 }
        })).generation
        yield* started(host, 1)
        yield* TestClock.adjust(50)
        yield* until("fenced", "restart 1 recorded", (r) => r.restarts === 1)
        yield* TestClock.adjust(100)
        yield* started(host, 2)
        const g2 = (yield* info("fenced")).generation
        expect(g2).not.toBe(g1)

        const stale = yield* sup.control(A, "run:fenced", "control.kill", g1)
        expect(stale.applied).toBe(false)
        expect(stale.state).toBe("running")
        expect(stale.reason).toContain(g1)
        yield* settle
        expect(host.interrupted).toBe(0)
        expect(host.running).toBe(1)
        const still = yield* info("fenced")
        expect(still.state).toBe("running")
        expect(still.generation).toBe(g2)

        // The run keeps going: attempt 2 fails and attempt 3 starts.
        yield* TestClock.adjust(50)
        yield* until("fenced", "restart 2 recorded", (r) => r.restarts === 2)
        yield* TestClock.adjust(200)
        yield* started(host, 3)
        const g3 = (yield* info("fenced")).generation

        // g2 is now stale too; the current generation is applied.
        expect((yield* sup.control(A, "run:fenced", "control.kill", g2)).applied).toBe(false)
        const applied = yield* sup.control(A, "run:fenced", "control.kill", g3)
        expect(applied).toMatchObject({ applied: true, state: "killed" })
        expect(host.interrupted).toBe(1)
        expect(host.running).toBe(0)
        const final = yield* info("fenced")
        expect(final.state).toBe("killed")
        expect(final.generation).toBe(g3)
        expect(final.processes).toEqual([])
        expect(types(yield* runEvents("fenced")).at(-1)).toBe("run.kill")
        // A terminal run is not controlled again.
        expect((yield* sup.control(A, "run:fenced", "control.kill")).applied).toBe(false)
      })
    ))

  it.effect("the first generation is fenced the same way before any restart", () =>
    withFakeHost((host) =>
      Effect.gen(function* () {
        const sup = yield* Supervisor
        const g1 = (yield* spawn(A, { template: "leaf 1000 0", as: "one" })).generation
        yield* started(host, 1)
        expect((yield* sup.control(A, "one", "control.kill", "not-a-generation")).applied).toBe(false)
        expect((yield* info("one")).state).toBe("running")
        expect(yield* sup.control(A, "one", "control.kill", g1)).toMatchObject({ applied: true, state: "killed" })
      })
    ))
})

// ---------------------------------------------------------------------------------------------

describe("spawn", () => {
  it.effect("ids that a command line would take for an option, or too long, are refused without echoing them whole", () =>
    withFakeHost(() =>
      Effect.gen(function* () {
        for (const as of ["-rf", "--help", ".hidden"]) {
          const err = yield* Effect.flip(spawn(A, { template: "leaf 5 0", as }))
          expect(err).toMatchObject({ reason: "invalid", message: `Invalid run id ${JSON.stringify(as)}: run ids are 1–128 letters, digits, _ . or -, not starting with - or .` })
        }
        const long = "a".repeat(100_000)
        const err = yield* Effect.flip(spawn(A, { template: "leaf 5 0", as: long }))
        expect(err.message).toBe(`Invalid run id "${"a".repeat(40)}"… (100000 characters): run ids are 1–128 letters, digits, _ . or -, not starting with - or .`)
        // A valid id right beside them runs.
        expect((yield* spawn(A, { template: "leaf 5 0", as: "_ok-1.a" })).id).toBe("_ok-1.a")
      })
    ))

  it.effect("a duplicate id fails with duplicate while the first is active and touches nothing", () =>
    withFakeHost((host) =>
      Effect.gen(function* () {
        const fs = yield* FileSystem.FileSystem
        const path = yield* Path.Path
        const first = yield* spawn(A, { template: "leaf 1000 0", as: "dup" })
        yield* started(host, 1)
        const before = yield* info("dup")
        expect(before.state).toBe("running")
        const marker = path.join(before.state_dir, "marker")
        yield* fs.writeFileString(marker, "keep me")
        const eventsBefore = yield* runEvents("dup")

        const mine = yield* Effect.flip(spawn(A, { template: "leaf 5 7", as: "run:dup", values: { x: 1 } }))
        expect(mine).toMatchObject({ _tag: "ActorsError", reason: "duplicate", message: "run:dup is already active" })
        // Another session is not told that the id is active, only that it is not theirs.
        for (const caller of [B, operator]) {
          const err = yield* Effect.flip(spawn(caller, { template: "leaf 5 7", as: "run:dup", values: { x: 1 } }))
          expect(err).toMatchObject({ _tag: "ActorsError", reason: "forbidden", message: "run:dup belongs to another session; choose another id" })
        }

        yield* settle
        const after = yield* info("dup")
        expect(after.generation).toBe(first.generation)
        expect(after.state).toBe("running")
        expect(after.owner).toBe("A")
        expect(after.values).toEqual({})
        expect(after.created_at).toBe(before.created_at)
        expect(after.processes).toEqual(before.processes)
        expect(yield* fs.readFileString(marker)).toBe("keep me")
        expect(yield* runEvents("dup")).toEqual(eventsBefore)
        expect(host.specs).toHaveLength(1)
        expect(host.specs[0]!.argv).toEqual(["leaf", "1000", "0"])

        // Once terminal, the id can be reused: a new generation and a fresh state directory.
        yield* TestClock.adjust(1000)
        yield* until("dup", "done", (r) => r.state === "done")
        const again = yield* spawn(A, { template: "leaf 5 0", as: "dup" })
        expect(again.generation).not.toBe(first.generation)
        expect(yield* fs.exists(marker)).toBe(false)
        yield* started(host, 2)
      })
    ))

  it.effect("invalid requests fail with invalid (an unknown recipe with not_found) and write nothing", () =>
    withFakeHost((host) =>
      Effect.gen(function* () {
        const fs = yield* FileSystem.FileSystem
        const config = yield* TroupeConfig
        const sup = yield* Supervisor
        const requests: ReadonlyArray<readonly [string, SpawnFields, RegExp]> = [
          ["bad id", { template: "leaf 5 0", as: "../x" }, /^Invalid run id "\.\.\/x"/],
          ["bad id (run: prefix)", { template: "leaf 5 0", as: "run:a/b" }, /^Invalid run id/],
          ["dot id", { template: "leaf 5 0", as: ".." }, /^Invalid run id/],
          ["bad template (failure scope)", { template: { template: "leaf 5 0", failure: "nowhere" }, as: "t1" }, /^Unknown failure scope: nowhere\./],
          ["bad template (empty parallel)", { template: { parallel: true, template: [] }, as: "t2" }, /^Tool template produced no command steps\.$/],
          ["missing required value", { template: "leaf {ms} 0", as: "t3" }, /^Missing command template value: ms$/],
          ["neither recipe nor template", { as: "t4" }, /exactly one of recipe or template/],
          ["both recipe and template", { recipe: "nope", template: "leaf 5 0", as: "t5" }, /exactly one of recipe or template/],
          ["unknown recipe", { recipe: "no_such_recipe_xyz", as: "t6" }, /no_such_recipe_xyz/],
          ["bad restart policy", { template: "leaf 5 0", as: "t7", restart: { max_restarts: -1 } }, /^Invalid restart policy: [^]*max_restarts/],
          ["relative cwd", { template: "leaf 5 0", as: "t8", cwd: "rel/dir" }, /^cwd must be an absolute path/]
        ]
        for (const [what, fields, message] of requests) {
          const err = yield* Effect.flip(spawn(A, fields))
          expect({ what, reason: err.reason }).toEqual({ what, reason: what === "unknown recipe" ? "not_found" : "invalid" })
          expect(err.message).toMatch(message)
        }
        yield* settle
        expect(yield* sup.list(operator, "all")).toEqual([])
        expect(yield* sessionEvents(operator)).toEqual([])
        expect(yield* fs.readDirectory(homePaths(config.home).runs)).toEqual([])
        expect(yield* fs.exists(homePaths(config.home).archive)).toBe(false)
        expect(host.specs).toHaveLength(0)
      })
    ))
})

// ---------------------------------------------------------------------------------------------

describe("ownership", () => {
  it.effect("a session cannot see or act on another session's runs; the operator (all) can", () =>
    withFakeHost((host) =>
      Effect.gen(function* () {
        const sup = yield* Supervisor
        yield* spawn(A, { template: "leaf 1000 0", as: "mine" })
        yield* spawn(B, { template: "leaf 1000 0", as: "theirs" })
        yield* started(host, 2)

        const forbidden = <X>(e: Effect.Effect<X, ActorsError>) =>
          Effect.map(Effect.flip(e), (err) => {
            expect(err.reason).toBe("forbidden")
            return err
          })
        yield* forbidden(sup.get(B, "run:mine"))
        yield* forbidden(sup.wait(B, "run:mine", 10))
        yield* forbidden(sup.runEvents(B, "run:mine", 10))
        yield* forbidden(Stream.runCollect(sup.logs(B, "run:mine", "stdout", false)))
        yield* forbidden(sup.control(B, "run:mine", "control.kill"))
        yield* forbidden(sup.control(B, "run:mine", "control.cancel"))
        yield* forbidden(sup.prune(B, ["run:mine"], 0))
        const asB = yield* makeLocal(B)
        for (const view of ["status", "tail", "files", "tree", "recipe"]) {
          yield* forbidden(asB.inspect("run:mine", view))
        }
        yield* forbidden(asB.kill("run:mine"))
        // Listing another session (or every session) needs all.
        yield* forbidden(sup.list(B, "all", "A"))
        yield* forbidden(sup.list(B, "all", "all"))
        yield* forbidden(asB.inspect("session:A", "runs"))
        yield* forbidden(asB.inspect("session:all", "runs"))
        // An empty session owns nothing (fail closed).
        yield* forbidden(sup.get(nobody, "run:mine"))

        // The forbidden control did nothing.
        yield* settle
        expect(host.interrupted).toBe(0)
        expect((yield* info("mine")).state).toBe("running")

        // Each session sees only its own runs.
        expect((yield* sup.list(B, "all")).map((r) => r.id)).toEqual(["theirs"])
        expect((yield* sup.list(B, "all", "B")).map((r) => r.id)).toEqual(["theirs"])
        expect((yield* sup.list(A, "all")).map((r) => r.id)).toEqual(["mine"])
        expect((yield* asB.list()).map((r) => r.id)).toEqual(["theirs"])
        expect((yield* sup.get(A, "mine")).info.owner).toBe("A")

        // The operator sees and acts across sessions.
        expect((yield* sup.list(operator, "all")).map((r) => r.id).sort()).toEqual(["mine", "theirs"])
        expect((yield* sup.list(operator, "all", "A")).map((r) => r.id)).toEqual(["mine"])
        expect((yield* sup.get(operator, "run:mine")).info.id).toBe("mine")
        const asOperator = yield* makeLocal(operator)
        expect((yield* asOperator.inspect("run:mine", "status")).text).toContain("run=mine")
        expect(yield* sup.control(operator, "run:mine", "control.kill")).toMatchObject({ applied: true, state: "killed" })
        expect(yield* asB.kill("run:theirs")).toMatchObject({ applied: true, state: "killed" })
      })
    ))

  /** Session "" starts a run that fails; undefined when the spawn is refused (also fail-closed). */
  const reason = <R>(e: Effect.Effect<unknown, ActorsError, R>) => Effect.map(Effect.flip(e), (err) => err.reason)

  it.effect("an empty session may do nothing: spawn, list, events, prune are forbidden and nothing starts", () =>
    withFakeHost((host) =>
      Effect.gen(function* () {
        const sup = yield* Supervisor
        expect(yield* reason(spawn(nobody, { template: "leaf 10 1", as: "orphan" }))).toBe("forbidden")
        expect(yield* reason(sup.list(nobody, "all"))).toBe("forbidden")
        expect(yield* reason(sessionEvents(nobody))).toBe("forbidden")
        expect(yield* reason(sup.prune(nobody, undefined, 0))).toBe("forbidden")
        expect(host.specs.length).toBe(0)
        expect(yield* sup.list(operator, "all")).toEqual([])
      })
    ))

  it.effect("an empty session cannot get, wait for or control another run", () =>
    withFakeHost(() =>
      Effect.gen(function* () {
        const sup = yield* Supervisor
        yield* spawn(A, { template: "leaf 10 1", as: "someone" })
        expect(yield* reason(sup.get(nobody, "run:someone"))).toBe("forbidden")
        expect(yield* reason(sup.wait(nobody, "run:someone"))).toBe("forbidden")
        expect(yield* reason(sup.runEvents(nobody, "run:someone", 10))).toBe("forbidden")
        expect(yield* reason(sup.control(nobody, "run:someone", "control.kill"))).toBe("forbidden")
      })
    ))
})

// ---------------------------------------------------------------------------------------------

describe("session events", () => {
  it.effect("a failed run: command.done then run.failed on the owner's stream, ids increasing", () =>
    withFakeHost((host) =>
      Effect.gen(function* () {
        yield* spawn(A, { template: "leaf 10 4", as: "bad" })
        yield* started(host, 1)
        yield* TestClock.adjust(10)
        yield* until("bad", "failed", (r) => r.state === "failed")
        const events = yield* sessionEvents(A)
        expect(types(events)).toEqual(["command.done", "run.failed"])
        expect(events.every((e) => e.session === "A" && e.run_id === "bad")).toBe(true)
        expect(events[0]!.id).toBeLessThan(events[1]!.id)
        expect(events[0]!.data).toMatchObject({ code: 4, status: "failed" })
        expect(events[1]!.data).toMatchObject({ state: "failed", code: 4 })
        expect(events[1]!.text).toMatch(/^Run bad failed with exit code 4: /)
        // Not on another session's stream; on the operator's.
        expect(yield* sessionEvents(B)).toEqual([])
        expect((yield* sessionEvents(operator)).map((e) => e.id)).toEqual(events.map((e) => e.id))
        // Replay from a cursor returns only the later events.
        expect((yield* sessionEvents(A, events[0]!.id)).map((e) => e.id)).toEqual([events[1]!.id])
        expect(yield* sessionEvents(A, events[1]!.id)).toEqual([])
      })
    ))

  it.effect("a successful single-step run: run.done only", () =>
    withFakeHost((host) =>
      Effect.gen(function* () {
        yield* spawn(A, { template: "leaf 10 0", as: "good" })
        yield* started(host, 1)
        yield* TestClock.adjust(10)
        yield* until("good", "done", (r) => r.state === "done")
        expect(types(yield* sessionEvents(A))).toEqual(["run.done"])
      })
    ))

  it.effect("intentional kill and cancel produce no session event", () =>
    withFakeHost((host) =>
      Effect.gen(function* () {
        const sup = yield* Supervisor
        yield* spawn(A, { template: "leaf 100000 0", as: "k" })
        yield* spawn(A, { template: "leaf 100000 0", as: "c" })
        yield* started(host, 2)
        expect(yield* sup.control(A, "run:k", "control.kill")).toMatchObject({ applied: true, state: "killed" })
        expect(yield* sup.control(A, "run:c", "control.stop")).toMatchObject({ applied: true, state: "cancelled" })
        expect(host.interrupted).toBe(2)
        expect(yield* sessionEvents(A)).toEqual([])
        expect(types(yield* runEvents("k")).at(-1)).toBe("run.kill")
        expect(types(yield* runEvents("c")).at(-1)).toBe("run.cancel")
        const k = yield* sup.wait(A, "k")
        expect(k.run.state).toBe("killed")
        expect(k.run.error).toBeUndefined()
      })
    ))

  it.effect("follow delivers events published after subscription, only the session's own", () =>
    withFakeHost((host) =>
      Effect.gen(function* () {
        const sup = yield* Supervisor
        // Something to skip: an earlier event before the cursor.
        yield* spawn(A, { template: "leaf 10 0", as: "earlier" })
        yield* started(host, 1)
        yield* TestClock.adjust(10)
        yield* until("earlier", "done", (r) => r.state === "done")
        const cursor = (yield* sessionEvents(A)).at(-1)!.id

        const follower = yield* sup.sessionEvents(A, cursor, true).pipe(Stream.take(2), Stream.runCollect, Effect.fork)
        yield* eventually("follower waiting for live events", Effect.map(Fiber.status(follower), (s) => s._tag === "Suspended"))
        expect(Option.isNone(yield* Fiber.poll(follower))).toBe(true)

        // Session B's failure first: it must not reach A's follower.
        yield* spawn(B, { template: "leaf 10 5", as: "other" })
        yield* spawn(A, { template: "leaf 20 6", as: "later" })
        yield* started(host, 3)
        yield* TestClock.adjust(20)
        yield* eventually("follower done", Effect.map(Fiber.poll(follower), Option.isSome))
        const got = Chunk.toReadonlyArray(yield* Fiber.join(follower))
        expect(got.map((e) => [e.run_id, e.type])).toEqual([["later", "command.done"], ["later", "run.failed"]])
        expect(got.every((e) => e.id > cursor)).toBe(true)
        expect(got[0]!.id).toBeLessThan(got[1]!.id)
      })
    ))
})

// ---------------------------------------------------------------------------------------------

describe("kill during backoff", () => {
  it.effect("a run waiting for its restart backoff is killed: killed, no further attempt", () =>
    withFakeHost((host) =>
      Effect.gen(function* () {
        const sup = yield* Supervisor
        yield* spawn(A, { template: "leaf 10 1", as: "backoff", restart: { restart: "on-failure", max_restarts: 5, backoff_ms: 1000 } })
        yield* started(host, 1)
        yield* TestClock.adjust(10)
        yield* until("backoff", "waiting for restart 1", (r) => r.restarts === 1 && r.state === "starting")
        yield* TestClock.adjust(500)
        const result = yield* sup.control(A, "run:backoff", "control.kill")
        expect(result).toMatchObject({ applied: true, state: "killed" })
        yield* TestClock.adjust(60_000)
        yield* settle
        expect(host.specs).toHaveLength(1)
        const r = yield* info("backoff")
        expect(r.state).toBe("killed")
        expect(r.restarts).toBe(1)
        expect(r.ended_at).toBe(510)
        const events = types(yield* runEvents("backoff"))
        expect(events.filter((t) => t === "run.start")).toHaveLength(1)
        expect(events.at(-1)).toBe("run.kill")
        // Only the failure of attempt 1 reached the session; the kill is intentional.
        expect(types(yield* sessionEvents(A))).toEqual(["command.done"])
        expect((yield* sup.wait(A, "backoff")).run.state).toBe("killed")
      })
    ))
})

// ---------------------------------------------------------------------------------------------

describe("real processes (LocalHost)", () => {
  it.live("a failing command: state failed, its code and output tails, stdout.log", () =>
    Effect.gen(function* () {
      const sup = yield* Supervisor
      const fs = yield* FileSystem.FileSystem
      const run = yield* sup.spawn(A, SpawnRequest.make({ template: "sh -c 'echo out-$TROUPE_RUN; echo err >&2; exit 3'", as: "real", cwd: process.cwd() }))
      const outcome = yield* sup.wait(A, run.address, 10_000)
      expect(outcome.timed_out).toBe(false)
      expect(outcome.run.state).toBe("failed")
      expect(outcome.run.code).toBe(3)
      expect(outcome.stdout).toBe("out-real\n")
      expect(outcome.stderr_tail).toBe("err\n")
      expect(yield* fs.readFileString(`${run.state_dir}/stdout.log`)).toBe("out-real\n")
    }).pipe(Effect.provide(testRuntime())))

  it.live("kill ends the run's process group before control returns", () =>
    Effect.gen(function* () {
      const sup = yield* Supervisor
      const run = yield* sup.spawn(A, SpawnRequest.make({ template: "sh -c 'sleep 30 & sleep 30 & wait'", as: `real-kill-${process.pid}`, cwd: process.cwd() }))
      yield* eventually("processes started", Effect.sync(() => pidsWithEnv("TROUPE_RUN", run.id).length >= 3))
      const result = yield* sup.control(A, run.id, "control.kill")
      expect(result).toMatchObject({ applied: true, state: "killed" })
      expect(pidsWithEnv("TROUPE_RUN", run.id)).toEqual([])
      expect((yield* sup.get(A, run.id)).info.processes).toEqual([])
    }).pipe(Effect.provide(testRuntime())))

  it.live("an endless writer: stdout.log stops at max_log_bytes with a notice, one event, no spill copy", () =>
    Effect.gen(function* () {
      const sup = yield* Supervisor
      const fs = yield* FileSystem.FileSystem
      const run = yield* sup.spawn(A, SpawnRequest.make({ template: "yes", as: `noisy-${process.pid}`, cwd: process.cwd(), max_log_bytes: 200_000 }))
      // The positive signal: the run records that its log reached the limit.
      yield* eventually("log.truncated recorded", Effect.map(runEvents(run.id), (events) => events.some((e) => e.type === "log.truncated")), 60_000)
      // Seen by the owner once, as a session event.
      yield* eventually("log.truncated sent to the owner", Effect.map(sessionEvents(A), (events) => events.some((e) => e.type === "log.truncated" && e.run_id === run.id)), 60_000)
      // `yes` keeps writing (well past 1 MiB, so capture is past its limit), the log does not grow.
      yield* eventually("yes still running", Effect.sync(() => pidsWithEnv("TROUPE_RUN", run.id).length >= 1))
      const size = (yield* fs.stat(`${run.state_dir}/stdout.log`)).size
      expect(Number(size)).toBeGreaterThanOrEqual(200_000)
      expect(Number(size)).toBeLessThan(200_300)
      expect(yield* fs.readFileString(`${run.state_dir}/stdout.log`)).toMatch(/\[troupe: stdout\.log reached its limit of 200000 bytes/)
      yield* sup.control(A, run.id, "control.kill")
      expect(Number((yield* fs.stat(`${run.state_dir}/stdout.log`)).size)).toBe(Number(size))
      // One copy: the run's output is in its log only, no spill file beside it.
      expect(yield* fs.exists(`${run.state_dir}/spill`)).toBe(false)
      expect((yield* runEvents(run.id)).filter((e) => e.type === "log.truncated")).toHaveLength(1)
    }).pipe(Effect.provide(testRuntime())))

  it.live("values nested deeper than 64 levels are refused with one sentence, before anything starts", () =>
    Effect.gen(function* () {
      const sup = yield* Supervisor
      let deep: unknown = 1
      for (let i = 0; i < 5000; i++) deep = { a: deep }
      const failure = yield* Effect.flip(sup.spawn(A, SpawnRequest.make({ template: "echo {x}", cwd: process.cwd(), values: { x: deep } })))
      expect(failure).toMatchObject({ reason: "invalid", message: "values are nested deeper than 64 levels" })
      // 64 levels are fine.
      let ok: unknown = 1
      for (let i = 0; i < 63; i++) ok = { a: ok }
      const run = yield* sup.spawn(A, SpawnRequest.make({ template: "true", cwd: process.cwd(), values: { x: ok } }))
      expect((yield* sup.wait(A, run.address, 30_000)).run.state).toBe("done")
    }).pipe(Effect.provide(testRuntime())))

  it.live("a spawn with an unusable max_log_bytes is refused with one sentence", () =>
    Effect.gen(function* () {
      const sup = yield* Supervisor
      const failure = yield* Effect.flip(sup.spawn(A, SpawnRequest.make({ template: "true", cwd: process.cwd(), max_log_bytes: 0 })))
      expect(failure).toMatchObject({ reason: "invalid", message: "max_log_bytes must be a positive whole number of bytes, not 0" })
    }).pipe(Effect.provide(testRuntime())))
})
