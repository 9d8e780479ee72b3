/**
 * The `agent` run kind against a real `pi --mode rpc` (Node 22, the faux model), in-process
 * runtime: a local agent run receives a task, calls a tool, settles and reports a follow-up;
 * a steer reaches the model mid-task; an abort ends a long tool call; a bad model fails the
 * run with Pi's sentence; killing the run leaves no process of it (Pi, its tools).
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import { randomUUID } from "node:crypto"
import { chmodSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import type { Caller, SessionEvent } from "../../src/domain/Run.js"
import { Inspector } from "../../src/services/Inspector.js"
import { Router } from "../../src/services/Router.js"
import { SpawnRequest, Supervisor } from "../../src/services/Supervisor.js"
import { pidsWithEnv } from "../support/procs.js"
import { eventually, testRuntime } from "../support/runtime.js"
import { fauxExtension, makeWorld, script } from "./support.js"

const A: Caller = { session: "A", all: false }

/** A `pi` for the world: Node 22 + Pi's CLI, nothing discovered, the faux model. */
const piWrapper = (dir: string) => {
  const file = join(dir, "pi")
  const args = ["--offline", "--no-extensions", "--no-skills", "--no-prompt-templates", "--no-context-files", "-e", fauxExtension, "--model", "faux/faux-1"]
  writeFileSync(file, `#!/bin/sh\nexec "${process.env.TROUPE_PI_NODE}" "${process.env.TROUPE_PI_CLI}" "$@" ${args.map((a) => `"${a}"`).join(" ")}\n`)
  chmodSync(file, 0o755)
  return file
}

const settled = (runId: string, count: number) =>
  Effect.flatMap(Supervisor, (s) =>
    s.sessionEvents(A, 0, true).pipe(
      Stream.filter((e: SessionEvent) => e.run_id === runId && e.type === "agent.settled"),
      Stream.take(count),
      Stream.runCollect,
      Effect.map(Chunk.toArray),
      Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new Error(`no ${count} agent.settled events for ${runId}`) })
    ))

const agentOf = (id: string) =>
  Effect.flatMap(Inspector, (i) => i.inspect(A, `run:${id}`, "status")).pipe(
    Effect.map((v) => (v.data as { agent: { state: string; turns: number; pid: number | null; tool_calls: number; events: ReadonlyArray<{ type: string; summary?: string }> } | null }).agent)
  )

describe("agent runs: real Pi", () => {
  it.live("task → tool call → settled follow-up; steer mid-task; abort a long tool; bad model; kill leaves no process", () => {
    const world = makeWorld("agent")
    const pi = piWrapper(world.dir)
    const runtime = testRuntime({ config: { environment: world.env, pi } })
    const ofRun = (run: string) => {
      const mine = new Set(pidsWithEnv("TROUPE_RUN", run))
      return pidsWithEnv("PI_CODING_AGENT_DIR", world.agentDir).filter((p) => mine.has(p))
    }
    return Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const router = yield* Router
      const inspector = yield* Inspector
      const nonce = randomUUID()

      // A task that calls a tool, settles, and is reported to the owner.
      yield* supervisor.spawn(A, new SpawnRequest({ kind: "agent", as: "pi1", cwd: world.cwd, model: "faux/faux-1", task: script([[{ name: "e2e_echo", arguments: { text: nonce } }]]) }))
      const [first] = yield* settled("pi1", 1)
      expect(first!.data).toMatchObject({ turn: 1, aborted: false })
      expect(first!.text).toContain("SCRIPT-DONE")
      expect(first!.text).toContain(`RESULT e2e_echo: echo: ${nonce}`)
      expect(yield* agentOf("pi1")).toMatchObject({ state: "idle", turns: 1, tool_calls: 1 })
      expect((yield* inspector.inspect(A, "run:pi1", "events")).text).toContain("tool_execution_start e2e_echo")

      // A steer during a tool call reaches the model before its next answer.
      yield* router.send(A, { to: "run:pi1", type: "task.prompt", body: script([[{ name: "bash", arguments: { command: "sleep 2" } }]]) })
      yield* eventually("the bash tool runs", Effect.map(agentOf("pi1"), (a) => a?.events.some((e) => e.type === "tool_execution_start" && e.summary?.startsWith("bash")) === true), 30_000)
      yield* router.send(A, { to: "run:pi1", type: "agent.steer", body: `steer-${nonce}` })
      const second = (yield* settled("pi1", 2))[1]!
      expect(second.text).toContain(`FOLLOWUP-SEEN <<steer-${nonce}>>`)

      // An abort ends a long tool call; the task settles aborted and the agent stays up.
      yield* router.send(A, { to: "run:pi1", type: "task.prompt", body: script([[{ name: "bash", arguments: { command: `sleep 60 # ${nonce}` } }]]) })
      yield* eventually("the long bash tool runs", Effect.map(agentOf("pi1"), (a) => a?.events.some((e) => e.summary?.includes(`sleep 60 # ${nonce}`)) === true), 30_000)
      yield* router.send(A, { to: "run:pi1", type: "agent.abort" })
      const third = (yield* settled("pi1", 3))[2]!
      expect(third.data).toMatchObject({ turn: 3, aborted: true })
      expect((yield* supervisor.get(A, "pi1")).info.state).toBe("running")

      // Killing the run leaves no process of it.
      const pid = (yield* agentOf("pi1"))!.pid!
      expect(ofRun("pi1")).toContain(pid)
      expect((yield* supervisor.control(A, "pi1", "control.kill")).state).toBe("killed")
      expect(ofRun("pi1")).toEqual([])

      // A model Pi does not know fails the run with Pi's sentence.
      yield* supervisor.spawn(A, new SpawnRequest({ kind: "agent", as: "pi2", cwd: world.cwd, model: "faux/no-such-model", task: "hi" }))
      const failed = yield* supervisor.wait(A, "pi2", 60_000)
      expect(failed.run.state).toBe("failed")
      expect(failed.run.error).toMatch(/^Pi rejected set_model: .*faux\/no-such-model/)
    }).pipe(Effect.provide(runtime), Effect.ensuring(Effect.sync(() => rmSync(world.dir, { recursive: true, force: true }))))
  }, 180_000)
})
