/**
 * The router against real actor processes (SPEC-messaging §3–§4): FIFO delivery of exactly
 * the lines sent, a message with no reader staying queued until one appears, pull inboxes,
 * verified senders and provenance, the mailbox contract, `tool:` and `coordinator` targets.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Option, Stream } from "effect"
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import type { Caller } from "../../src/domain/Run.js"
import { Inspector } from "../../src/services/Inspector.js"
import { Router } from "../../src/services/Router.js"
import { SpawnRequest, Supervisor } from "../../src/services/Supervisor.js"
import { scratch } from "../support/graph.js"
import { testRuntime } from "../support/runtime.js"

const A: Caller = { session: "A", all: false }
const B: Caller = { session: "B", all: false }
const asRun = (run: string): Caller => ({ session: "A", all: false, run })

/** A script that makes `control.fifo`, reads `n` lines from it and writes them to `got.txt`. */
const fifoReader = (dir: string) => {
  const script = join(dir, "reader.sh")
  writeFileSync(
    script,
    `#!/bin/sh\nstate="$1"; n="$2"; delay="$3"\nsleep "$delay"\nmkfifo "$state/control.fifo"\ni=0\nexec 3<"$state/control.fifo"\nwhile [ "$i" -lt "$n" ]; do IFS= read -r line <&3 && { printf '%s\\n' "$line" >> "$state/got.txt"; i=$((i+1)); }; done\n`
  )
  chmodSync(script, 0o755)
  return script
}

const waitFor = <A, E, R>(check: Effect.Effect<A | undefined, E, R>, ms = 10_000) =>
  Effect.gen(function* () {
    for (let waited = 0; waited < ms; waited += 50) {
      const v = yield* check
      if (v !== undefined) return v
      yield* Effect.sleep("50 millis")
    }
    return yield* Effect.die(new Error("condition not met in time"))
  })

