/**
 * One behavioural suite, run against both `Actors` layers: the in-process runtime
 * (`Troupe.layer`) and the RPC client of a daemon serving the same runtime over a real Unix
 * socket. Real processes throughout; orphans are checked by scanning /proc.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Fiber, Layer, Scope, Stream } from "effect"
import { existsSync, readFileSync, statSync } from "node:fs"
import { join } from "node:path"
import * as Client from "../../src/daemon/Client.js"
import { runDaemon } from "../../src/daemon/Server.js"
import type { ActorsError } from "../../src/domain/Run.js"
import * as Config from "../../src/layers/Config.js"
import * as Runtime from "../../src/layers/Runtime.js"
import { type ActorsShape, makeLocal } from "../../src/services/Actors.js"
import { scratch } from "../support/graph.js"
import { pidsWithEnv } from "../support/procs.js"

const grace = 300

/**
 * A flavour opens the runtime for `home` once (in the test's scope) and hands out
 * session-bound `Actors` handles: in-process (`Actors.local` over one runtime) or over RPC
 * (one daemon per home served in this process, one client connection per handle).
 */
type Handles = (session: string, all?: boolean) => Effect.Effect<ActorsShape, ActorsError, Scope.Scope>
type Flavour = (home: string) => Effect.Effect<Handles & { readonly stop: Effect.Effect<void> }, ActorsError, Scope.Scope>

const local: Flavour = (home) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const runtime = yield* Layer.buildWithScope(Runtime.layer({ home, killGraceMs: grace }), scope)
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    const handles = (session: string, all?: boolean) => makeLocal({ session, all: all ?? false }).pipe(Effect.provide(runtime))
    return Object.assign(handles, { stop: Scope.close(scope, Exit.void) })
  })

const remote: Flavour = (home) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkScoped(runDaemon({ config: { home, killGraceMs: grace } }))
    yield* Client.probe(Config.homePaths(home).socket).pipe(
      Effect.repeat({ until: (up) => up, schedule: Client.stopPoll }),
      Effect.timeout("10 seconds"),
      Effect.orDie
    )
    const handles = (session: string, all?: boolean) =>
      Effect.map(Client.makeRemote({ home, session, all, autoStart: false }), (r) => r.actors).pipe(
        Effect.provide(Config.layer({ home }))
      )
    return Object.assign(handles, { stop: Fiber.interrupt(fiber).pipe(Effect.asVoid) })
  })

/** A spawn input running `script` with sh (the script is one argv element). */
const shell = (script: string) => ({ template: "sh -c {script}", values: { script } })

