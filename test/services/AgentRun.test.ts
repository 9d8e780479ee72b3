/**
 * The `agent` run kind with FakePi (built `dist/testing/fake-pi.mjs`, run through a one-line
 * wrapper per mode as the spawn's `pi`): a task settles into a follow-up with the text and a
 * room post, inspect shows the fold, `task.prompt` makes a second turn, `agent.abort` ends a
 * slow turn, `set_model` failure and a crash fail the run with Pi's sentence, kill leaves no
 * process, and spawn checks its fields.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Caller } from "../../src/domain/Run.js"
import { Inspector } from "../../src/services/Inspector.js"
import { Rooms } from "../../src/services/Rooms.js"
import { Router } from "../../src/services/Router.js"
import { SpawnRequest, Supervisor } from "../../src/services/Supervisor.js"
import { fakePiProgram } from "../../src/testing/FakePi.js"
import { run } from "../support/exec.js"
import { settledEvents } from "../support/agentEvents.js"
import { eventually, testRuntime } from "../support/runtime.js"

const A: Caller = { session: "A", all: false }

const bin = mkdtempSync(join(tmpdir(), "troupe-agent-test-"))
/** A `pi` that is FakePi in `mode` (slow steps of `delayMs`). */
const fakePi = (mode: string, delayMs = 40) => {
  const program = fakePiProgram()
  if (program === undefined) throw new Error("FakePi is not built: run npm run build")
  const file = join(bin, `pi-${mode}`)
  writeFileSync(file, `#!/bin/sh\nFAKE_PI_DELAY_MS=${delayMs} exec "${process.execPath}" "${program}" "$@" --fake-mode ${mode}\n`)
  chmodSync(file, 0o755)
  return file
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const runtime = () => testRuntime({ config: { environment: process.env } })

const settledOf = (runId: string, count: number) => settledEvents(A, runId, count, "20 seconds")

const statusOf = (id: string) =>
  Effect.flatMap(Inspector, (i) => i.inspect(A, `run:${id}`, "status")).pipe(Effect.map((v) => v.data as { agent: { state: string; turns: number; pid: number | null; tool_calls: number } | null }))

describe("agent runs (FakePi)", () => {
  it.live("a task settles → follow-up with the text, room post, inspect fold; task.prompt → second turn; kill leaves no process", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const router = yield* Router
      const inspector = yield* Inspector
      const rooms = yield* Rooms
      yield* supervisor.spawn(A, new SpawnRequest({ kind: "agent", as: "a1", task: "hello", pi: fakePi("normal") }))
      const [first] = yield* settledOf("a1", 1)
      expect(first!.text).toContain("done: hello")
      expect(first!.data).toMatchObject({ turn: 1, aborted: false, text: "done: hello" })

      const status = yield* inspector.inspect(A, "run:a1", "status")
      expect(status.text).toContain("agent=idle")
      expect(status.text).toContain("turns=1")
      expect(status.text).toContain("tool_calls=1")
      expect(status.text).toMatch(/tokens=\d+/)
      expect((yield* supervisor.get(A, "a1")).info.state).toBe("running")

      const sent = yield* router.send(A, { to: "run:a1", type: "task.prompt", body: "second task" })
      expect(sent).toMatchObject({ delivered: true })
      const both = yield* settledOf("a1", 2)
      expect(both[1]!.data).toMatchObject({ turn: 2, text: "done: second task" })
      const output = yield* inspector.inspect(A, "run:a1", "output")
      expect(output.text).toContain("done: second task")
      const events = yield* inspector.inspect(A, "run:a1", "events", { lines: 200 })
      expect(events.text).toContain("tool_execution_start echo")
      expect(events.text).not.toContain("message_update")
      const posts = (yield* rooms.timeline("room:a1", { limit: 50 })).filter((e) => e.envelope.type === "task.result")
      expect(posts.map((p) => (p.envelope.body as { text: string }).text)).toEqual(["done: hello", "done: second task"])

      const pid = (yield* statusOf("a1")).agent!.pid!
      expect(alive(pid)).toBe(true)
      const killed = yield* supervisor.control(A, "a1", "control.kill")
      expect(killed).toMatchObject({ applied: true, state: "killed" })
      expect(alive(pid)).toBe(false)
      expect((yield* statusOf("a1")).agent!.state).toBe("exited")
    }).pipe(Effect.provide(runtime())), 60_000)

  it.live("agent.abort ends a slow turn; steer and follow_up are accepted", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const router = yield* Router
      yield* supervisor.spawn(A, new SpawnRequest({ kind: "agent", as: "slow", task: "long task", pi: fakePi("slow", 300) }))
      yield* eventually("the agent streams", Effect.map(statusOf("slow"), (s) => s.agent?.state === "streaming"), 15_000)
      yield* router.send(A, { to: "run:slow", type: "agent.steer", body: "steer this" })
      yield* router.send(A, { to: "run:slow", type: "agent.abort" })
      const [settled] = yield* settledOf("slow", 1)
      expect(settled!.data).toMatchObject({ turn: 1, aborted: true })
      expect(settled!.text).toContain("(aborted)")
      const after = yield* statusOf("slow")
      expect(after.agent).toMatchObject({ state: "idle", turns: 1 })
      yield* supervisor.control(A, "slow", "control.kill")
    }).pipe(Effect.provide(runtime())), 60_000)

  it.live("an agent in its own worktree: the settled follow-up carries the diff stat of its work", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const repo = mkdtempSync(join(tmpdir(), "troupe-agent-worktree-"))
      const gitEnv = { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.com", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.com", GIT_CONFIG_GLOBAL: "/dev/null" }
      for (const args of [["init", "-q", "-b", "main", repo], ["-C", repo, "commit", "-q", "--allow-empty", "-m", "base"]]) {
        expect((yield* Effect.promise(() => run("git", args, { env: gitEnv }))).code).toBe(0)
      }
      const info = yield* supervisor.spawn(A, new SpawnRequest({ kind: "agent", as: "wtagent", task: "edit", pi: fakePi("slow", 300), cwd: repo, isolation: "worktree" }))
      expect(info.cwd).not.toBe(repo)
      // The "agent's" edit, made in its worktree while the task streams.
      yield* eventually("the agent streams", Effect.map(statusOf("wtagent"), (s) => s.agent?.state === "streaming"), 15_000)
      writeFileSync(join(info.cwd, "agent-notes.txt"), "one\ntwo\n")
      const [settled] = yield* settledOf("wtagent", 1)
      expect(settled!.text).toContain("agent-notes.txt | 2 ++")
      expect(settled!.data).toMatchObject({ worktree: { branch: "troupe/wtagent", insertions: 2, deletions: 0, files: 1 } })
      yield* supervisor.control(A, "wtagent", "control.kill")
    }).pipe(Effect.provide(runtime())), 60_000)

  it.live("set_model failure and a crash fail the run with Pi's sentence", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      yield* supervisor.spawn(A, new SpawnRequest({ kind: "agent", as: "nomodel", task: "x", model: "nope/none", pi: fakePi("set-model-fail") }))
      const noModel = yield* supervisor.wait(A, "nomodel", 20_000)
      expect(noModel.run.state).toBe("failed")
      expect(noModel.run.error).toBe("Pi rejected set_model: Model not found: nope/none")

      yield* supervisor.spawn(A, new SpawnRequest({ kind: "agent", as: "crash", task: "x", pi: fakePi("crash") }))
      const crashed = yield* supervisor.wait(A, "crash", 20_000)
      expect(crashed.run.state).toBe("failed")
      expect(crashed.run.code).toBe(3)
      expect(crashed.run.error).toMatch(/^Pi \(pid \d+\) exited with code 3: fake-pi: crashed on purpose$/)

      // The restart policy applies: each generation starts a fresh Pi and sends the task again.
      yield* supervisor.spawn(A, new SpawnRequest({ kind: "agent", as: "again", task: "x", pi: fakePi("crash"), restart: { restart: "on-failure", max_restarts: 1, backoff_ms: 10 } }))
      const again = yield* supervisor.wait(A, "again", 20_000)
      expect(again.run).toMatchObject({ state: "failed", restarts: 1 })
      expect(again.run.error).toMatch(/^restart limit reached .*exited with code 3: fake-pi: crashed on purpose$/)

      yield* supervisor.spawn(A, new SpawnRequest({ kind: "agent", as: "missing", task: "x", pi: join(bin, "no-such-pi") }))
      const missing = yield* supervisor.wait(A, "missing", 20_000)
      expect(missing.run.state).toBe("failed")
      expect(missing.run.error).toContain("cannot start Pi")
    }).pipe(Effect.provide(runtime())), 60_000)

  it.live("an older Pi without agent_settled settles through get_state; a chatty task is folded without keeping its deltas", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const inspector = yield* Inspector
      yield* supervisor.spawn(A, new SpawnRequest({ kind: "agent", as: "old", task: "hi", pi: fakePi("old") }))
      const [old] = yield* settledOf("old", 1)
      expect(old!.data).toMatchObject({ turn: 1, aborted: false, text: "done: hi" })
      yield* supervisor.spawn(A, new SpawnRequest({ kind: "agent", as: "chatty", task: "talk", pi: fakePi("chatty") }))
      const [chatty] = yield* settledOf("chatty", 1)
      expect(chatty!.data).toMatchObject({ turn: 1, tool_calls: 1 })
      const events = yield* inspector.inspect(A, "run:chatty", "events", { lines: 1000 })
      expect(events.text).not.toContain("message_update")
      expect((events.data as { events: ReadonlyArray<unknown> }).events.length).toBeLessThan(50)
      yield* supervisor.control(A, "old", "control.kill")
      yield* supervisor.control(A, "chatty", "control.kill")
    }).pipe(Effect.provide(runtime())), 60_000)

  it.live("an agent recipe (\"kind\": \"agent\" with task and model) spawns an agent run; a template beside it is refused", () => {
    const recipes = mkdtempSync(join(tmpdir(), "troupe-agent-recipes-"))
    writeFileSync(join(recipes, "helper.json"), JSON.stringify({ kind: "agent", task: "from the recipe", model: "fake/other", description: "A helper agent" }))
    writeFileSync(join(recipes, "both.json"), JSON.stringify({ kind: "agent", task: "x", template: "echo hi" }))
    return Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const inspector = yield* Inspector
      const run = yield* supervisor.spawn(A, new SpawnRequest({ recipe: "helper", as: "h1", pi: fakePi("normal") }))
      expect(run.recipe).toBe("helper")
      const [done] = yield* settledOf("h1", 1)
      expect(done!.data).toMatchObject({ turn: 1, text: "done: from the recipe" })
      expect((yield* inspector.inspect(A, "run:h1", "status")).text).toContain("agent=idle model=fake/other turns=1")
      yield* supervisor.control(A, "h1", "control.kill")
      const both = yield* Effect.flip(supervisor.spawn(A, new SpawnRequest({ recipe: "both", as: "b1" })))
      expect(both.message).toContain(`Recipe both is an agent recipe ("kind": "agent"): it takes task and model, not a template`)
    }).pipe(Effect.provide(testRuntime({ config: { environment: process.env, userRecipes: recipes } })))
  }, 60_000)

  it.live("spawn checks: a model without provider, a task on a template run, a template on an agent run", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const bad = yield* Effect.flip(supervisor.spawn(A, new SpawnRequest({ kind: "agent", as: "m", model: "justamodel" })))
      expect(bad.message).toBe(`model must be provider/modelId (e.g. anthropic/claude-sonnet-4-5), not "justamodel"`)
      const task = yield* Effect.flip(supervisor.spawn(A, new SpawnRequest({ template: "true", as: "t", task: "x" })))
      expect(task.message).toBe("task, model and pi apply only to agent runs (kind agent, troupe spawn --agent)")
      const template = yield* Effect.flip(supervisor.spawn(A, new SpawnRequest({ kind: "agent", template: "true", as: "t2" })))
      expect(template.reason).toBe("invalid")
      expect(Option.isNone(Option.fromNullable((yield* supervisor.list(A, "all"))[0]))).toBe(true)
    }).pipe(Effect.provide(runtime())), 30_000)
})