describe("router (real processes)", () => {
  it.live("a FIFO actor receives exactly the lines sent: string body, type without body, JSON body", () => {
    const dir = scratch("troupe-router-")
    const reader = fifoReader(dir)
    return Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const router = yield* Router
      const run = yield* supervisor.spawn(A, new SpawnRequest({ template: `${reader} {state_dir} 3 0`, as: "reader" }))
      yield* waitFor(Effect.sync(() => (existsSync(join(run.state_dir, "control.fifo")) && statSync(join(run.state_dir, "control.fifo")).isFIFO() ? true : undefined)))
      const r1 = yield* router.send(A, { to: "run:reader", type: "control.continue", body: "continue now" })
      expect(r1).toMatchObject({ delivered: true, persisted: true, queued: false, consumer: "run-inbox", from: "coordinator" })
      yield* router.send(A, { to: "run:reader", type: "player.pause" })
      yield* router.send(A, { to: "run:reader", type: "player.next", body: { track: 2 } })
      yield* supervisor.wait(A, "reader", 10_000)
      expect(readFileSync(join(run.state_dir, "got.txt"), "utf8")).toBe('continue now\nplayer.pause\n{"track":2}\n')
    }).pipe(Effect.provide(testRuntime()))
  })

  it.live("no reader: delivered false, reason no_live_reader, queued — then delivered once a reader appears", () => {
    const dir = scratch("troupe-router-")
    const reader = fifoReader(dir)
    const recipes = join(dir, "recipes")
    mkdirSync(recipes)
    writeFileSync(join(recipes, "late.json"), JSON.stringify({ description: "late reader", mailbox: { accepts: ["note.add"], delivery: "fifo" }, template: `${reader} {state_dir} 1 1` }))
    return Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const router = yield* Router
      const run = yield* supervisor.spawn(A, new SpawnRequest({ recipe: "late", as: "late" }))
      const sent = yield* router.send(A, { to: "run:late", type: "note.add", body: "hello later" })
      expect(sent).toMatchObject({ delivered: false, persisted: true, queued: true, reason: "no_live_reader" })
      yield* supervisor.wait(A, "late", 10_000)
      expect(readFileSync(join(run.state_dir, "got.txt"), "utf8")).toBe("hello later\n")
      // The record turns `delivered` right after the write the reader already consumed.
      const inbox = yield* waitFor(Effect.map(router.inboxList(A, "run:late"), (rs) => (rs[0]?.state === "delivered" ? rs : undefined)))
      expect(inbox.map((r) => [r.state, r.consumer])).toEqual([["delivered", "fifo"]])
      const refused = yield* Effect.flip(router.send(A, { to: "run:late", type: "note.remove" }))
      expect(refused.message).toBe("run:late does not accept type note.remove; accepts: note.add")
    }).pipe(Effect.provide(testRuntime({ config: { userRecipes: recipes } })))
  })

  it.live("a pi-rpc contract on a template run is explicit: queued with delivery_unavailable, never silently pull", () => {
    const recipes = join(scratch("troupe-router-"), "recipes")
    mkdirSync(recipes)
    writeFileSync(join(recipes, "rpc.json"), JSON.stringify({ description: "declares pi-rpc", mailbox: { delivery: "pi-rpc" }, template: "sleep 30" }))
    return Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const router = yield* Router
      yield* supervisor.spawn(A, new SpawnRequest({ recipe: "rpc", as: "rpc" }))
      const brief = yield* supervisor.brief(A, "rpc")
      expect(brief.delivery).toEqual({ adapter: "pi-rpc", declared: true })
      const sent = yield* router.send(A, { to: "run:rpc", type: "task.prompt", body: "hi" })
      expect(sent).toMatchObject({ delivered: false, persisted: true, queued: true, consumer: "run-inbox", reason: "delivery_unavailable" })
      // Still readable by pulling: the message is kept, only nothing pushes it.
      const next = yield* router.inboxNext(asRun("rpc"), "run:rpc", { claim: true })
      expect(Option.getOrThrow(next).envelope.body).toBe("hi")
      yield* supervisor.control(A, "rpc", "control.kill")
    }).pipe(Effect.provide(testRuntime({ config: { userRecipes: recipes } })))
  })

  it.live("pull inboxes: next, claim, ack; senders are verified and provenance is enforced", () => {
    return Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const router = yield* Router
      yield* supervisor.spawn(A, new SpawnRequest({ template: "sleep 30", as: "worker" }))
      yield* supervisor.spawn(A, new SpawnRequest({ template: "sleep 30", as: "other" }))

      const pulled = yield* router.send(A, { to: "run:worker", type: "task.do", body: { n: 1 } })
      expect(pulled).toMatchObject({ from: "coordinator", delivered: false, queued: true, reason: "pull_only" })
      // A sibling run is not the target's owner: it talks through the room instead.
      expect((yield* Effect.flip(router.send(asRun("other"), { to: "run:worker", type: "task.do" }))).reason).toBe("forbidden")
      const next = yield* router.inboxNext(asRun("worker"), "run:worker", { claim: true })
      expect(Option.map(next, (r) => [r.state, r.envelope.from, r.envelope.body])).toEqual(Option.some(["claimed", "coordinator", { n: 1 }]))
      const acked = yield* router.inboxSettle(asRun("worker"), "run:worker", Option.getOrThrow(next).id, {})
      expect(acked.state).toBe("handled")
      expect(Option.isNone(yield* router.inboxNext(A, "run:worker", { waitMs: 50 }))).toBe(true)

      const err = (caller: Caller, envelope: unknown) => Effect.map(Effect.flip(router.send(caller, envelope)), (e) => [e.reason, e.message] as const)
      expect(yield* err(asRun("other"), { to: "room:worker", type: "note", from: "run:worker" })).toEqual([
        "forbidden",
        "run:other cannot send as run:worker: an actor sends as its run or one of its branches"
      ])
      expect((yield* err(asRun("other"), { to: "room:worker", type: "note", from: "branch:worker/a" }))[0]).toBe("forbidden")
      expect((yield* err(asRun("other"), { to: "room:worker", type: "note" }))[1]).toContain("room:worker accepts messages from run:worker, its branches, or its owner")
      expect((yield* err(A, { to: "room:worker", type: "note" }))[1]).toBe("room posts need from: run:worker, branch:worker/<label> or coordinator")
      expect((yield* err(B, { to: "room:worker", type: "note", from: "run:worker" }))[0]).toBe("forbidden")
      expect((yield* err(B, { to: "run:worker", type: "task.do" }))[0]).toBe("forbidden")
      expect((yield* err(B, { to: "room:worker", type: "note", from: "coordinator" }))[0]).toBe("forbidden")
      expect((yield* err(A, { to: "run:worker", type: "task.do", priority: 1 }))[1]).toContain("Unknown envelope field: priority")

      const posted = yield* router.send(asRun("worker"), { to: "room:worker", type: "note", from: "branch:worker/scout", body: "found it" })
      expect(posted).toMatchObject({ consumer: "room-timeline", delivered: true, from: "branch:worker/scout" })
      const owner = yield* router.send(A, { to: "room:worker", type: "note", from: "coordinator", body: "thanks" })
      expect(owner.from).toBe("coordinator")
      const tail = yield* router.roomTail(A, "room:worker").pipe(Stream.runCollect)
      expect(Chunk.toArray(tail).map((e) => [e.envelope.from, e.envelope.type])).toEqual([
        ["run:worker", "actor.join"],
        ["branch:worker/scout", "note"],
        ["coordinator", "note"]
      ])
      yield* supervisor.control(A, "worker", "control.kill")
      yield* supervisor.control(A, "other", "control.kill")
    }).pipe(Effect.provide(testRuntime()))
  })

  it.live("coordinator messages become session events; tool: targets spawn the user-root recipe with the body", () => {
    const recipes = join(scratch("troupe-router-"), "recipes")
    mkdirSync(recipes)
    writeFileSync(join(recipes, "shout.json"), JSON.stringify({ description: "shout", args: ["word:string"], template: "echo {word}!" }))
    return Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const router = yield* Router
      yield* supervisor.spawn(A, new SpawnRequest({ template: "sleep 30", as: "child" }))
      const note = yield* router.send(asRun("child"), { to: "coordinator", type: "review.completed", summary: "all good", body: "3 findings" })
      expect(note).toMatchObject({ consumer: "session-events", delivered: true })
      const events = yield* supervisor.sessionEvents(A, 0, false).pipe(Stream.runCollect)
      const message = Chunk.toArray(events).find((e) => e.type === "message")!
      expect(message.text).toBe("Message from run:child (review.completed): all good\n3 findings")
      expect((yield* Effect.flip(router.send(A, { to: "coordinator", type: "x" }))).reason).toBe("forbidden")
      expect((yield* Effect.flip(router.send(asRun("child"), { to: "session:B", type: "x" }))).reason).toBe("forbidden")

      const tool = yield* router.send(A, { to: "tool:shout", type: "tool.call", body: { word: "hey" } })
      expect(tool.consumer).toBe("tool")
      const outcome = yield* supervisor.wait(A, tool.run!, 10_000)
      expect(outcome.stdout).toBe("hey!\n")
      expect((yield* Effect.flip(router.send(A, { to: "tool:repo-health", type: "tool.call" }))).message).toContain("is a packaged recipe")
      yield* supervisor.control(A, "child", "control.kill")
    }).pipe(Effect.provide(testRuntime({ config: { userRecipes: recipes } })))
  })
})