const suite = (name: string, make: Flavour) =>
  describe(name, () => {
    const tag = name.replace(/[^A-Za-z0-9]+/g, "-")
    it.live("spawn → wait: done with stdout and code 0", () =>
      Effect.gen(function* () {
        const actors = yield* (yield* make(scratch()))("s1")
        const run = yield* actors.spawn({ template: "printf [%s] {who}", values: { who: "a b" }, as: "greet" })
        expect(run.address).toBe("run:greet")
        expect(run.owner).toBe("s1")
        const out = yield* actors.wait(run.address)
        expect(out.run.state).toBe("done")
        expect(out.run.code).toBe(0)
        expect(out.stdout).toBe("[a b]")
        const logs = yield* actors.logs("run:greet").pipe(Stream.runCollect)
        expect(Buffer.concat(Chunk.toArray(logs)).toString()).toBe("[a b]")
        expect(existsSync(join(out.run.state_dir, "stdout.log"))).toBe(true)
      }).pipe(Effect.scoped))

    it.live("a failing run reports its code and a run.failed event", () =>
      Effect.gen(function* () {
        const actors = yield* (yield* make(scratch()))("s1")
        const run = yield* actors.spawn({ ...shell("echo oops >&2; exit 7"), as: "bad" })
        const out = yield* actors.wait(run.address)
        expect(out.run.state).toBe("failed")
        expect(out.run.code).toBe(7)
        expect(out.run.error).toContain("oops")
        const events = Chunk.toArray(yield* actors.events().pipe(Stream.runCollect))
        expect(events.map((e) => e.type)).toEqual(["command.done", "run.failed"])
        expect(events[1]!.text).toContain("Run bad failed with exit code 7")
        // Replay from a cursor returns only later events.
        const later = Chunk.toArray(yield* actors.events({ since: events[0]!.id }).pipe(Stream.runCollect))
        expect(later.map((e) => e.id)).toEqual([events[1]!.id])
      }).pipe(Effect.scoped))

    it.live("kill leaves no process of the tree (child ignoring SIGTERM + grandchild)", () =>
      Effect.gen(function* () {
        const actors = yield* (yield* make(scratch()))("s1")
        const id = `tree-${process.pid}-${tag}`
        yield* actors.spawn({ ...shell("trap '' TERM; (trap '' TERM; sleep 30) & sleep 30; wait"), as: id })
        // Both sleeps are up.
        yield* Effect.sync(() => pidsWithEnv("TROUPE_RUN", id).length).pipe(
          Effect.repeat({ until: (n) => n >= 3, schedule: Client.stopPoll }),
          Effect.timeout("20 seconds")
        )
        const result = yield* actors.kill(`run:${id}`)
        expect(result.applied).toBe(true)
        expect(result.state).toBe("killed")
        expect(pidsWithEnv("TROUPE_RUN", id)).toEqual([])
        const status = yield* actors.inspect(`run:${id}`, "status")
        expect(status.text).toContain("status=killed")
        // An intentional kill produces no follow-up event.
        const events = Chunk.toArray(yield* actors.events().pipe(Stream.runCollect))
        expect(events.filter((e) => e.run_id === id)).toEqual([])
        // A second kill does nothing.
        expect((yield* actors.kill(`run:${id}`)).applied).toBe(false)
      }).pipe(Effect.scoped))

    it.live("a node timeout kills the tree and fails the run with 124", () =>
      Effect.gen(function* () {
        const actors = yield* (yield* make(scratch()))("s1")
        const id = `timeout-${process.pid}-${tag}`
        yield* actors.spawn({ template: { template: "sh -c {script}", timeout: 300 }, values: { script: "trap '' TERM; sleep 30 & sleep 30; wait" }, as: id })
        const out = yield* actors.wait(`run:${id}`)
        expect(out.run.state).toBe("failed")
        expect(out.run.code).toBe(124)
        expect(pidsWithEnv("TROUPE_RUN", id)).toEqual([])
      }).pipe(Effect.scoped))

    it.live("a duplicate active id fails without touching the first run", () =>
      Effect.gen(function* () {
        const actors = yield* (yield* make(scratch()))("s1")
        const first = yield* actors.spawn({ template: "sleep 30", as: "dup" })
        const second = yield* actors.spawn({ template: "echo other", as: "run:dup" }).pipe(Effect.flip)
        expect(second.reason).toBe("duplicate")
        const now = (yield* actors.list({ status: "active" }))
        expect(now.map((r) => [r.id, r.generation])).toEqual([["dup", first.generation]])
        yield* actors.kill("run:dup")
        // Once terminal, the id can be reused with a fresh generation.
        const again = yield* actors.spawn({ template: "echo again", as: "dup" })
        expect(again.generation).not.toBe(first.generation)
        expect((yield* actors.wait("run:dup")).stdout).toBe("again\n")
      }).pipe(Effect.scoped))

    it.live("bad input is a typed error and starts nothing", () =>
      Effect.gen(function* () {
        const actors = yield* (yield* make(scratch()))("s1")
        const badId = yield* actors.spawn({ template: "echo x", as: "../x" }).pipe(Effect.flip)
        expect(badId.reason).toBe("invalid")
        const missing = yield* actors.spawn({ template: "echo {needed}" }).pipe(Effect.flip)
        expect(missing.reason).toBe("invalid")
        expect(missing.message).toContain("needed")
        const view = yield* actors.inspect("run:nope", "status").pipe(Effect.flip)
        expect(view.reason).toBe("not_found")
        expect(yield* actors.list()).toEqual([])
      }).pipe(Effect.scoped))

    it.live("sessions only see their own runs; --all sees every session", () => {
      return Effect.gen(function* () {
        const handles = yield* make(scratch())
        const a = yield* handles("alice")
        const b = yield* handles("bob")
        const op = yield* handles("cli", true)
        yield* a.spawn({ template: "sleep 30", as: "alices" })
        expect((yield* b.inspect("run:alices", "status").pipe(Effect.flip)).reason).toBe("forbidden")
        expect((yield* b.kill("run:alices").pipe(Effect.flip)).reason).toBe("forbidden")
        expect((yield* b.wait("run:alices").pipe(Effect.flip)).reason).toBe("forbidden")
        expect(yield* b.list()).toEqual([])
        expect((yield* b.list({ session: "alice" }).pipe(Effect.flip)).reason).toBe("forbidden")
        expect((yield* op.list()).map((r) => r.id)).toEqual(["alices"])
        const all = yield* op.inspect("session:all", "runs")
        expect(all.text).toContain("run=alices")
        expect((yield* op.kill("run:alices")).state).toBe("killed")
        // A finished run's id stays its session's: another session cannot replace it.
        expect((yield* b.spawn({ template: "echo mine", as: "alices" }).pipe(Effect.flip)).reason).toBe("forbidden")
        expect((yield* a.spawn({ template: "echo again", as: "alices" })).owner).toBe("alice")
      }).pipe(Effect.scoped)
    })

    it.live("events --follow delivers the terminal event of a run spawned later", () =>
      Effect.gen(function* () {
        const actors = yield* (yield* make(scratch()))("s1")
        const follower = yield* actors.events({ follow: true }).pipe(
          Stream.filter((e) => e.type.startsWith("run.")),
          Stream.take(1),
          Stream.runCollect,
          Effect.fork
        )
        yield* Effect.sleep("100 millis")
        yield* actors.spawn({ ...shell("exit 3"), as: "later" })
        const got = yield* Fiber.join(follower).pipe(Effect.timeout("10 seconds"))
        expect(Chunk.toArray(got).map((e) => [e.type, e.run_id])).toEqual([["run.failed", "later"]])
      }).pipe(Effect.scoped))

    it.live("logs --follow streams output until the run ends; state dir is private", () =>
      Effect.gen(function* () {
        const actors = yield* (yield* make(scratch()))("s1")
        const run = yield* actors.spawn({ ...shell("echo one; sleep 0.3; echo two"), as: "chatty" })
        const text = Buffer.concat(Chunk.toArray(yield* actors.logs(run.address, { follow: true }).pipe(Stream.runCollect))).toString()
        expect(text).toBe("one\ntwo\n")
        expect(statSync(run.state_dir).mode & 0o777).toBe(0o700)
        const files = yield* actors.inspect(run.address, "files")
        expect(files.text).toContain("stdout.log")
        const tail = yield* actors.inspect(run.address, "tail")
        expect(tail.text).toContain("run.done")
        const bad = yield* actors.inspect(run.address, "nope").pipe(Effect.flip)
        expect(bad.message).toBe("inspect view for run:chatty must be one of: status, tail, messages, inbox, artifacts, files, mailbox, communication, tree, recipe, diff, output, events")
      }).pipe(Effect.scoped))

    it.live("archive moves a terminal run out of the store with run.json; active runs are refused", () =>
      Effect.gen(function* () {
        const actors = yield* (yield* make(scratch()))("s1")
        yield* actors.spawn({ template: "echo kept", as: "old" })
        yield* actors.wait("run:old")
        yield* actors.spawn({ template: "sleep 30", as: "busy" })
        expect((yield* actors.archive(["run:busy"]).pipe(Effect.flip)).reason).toBe("invalid")
        const [dir] = yield* actors.archive(["run:old"])
        const saved = JSON.parse(readFileSync(join(dir!, "run.json"), "utf8")) as { run: { id: string; state: string }; events: Array<{ type: string }> }
        expect(saved.run).toMatchObject({ id: "old", state: "done" })
        expect(saved.events.map((e) => e.type)).toContain("run.done")
        expect(readFileSync(join(dir!, "stdout.log"), "utf8")).toBe("kept\n")
        expect((yield* actors.inspect("run:old").pipe(Effect.flip)).reason).toBe("not_found")
        expect(yield* actors.prune({ olderThanMs: 0 })).toEqual([])
        yield* actors.kill("run:busy")
        expect(yield* actors.prune({ runs: ["run:busy"] })).toEqual(["busy"])
      }).pipe(Effect.scoped))

    it.live("wait with a timeout returns the live run", () =>
      Effect.gen(function* () {
        const actors = yield* (yield* make(scratch()))("s1")
        yield* actors.spawn({ template: "sleep 30", as: "slow" })
        const out = yield* actors.wait("run:slow", { timeoutMs: 200 })
        expect(out.timed_out).toBe(true)
        expect(out.run.state).toBe("running")
        yield* actors.kill("run:slow")
      }).pipe(Effect.scoped))

    it.live("stopping the owner kills its runs and records them as killed with a follow-up", () => {
      const home = scratch()
      const id = `owner-${process.pid}-${tag}`
      return Effect.gen(function* () {
        const handles = yield* make(home)
        const actors = yield* handles("s1")
        yield* actors.spawn({ ...shell("trap '' TERM; sleep 30"), as: id })
        // The run's process is up (so "none left" below means it was killed).
        yield* Effect.sync(() => pidsWithEnv("TROUPE_RUN", id).length).pipe(
          Effect.repeat({ until: (n) => n >= 1, schedule: Client.stopPoll }),
          Effect.timeout("20 seconds")
        )
        yield* handles.stop
        expect(pidsWithEnv("TROUPE_RUN", id)).toEqual([])
        const after = yield* (yield* local(home))("s1")
        const info = yield* after.inspect(`run:${id}`, "status")
        expect(info.text).toContain("status=killed")
        const events = Chunk.toArray(yield* after.events().pipe(Stream.runCollect))
        expect(events.map((e) => e.type)).toEqual(["run.killed"])
      }).pipe(Effect.scoped)
    })
  })

suite("Actors.local", local)
suite("Actors over RPC", remote)

describe("store ownership", () => {
  it.live("a second owner of the same home is refused with a clear error", () => {
    const home = scratch()
    return Effect.gen(function* () {
      yield* local(home)
      const second = yield* local(home).pipe(Effect.flip)
      expect(second.reason).toBe("unavailable")
      expect(second.message).toContain("in use by another troupe owner")
    }).pipe(Effect.scoped)
  })
})
