/**
 * The `agent` run kind on a (fake) VM (`on: vm:<id>`, docs/agents.md "Agents on VMs"): Pi
 * (FakePi) runs under the setsid supervisor in the VM's root, gets its task, settles into a
 * follow-up, takes a second task by message; the agent env file is 0600 with VERS_VM_ID and the
 * role metadata, which the run's status keeps too; the status's stream mark equals the VM's
 * event file; killing the run leaves no supervisor or Pi process.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { AgentStatus } from "../../src/domain/AgentStatus.js"
import type { Caller } from "../../src/domain/Run.js"
import { Hosts } from "../../src/services/Hosts.js"
import { Inspector } from "../../src/services/Inspector.js"
import { Router } from "../../src/services/Router.js"
import { AgentVms } from "../../src/services/runs/AgentVms.js"
import { Ssh } from "../../src/services/Ssh.js"
import { SpawnRequest, Supervisor } from "../../src/services/Supervisor.js"
import { fakePiProgram } from "../../src/testing/FakePi.js"
import { settledEvents } from "../support/agentEvents.js"
import { testRuntime } from "../support/runtime.js"
import { closeVmFleet, sshLayerOf, vmFleet } from "../support/vmHosts.js"

afterAll(closeVmFleet, 30_000)

const A: Caller = { session: "A", all: false }
const envFile = ".troupe/etc/troupe-agent.sh"

const alive = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"))
  } catch {
    return false
  }
}

/** The runtime with `AgentVms` over the shared fake fleet (and `recipes` as the user's recipes). */
const runtimeWith = (recipes?: string) =>
  Layer.unwrapScoped(
    Effect.map(Effect.promise(vmFleet), ({ fleet }) => {
      const vms = Layer.effect(AgentVms, Effect.map(Ssh, (ssh) => ({ ssh: Effect.succeed(ssh), envFile }))).pipe(Layer.provide(sshLayerOf(fleet)), Layer.orDie)
      return testRuntime({ config: { environment: process.env, ...(recipes === undefined ? {} : { userRecipes: recipes }) }, hosts: Layer.merge(Hosts.layer(), vms) })
    })
  )
const runtime = runtimeWith()

const settledOf = (runId: string, count: number) => settledEvents(A, runId, count, "30 seconds")

describe("agent runs on a VM (FakePi under the supervisor)", () => {
  it.live("a task settles, a second arrives by message, the fold's mark is the event file's, kill leaves nothing", () =>
    Effect.gen(function* () {
      const { fleet, vm } = yield* Effect.promise(vmFleet)
      const root = fleet.ssh.vm(vm)!.root
      const supervisor = yield* Supervisor
      const router = yield* Router
      const inspector = yield* Inspector
      const pi = `${process.execPath} ${fakePiProgram()!}`
      yield* supervisor.spawn(A, new SpawnRequest({ kind: "agent", as: "ra1", task: "hello", pi, on: `vm:${vm}` }))
      const [first] = yield* settledOf("ra1", 1)
      expect(first!.text).toContain("done: hello")

      const env = path.join(root, envFile)
      expect(fs.statSync(env).mode & 0o777).toBe(0o600)
      const envText = fs.readFileSync(env, "utf8")
      expect(envText).toContain(`export VERS_VM_ID=${vm}`)
      expect(envText).toContain("export VERS_AGENT_NAME=ra1")
      expect(envText).toContain("export VERS_AGENT_ROLE=agent")
      expect(envText).toContain("export VERS_PARENT_AGENT=A")
      expect(envText).toContain("export GIT_EDITOR=true")

      const status = yield* inspector.inspect(A, "run:ra1", "status")
      expect(status.text).toContain(`vm=${vm}`)
      expect(status.text).toContain("turns=1")

      yield* router.send(A, { to: "run:ra1", type: "task.prompt", body: "second task" })
      const both = yield* settledOf("ra1", 2)
      expect(both[1]!.data).toMatchObject({ turn: 2, text: "done: second task" })

      const info = yield* supervisor.get(A, "ra1")
      const agent = AgentStatus.make(JSON.parse(fs.readFileSync(path.join(info.info.state_dir, "agent.json"), "utf8")))
      expect(agent.remote).toMatchObject({ vm, role: "agent", name: "ra1", parent: "A", dir: ".troupe/agents/ra1" })
      // Every event of the VM's file is folded, once: the persisted mark is the file's.
      const file = path.join(root, agent.remote!.dir, "events.jsonl")
      // (Responses after the last event are not part of the mark: a resumed reader re-reads and ignores them.)
      let digest = ""
      let events = 0
      let offset = 0
      let endOfLastEvent = 0
      for (const l of fs.readFileSync(file, "utf8").split("\n").slice(0, -1)) {
        offset += Buffer.byteLength(l) + 1
        if (JSON.parse(l).type === "response") continue
        events++
        endOfLastEvent = offset
        digest = createHash("sha256").update(digest).update(l).digest("hex")
      }
      expect(agent.stream).toEqual({ offset: endOfLastEvent, events, digest })

      const pid = agent.remote!.pid
      const piPid = Number(fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/)[0])
      expect(alive(pid)).toBe(true)
      expect(alive(piPid)).toBe(true)
      yield* supervisor.control(A, "ra1", "control.kill")
      expect(alive(pid)).toBe(false)
      expect(alive(piPid)).toBe(false)
      // The event log stays for inspection.
      expect(fs.existsSync(file)).toBe(true)
    }).pipe(Effect.provide(runtime)), 90_000)

  it.live("an agent recipe with \"on\": \"vm:<id>\" runs its Pi on that VM", () =>
    Effect.gen(function* () {
      const { fleet, vm } = yield* Effect.promise(vmFleet)
      const recipes = fs.mkdtempSync(path.join(fleet.dir, "recipes-"))
      fs.writeFileSync(path.join(recipes, "far.json"), JSON.stringify({ kind: "agent", task: "from the recipe", on: `vm:${vm}`, description: "An agent on a VM" }))
      return yield* Effect.gen(function* () {
        const supervisor = yield* Supervisor
        yield* supervisor.spawn(A, new SpawnRequest({ recipe: "far", as: "rf", pi: `${process.execPath} ${fakePiProgram()!}` }))
        const [done] = yield* settledOf("rf", 1)
        expect(done!.text).toContain("done: from the recipe")
        expect(fs.existsSync(path.join(fleet.ssh.vm(vm)!.root, ".troupe/agents/rf/events.jsonl"))).toBe(true)
        yield* supervisor.control(A, "rf", "control.kill")
      }).pipe(Effect.provide(runtimeWith(recipes)))
    }), 90_000)

  it.live("on: something other than vm:<id> is refused with a sentence", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const refused = yield* Effect.flip(supervisor.spawn(A, new SpawnRequest({ kind: "agent", as: "ra2", task: "x", on: "golden" })))
      expect(refused.message).toBe("an agent runs locally or on vm:<id>, not on golden")
    }).pipe(Effect.provide(runtime)), 60_000)
})