describe("the owner speaks for its runs (SPEC-messaging §2)", () => {
  it.live("a session sends as a run it owns and that run's branches; nobody else does; every stored envelope says who vouched", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const router = yield* Router
      const inspector = yield* Inspector
      yield* supervisor.spawn(A, new SpawnRequest({ template: "sleep 30", as: "review" }))
      yield* supervisor.spawn(A, new SpawnRequest({ template: "sleep 30", as: "sibling" }))
      yield* supervisor.spawn(B, new SpawnRequest({ template: "sleep 30", as: "theirs" }))

      // pi-actors' README room workflow, from the owning session.
      const join = yield* router.send(A, { to: "room:review", from: "branch:review/security", type: "actor.join", body: { role: "reviewer", caps: ["security"], claim: "auth module" } })
      expect(join).toMatchObject({ from: "branch:review/security", sender: "session:A", consumer: "room-timeline", delivered: true })
      const asRunItself = yield* router.send(A, { to: "branch:review/security", from: "run:review", type: "task.assign", body: "look at auth" })
      expect(asRunItself).toMatchObject({ from: "run:review", consumer: "branch-inbox", persisted: true })
      const byToken = yield* router.send(asRun("review"), { to: "room:review", from: "branch:review/security", type: "finding.posted", body: "token path" })
      expect(byToken).toMatchObject({ from: "branch:review/security", sender: "token" })
      const owned = yield* router.send(A, { to: "coordinator", from: "branch:review/security", type: "review.note", body: "done" })
      expect(owned).toMatchObject({ consumer: "session-events", delivered: true })

      const err = (caller: Caller, envelope: unknown) => Effect.map(Effect.flip(router.send(caller, envelope)), (e) => [e.reason, e.message] as const)
      // Session B does not speak for A's run, nor A for B's.
      expect(yield* err(B, { to: "room:review", from: "branch:review/security", type: "actor.join" })).toEqual([
        "forbidden",
        "cannot send as branch:review/security: run:review belongs to another session (a session speaks only for runs it owns)"
      ])
      expect((yield* err(A, { to: "room:theirs", from: "run:theirs", type: "note" }))[0]).toBe("forbidden")
      expect(yield* err(A, { to: "room:ghost", from: "run:ghost", type: "note" })).toEqual([
        "forbidden",
        "cannot send as run:ghost: there is no run ghost (a session speaks only for runs it owns)"
      ])
      // A run's token does not speak for a sibling run (same owner, not the same run).
      expect(yield* err(asRun("sibling"), { to: "room:review", from: "branch:review/security", type: "actor.join" })).toEqual([
        "forbidden",
        "run:sibling cannot send as branch:review/security: an actor sends as its run or one of its branches"
      ])
      // Speaking as one owned run into another run's room is still a cross-run post.
      expect((yield* err(A, { to: "room:review", from: "run:sibling", type: "note" }))[1]).toBe(
        "room:review accepts messages from run:review, its branches, or its owner as coordinator, not from run:sibling"
      )
      expect((yield* err(A, { to: "room:review", from: "session:B", type: "note" }))[0]).toBe("forbidden")

      const tail = Chunk.toArray(yield* router.roomTail(A, "room:review").pipe(Stream.runCollect))
      expect(tail.map((e) => [e.envelope.from, e.envelope.type, e.envelope.sender])).toEqual([
        ["run:review", "actor.join", "runtime"],
        ["branch:review/security", "actor.join", "session:A"],
        ["branch:review/security", "finding.posted", "token"]
      ])
      const inbox = yield* router.inboxList(A, "branch:review/security")
      expect(inbox.map((r) => [r.envelope.from, r.envelope.sender])).toEqual([["run:review", "session:A"]])
      const roster = yield* inspector.inspect(A, "room:review", "roster", {})
      expect(roster.text).toMatch(/address=branch:review\/security role=reviewer status=present claim=auth_module caps=security/)
      const messages = yield* inspector.inspect(A, "room:review", "messages", {})
      expect(messages.text).toContain("from=branch:review/security sender=session:A type=actor.join")
      expect(messages.text).toContain("from=branch:review/security sender=token type=finding.posted")
      const previews = yield* inspector.inspect(A, "room:review", "previews", {})
      expect(previews.text).toContain("from=branch:review/security sender=session:A type=actor.join")
      const branchInbox = yield* inspector.inspect(A, "branch:review/security", "inbox", {})
      expect(branchInbox.text).toContain("from=run:review sender=session:A type=task.assign")
      for (const run of ["review", "sibling"]) yield* supervisor.control(A, run, "control.kill")
      yield* supervisor.control(B, "theirs", "control.kill")
    }).pipe(Effect.provide(testRuntime())))
})

describe("branch messages and the roster", () => {
  it.live("branch:r/a → branch:r/b puts both ends on room:r's roster (activity updated) and makes them each other's contacts", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const router = yield* Router
      const inspector = yield* Inspector
      yield* supervisor.spawn(A, new SpawnRequest({ template: "sleep 30", as: "r" }))
      // a joined the room earlier with a role; b has never posted.
      yield* router.send(asRun("r"), { to: "room:r", type: "actor.join", from: "branch:r/a", body: { role: "planner", caps: ["plan"] } })
      const before = (yield* inspector.inspect(A, "room:r", "roster")).data as { roster: ReadonlyArray<{ address: string; last_seen: number }> }
      const aBefore = before.roster.find((m) => m.address === "branch:r/a")!.last_seen
      expect(before.roster.map((m) => m.address)).toEqual(["run:r", "branch:r/a"])
      yield* Effect.sleep("5 millis")

      const sent = yield* router.send(asRun("r"), { to: "branch:r/b", type: "task.handoff", from: "branch:r/a", body: "yours" })
      expect(sent).toMatchObject({ consumer: "branch-inbox", persisted: true, from: "branch:r/a", to: "branch:r/b" })
      const roster = yield* inspector.inspect(A, "room:r", "roster")
      const members = (roster.data as { roster: ReadonlyArray<{ address: string; role: string; status: string; last_seen: number; joined_at: number }> }).roster
      expect(members.map((m) => [m.address, m.role, m.status])).toEqual([
        ["run:r", "run", "present"],
        ["branch:r/a", "planner", "present"],
        ["branch:r/b", "actor", "present"]
      ])
      const a = members.find((m) => m.address === "branch:r/a")!
      const b = members.find((m) => m.address === "branch:r/b")!
      expect(a.last_seen).toBeGreaterThan(aBefore)
      expect(b.last_seen).toBe(a.last_seen)
      expect(b.joined_at).toBe(b.last_seen)
      expect(roster.text).toContain(`address=branch:r/b role=actor status=present claim= caps= display= last_seen=${new Date(b.last_seen).toISOString()}`)
      // The timeline is unchanged: a direct message is not a room post.
      expect(((yield* inspector.inspect(A, "room:r", "status")).data as { message_count: number }).message_count).toBe(2)

      // The contact edge, seen from both ends and from the room's contacts view.
      const contactsOf = (target: string) =>
        Effect.map(inspector.inspect(A, target, "communication"), (v) => (v.data as { contacts: ReadonlyArray<{ address: string }> }).contacts.map((c) => c.address))
      expect(yield* contactsOf("branch:r/a")).toContain("branch:r/b")
      expect(yield* contactsOf("branch:r/b")).toContain("branch:r/a")
      const contacts = yield* inspector.inspect(asRun("r"), "room:r", "contacts")
      expect((contacts.data as { contacts: ReadonlyArray<{ address: string }> }).contacts.map((c) => c.address)).toEqual(["branch:r/a", "branch:r/b"])

      // A reply moves b's activity; a refused message (not same-run, not the owner) touches nobody.
      yield* Effect.sleep("5 millis")
      yield* router.send(asRun("r"), { to: "branch:r/a", type: "task.ack", from: "branch:r/b" })
      const after = ((yield* inspector.inspect(A, "room:r", "roster")).data as { roster: ReadonlyArray<{ address: string; last_seen: number }> }).roster
      expect(after.find((m) => m.address === "branch:r/b")!.last_seen).toBeGreaterThan(b.last_seen)
      yield* supervisor.spawn(A, new SpawnRequest({ template: "sleep 30", as: "other" }))
      expect((yield* Effect.flip(router.send(asRun("other"), { to: "branch:r/c", type: "x" }))).reason).toBe("forbidden")
      expect((yield* inspector.inspect(A, "room:r", "roster")).data).toMatchObject({ roster: { length: 3 } })
      yield* supervisor.control(A, "r", "control.kill")
      yield* supervisor.control(A, "other", "control.kill")
    }).pipe(Effect.provide(testRuntime())))
})

describe("idempotency keys", () => {
  it.live("a retried send with the same key is stored once: room entry, multicast copy, inbox record; keys are per sender", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const router = yield* Router
      yield* supervisor.spawn(A, new SpawnRequest({ template: "sleep 30", as: "k" }))
      const post = { to: "room:k", type: "note", from: "coordinator", body: "once", metadata: { recipients: ["branch:k/sink"] } }
      const first = yield* router.send(A, post, { idempotencyKey: "client-1:0" })
      const again = yield* router.send(A, post, { idempotencyKey: "client-1:0" })
      expect(again.id).toBe(first.id)
      const other = yield* router.send(A, post, { idempotencyKey: "client-1:1" })
      expect(other.id).not.toBe(first.id)
      const timeline = Chunk.toArray(yield* router.roomTail(A, "room:k").pipe(Stream.runCollect))
      expect(timeline.map((e) => e.id)).toEqual([timeline[0]!.id, first.id, other.id])
      const copies = yield* router.inboxList(A, "branch:k/sink")
      expect(copies).toHaveLength(2)
      expect(copies[0]!.envelope).toMatchObject({ correlation_id: first.id, body: "once" })

      // An inbox: the retry returns the stored message; read and acknowledged, it is not pushed again.
      const task = { to: "run:k", type: "task.do", body: { n: 1 } }
      const sent = yield* router.send(A, task, { idempotencyKey: "t-1" })
      expect(sent).toMatchObject({ persisted: true, queued: true, reason: "pull_only" })
      const taken = Option.getOrThrow(yield* router.inboxNext(asRun("k"), "run:k", { claim: true }))
      expect(taken.id).toBe(sent.id)
      const retried = yield* router.send(A, task, { idempotencyKey: "t-1" })
      expect(retried).toMatchObject({ id: sent.id, delivered: true, persisted: true, queued: false })
      expect(yield* router.inboxList(A, "run:k")).toHaveLength(1)
      // The same key from another sender (the run itself) is another message.
      const own = yield* router.send(asRun("k"), { to: "run:k", type: "task.do" }, { idempotencyKey: "t-1" })
      expect(own.id).not.toBe(sent.id)
      expect(yield* router.inboxList(A, "run:k")).toHaveLength(2)
      expect((yield* Effect.flip(router.send(A, task, { idempotencyKey: "" }))).message).toBe("idempotency key must be 1 to 256 characters")
      yield* supervisor.control(A, "k", "control.kill")
    }).pipe(Effect.provide(testRuntime())))

  it.live("across a runtime restart: the run is killed, its room still takes the owner's keyed retries once", () => {
    const home = join(scratch("troupe-router-"), "home")
    const post = (n: number) => ({ to: "room:kr", type: "note", from: "coordinator", body: { n }, metadata: { recipients: ["branch:kr/sink"] } })
    return Effect.gen(function* () {
      const first = yield* Effect.gen(function* () {
        const supervisor = yield* Supervisor
        const router = yield* Router
        yield* supervisor.spawn(A, new SpawnRequest({ template: "sleep 30", as: "kr" }))
        return yield* router.send(A, post(0), { idempotencyKey: "c:0" })
      }).pipe(Effect.provide(testRuntime({ home })))
      yield* Effect.gen(function* () {
        const supervisor = yield* Supervisor
        const router = yield* Router
        expect((yield* supervisor.brief(A, "kr")).state).toBe("killed")
        // The answer to c:0 was "lost": the client retries it, then goes on.
        const retried = yield* router.send(A, post(0), { idempotencyKey: "c:0" })
        expect(retried).toMatchObject({ id: first.id, persisted: true, consumer: "room-timeline" })
        yield* router.send(A, post(1), { idempotencyKey: "c:1" })
        const entries = Chunk.toArray(yield* router.roomTail(A, "room:kr").pipe(Stream.runCollect)).filter((e) => e.envelope.type === "note")
        expect(entries.map((e) => (e.envelope.body as { n: number }).n)).toEqual([0, 1])
        expect((yield* router.inboxList(A, "branch:kr/sink")).map((r) => (r.envelope.body as { n: number }).n)).toEqual([0, 1])
        // Direct messages to the killed run are refused, not stored.
        expect(yield* router.send(A, { to: "run:kr", type: "task.do" })).toMatchObject({ persisted: false, reason: "run_not_running" })
      }).pipe(Effect.provide(testRuntime({ home })))
    })
  })
})

describe("stdin-jsonl delivery", () => {
  it.live("an actor reads envelopes in order as JSON lines on its stdin", () => {
    const dir = scratch("troupe-router-")
    const recipes = join(dir, "recipes")
    mkdirSync(recipes)
    const script = join(dir, "lines.sh")
    writeFileSync(script, `#!/bin/sh\ni=0\nwhile [ "$i" -lt "$1" ] && IFS= read -r line; do printf '%s\\n' "$line" >> "$2/got.jsonl"; i=$((i+1)); done\n`)
    chmodSync(script, 0o755)
    writeFileSync(join(recipes, "lines.json"), JSON.stringify({ description: "reads JSON lines", mailbox: { delivery: "stdin-jsonl" }, template: `${script} 20 {state_dir}` }))
    return Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const router = yield* Router
      const run = yield* supervisor.spawn(A, new SpawnRequest({ recipe: "lines", as: "lines" }))
      for (let i = 0; i < 20; i++) {
        const r = yield* router.send(A, { to: "run:lines", type: "task.item", body: { i } })
        expect(r).toMatchObject({ delivered: true, consumer: "run-inbox" })
      }
      yield* supervisor.wait(A, "lines", 10_000)
      const got = readFileSync(join(run.state_dir, "got.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { body: { i: number }; from: string; type: string })
      expect(got.map((e) => e.body.i)).toEqual(Array.from({ length: 20 }, (_, i) => i))
      expect(got[0]).toMatchObject({ from: "coordinator", type: "task.item", to: "run:lines" })
      const late = yield* router.send(A, { to: "run:lines", type: "task.item" })
      expect(late).toMatchObject({ delivered: false, reason: "run_not_running" })
    }).pipe(Effect.provide(testRuntime({ config: { userRecipes: recipes } })))
  })
})

describe("outbox.jsonl", () => {
  it.live("lines an actor appends are sent as that run; a bad line is skipped, a forged from refused", () => {
    const dir = scratch("troupe-router-")
    const script = join(dir, "emit.sh")
    writeFileSync(
      script,
      `#!/bin/sh\nout="$1/outbox.jsonl"\n` +
        `printf '%s\\n' '{"to":"room:emitter","type":"note.posted","from":"branch:emitter/w1","body":"first"}' >> "$out"\n` +
        `printf '%s\\n' 'not json' >> "$out"\n` +
        `printf '%s\\n' '{"to":"room:emitter","type":"note.posted","from":"run:someone-else","body":"forged"}' >> "$out"\n` +
        `printf '%s' '{"to":"room:emitter","type":"note.posted","body":"second"}' >> "$out"\nprintf '\\n' >> "$out"\nsleep 30\n`
    )
    chmodSync(script, 0o755)
    return Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const router = yield* Router
      yield* supervisor.spawn(A, new SpawnRequest({ template: `${script} {state_dir}`, as: "emitter" }))
      const entries = yield* waitFor(
        Effect.map(router.roomTail(A, "room:emitter").pipe(Stream.runCollect), (c) => {
          const all = Chunk.toArray(c)
          return all.length >= 3 ? all : undefined
        })
      )
      expect(entries.map((e) => [e.envelope.from, e.envelope.body, e.envelope.sender])).toEqual([
        ["run:emitter", { role: "run", status: "present" }, "runtime"],
        ["branch:emitter/w1", "first", "outbox"],
        ["run:emitter", "second", "outbox"]
      ])
      yield* supervisor.control(A, "emitter", "control.kill")
    }).pipe(Effect.provide(testRuntime()))
  })
})

describe("mailbox.emits", () => {
  it.live("an emitted type outside the recipe's emits is kept and flagged, in the result and in inspect messages", () => {
    const recipes = join(scratch("troupe-router-"), "recipes")
    mkdirSync(recipes)
    writeFileSync(join(recipes, "talker.json"), JSON.stringify({ description: "talks", mailbox: { emits: ["note.posted"] }, template: "sleep 30" }))
    return Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const router = yield* Router
      const inspector = yield* Inspector
      yield* supervisor.spawn(A, new SpawnRequest({ recipe: "talker", as: "talker" }))
      const ok = yield* router.send(asRun("talker"), { to: "room:talker", type: "note.posted", body: "fine" })
      expect(ok.flag).toBeUndefined()
      const odd = yield* router.send(asRun("talker"), { to: "room:talker", type: "gossip.spread", body: "psst" })
      expect(odd).toMatchObject({ delivered: true, persisted: true, flag: "not_in_emits" })
      const view = yield* inspector.inspect(A, "run:talker", "messages")
      expect(view.text).toContain("type=gossip.spread summary= state=posted flag=not_in_emits")
      expect(view.text).not.toContain("type=note.posted summary= state=posted flag=")
      yield* supervisor.control(A, "talker", "control.kill")
    }).pipe(Effect.provide(testRuntime({ config: { userRecipes: recipes } })))
  })
})
