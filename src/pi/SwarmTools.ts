/**
 * The Pi swarm and lieutenant tools with pi-vers' names and parameters, minus secrets
 * (SPEC-adapters §3; docs/swarms.md "Pi tools"): `vers_swarm_spawn|task|wait|status|read|
 * teardown|discover` (`count`, `labels`, `commitId`, `model`; `agentId`, `task`; `agentIds`,
 * `timeoutSeconds`; `tail`) and `vers_lt_create|send|read|status|pause|resume|destroy|discover`
 * (`name`, `role`, `commitId`, `model`, `local`; `message`, `mode`; `tail`, `history`). troupe
 * adds `swarm` (the swarm's name, default `swarm`: pi-vers had one swarm per session),
 * `local` to the swarm spawn, and `systemPrompt` to lieutenants. Each runs through the daemon as
 * the Pi session; LLM keys are the daemon's and the agents' environment, never parameters.
 */
import { Effect, Schema } from "effect"
import { LieutenantInfo, LieutenantRead, type SendMode, SwarmInfo, SwarmWaitResult, SwarmWorker } from "../domain/Swarm.js"
import { Actors } from "../services/Actors.js"
import * as Lieutenants from "../services/Lieutenants.js"
import * as Swarms from "../services/Swarms.js"
import { VmsRemote } from "./Connection.js"
import type { JsonSchema, PiContext, PiTool } from "./PiHost.js"
import { result } from "./Tools.js"
import type { Connect } from "./VmTools.js"

const str = (description: string): JsonSchema => ({ type: "string", description })
const num = (description: string): JsonSchema => ({ type: "number", description })
const bool = (description: string): JsonSchema => ({ type: "boolean", description })
const object = (properties: Record<string, JsonSchema>, required: ReadonlyArray<string> = []): JsonSchema => ({ type: "object", properties, required, additionalProperties: false })
const swarmParam = str("The swarm's name (default: swarm)")

const golden = () => {
  const v = process.env.VERS_GOLDEN_COMMIT_ID
  return v === undefined || v.trim() === "" ? undefined : v.trim()
}

const text = (params: Record<string, unknown>, name: string): string => {
  const v = params[name]
  if (typeof v !== "string" || v.trim() === "") throw new Error(`${name} must be a non-empty string`)
  return v
}
const optText = (params: Record<string, unknown>, name: string): string | undefined => (params[name] === undefined ? undefined : text(params, name))
const optNumber = (params: Record<string, unknown>, name: string): number | undefined => {
  const v = params[name]
  if (v === undefined) return undefined
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new Error(`${name} must be a non-negative number`)
  return v
}
const optStrings = (params: Record<string, unknown>, name: string): ReadonlyArray<string> | undefined => {
  const v = params[name]
  if (v === undefined) return undefined
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw new Error(`${name} must be an array of strings`)
  return v as ReadonlyArray<string>
}
const swarmOf = (params: Record<string, unknown>) => optText(params, "swarm") ?? "swarm"

const withSwarms = <A, E>(connect: Connect, ctx: PiContext, signal: AbortSignal | undefined, f: (s: Swarms.SwarmsShape) => Effect.Effect<A, E>) =>
  connect(ctx).then((conn) =>
    conn.run(Effect.gen(function* () {
      return yield* f(Swarms.make(yield* Actors, { vms: yield* VmsRemote, goldenCommitId: golden() }))
    }), signal))

const withLieutenants = <A, E>(connect: Connect, ctx: PiContext, signal: AbortSignal | undefined, f: (l: Lieutenants.LieutenantsShape) => Effect.Effect<A, E>) =>
  connect(ctx).then((conn) =>
    conn.run(Effect.gen(function* () {
      return yield* f(Lieutenants.make(yield* Actors, { vms: yield* VmsRemote, goldenCommitId: golden() }))
    }), signal))

const encodeInfo = Schema.encodeSync(SwarmInfo)
const encodeWorker = Schema.encodeSync(SwarmWorker)
const encodeWait = Schema.encodeSync(SwarmWaitResult)
const encodeLt = Schema.encodeSync(LieutenantInfo)
const encodeRead = Schema.encodeSync(LieutenantRead)

const workerText = (w: SwarmWorker) => `${w.label}: ${w.state}${w.vm_id === null ? "" : ` (VM ${w.vm_id})`}, ${w.turns} tasks${w.error === undefined ? "" : ` — ${w.error}`}`
const swarmText = (s: SwarmInfo) =>
  [`Swarm ${s.swarm} (${s.placement}, ${s.workers.length} workers; posts in ${s.room}):`, ...s.workers.map(workerText), ...s.failures.map((f) => `${f.label}: failed to start — ${f.error}`)].join("\n")
const ltText = (l: LieutenantInfo) => `${l.name} [${l.state}] ${l.placement === "vm" ? `VM ${l.vm_id}` : "local"}, ${l.tasks} tasks — ${l.role}${l.error === undefined ? "" : ` (${l.error})`}`

/** The seven swarm tools. */
export const swarmTools = (connect: Connect): ReadonlyArray<PiTool> => [
  {
    name: "vers_swarm_spawn",
    label: "Spawn Swarm",
    description: "Start N Pi agents as one swarm: each on its own VM restored from commitId (default the golden image), or locally in its own git worktree (local=true, or when no golden image is configured). Returns once each is ready.",
    parameters: object({
      count: num("Number of agents"),
      labels: { type: "array", items: { type: "string" }, description: "Labels for the agents (default agent-1 … agent-N)" },
      commitId: str("Commit to restore each agent's VM from (default: VERS_GOLDEN_COMMIT_ID)"),
      model: str("provider/modelId for every agent"),
      local: bool("Run the agents on this machine, a git worktree each, instead of VMs"),
      swarm: swarmParam
    }, ["count"]),
    execute: async (_id, params, signal, _update, ctx) => {
      const local = params.local === true
      const info = await withSwarms(connect, ctx, signal, (s) =>
        s.spawn({
          swarm: swarmOf(params),
          count: optNumber(params, "count"),
          labels: optStrings(params, "labels"),
          commitId: optText(params, "commitId"),
          model: optText(params, "model"),
          placement: local ? "local" : undefined,
          cwd: ctx.cwd
        }))
      return result(`${swarmText(info)}\nSend work with vers_swarm_task, collect it with vers_swarm_wait.`, encodeInfo(info))
    }
  },
  {
    name: "vers_swarm_task",
    label: "Send Task to Agent",
    description: "Send a task (prompt) to one swarm agent; it starts working on it autonomously.",
    parameters: object({ agentId: str("Agent label"), task: str("The task prompt"), swarm: swarmParam }, ["agentId", "task"]),
    execute: async (_id, params, signal, _update, ctx) => {
      const w = await withSwarms(connect, ctx, signal, (s) => s.task(swarmOf(params), text(params, "agentId"), text(params, "task")))
      return result(`Task sent to ${w.label}.`, encodeWorker(w))
    }
  },
  {
    name: "vers_swarm_wait",
    label: "Wait for Agents",
    description: "Block until every agent (or the given ones) with a task in flight finishes; idle agents are not waited on. Returns each agent's output.",
    parameters: object({ agentIds: { type: "array", items: { type: "string" }, description: "Agents to wait for (default: all)" }, timeoutSeconds: num("Max seconds to wait (default 300)"), swarm: swarmParam }),
    execute: async (_id, params, signal, _update, ctx) => {
      const seconds = optNumber(params, "timeoutSeconds")
      const r = await withSwarms(connect, ctx, signal, (s) => s.wait(swarmOf(params), { labels: optStrings(params, "agentIds"), timeoutMs: seconds === undefined ? undefined : seconds * 1000 }))
      // The waited agents and every agent with a result (one may have finished before this call).
      const shown = r.workers.filter((w) => r.waited.includes(w.label) || w.turns > 0 || w.state === "failed")
      const head = `${r.timed_out ? "TIMED OUT after" : "All agents finished in"} ${Math.round(r.elapsed_ms / 1000)}s`
      return result([head, "", ...shown.map((w) => `=== ${w.label} [${w.state}] ===\n${w.last_output ?? w.error ?? "(no output)"}\n`)].join("\n"), encodeWait(r))
    }
  },
  {
    name: "vers_swarm_status",
    label: "Swarm Status",
    description: "The state of every agent in the swarm: starting, idle, working, failed or stopped.",
    parameters: object({ swarm: swarmParam }),
    execute: async (_id, params, signal, _update, ctx) => {
      const info = await withSwarms(connect, ctx, signal, (s) => s.status(swarmOf(params)))
      return result(swarmText(info), encodeInfo(info))
    }
  },
  {
    name: "vers_swarm_read",
    label: "Read Agent Output",
    description: "The latest text output of one swarm agent.",
    parameters: object({ agentId: str("Agent label"), tail: num("Characters from the end (default: all)"), swarm: swarmParam }, ["agentId"]),
    execute: async (_id, params, signal, _update, ctx) => {
      const w = await withSwarms(connect, ctx, signal, (s) => s.read(swarmOf(params), text(params, "agentId"), { tail: optNumber(params, "tail") }))
      return result(`[${w.label}] (${w.state}):\n${w.last_output ?? "(no output yet)"}`, encodeWorker(w))
    }
  },
  {
    name: "vers_swarm_teardown",
    label: "Teardown Swarm",
    description: "Stop every swarm agent and delete their VMs (and worktrees).",
    parameters: object({ swarm: swarmParam }),
    execute: async (_id, params, signal, _update, ctx) => {
      const r = await withSwarms(connect, ctx, signal, (s) => s.teardown(swarmOf(params)))
      return result(`Swarm ${r.swarm} torn down: ${r.stopped.length} runs stopped, ${r.vms_deleted.length} VMs deleted.`, { swarm: r.swarm, stopped: r.stopped, vms_deleted: r.vms_deleted })
    }
  },
  {
    name: "vers_swarm_discover",
    label: "Discover Swarms",
    description: "The swarms of this session and their agents, read back from troupe (after a restart too).",
    parameters: object({}),
    execute: async (_id, _params, signal, _update, ctx) => {
      const list = await withSwarms(connect, ctx, signal, (s) => s.discover())
      return result(list.length === 0 ? "No swarms." : list.map(swarmText).join("\n\n"), { swarms: list.map((s) => encodeInfo(s)) })
    }
  }
]

const nameParam = str("Lieutenant name")

/** The eight lieutenant tools. */
export const lieutenantTools = (connect: Connect): ReadonlyArray<PiTool> => [
  {
    name: "vers_lt_create",
    label: "Create Lieutenant",
    description: "Start a persistent Pi agent (a lieutenant) on its own VM, or locally with local=true. It stays up across tasks and troupe restarts and keeps its role.",
    parameters: object({
      name: str("Short name (e.g. infra, billing)"),
      role: str("Role description: part of the lieutenant's briefing"),
      systemPrompt: str("More instructions for its briefing"),
      commitId: str("Commit to restore its VM from (default: VERS_GOLDEN_COMMIT_ID)"),
      model: str("provider/modelId"),
      local: bool("Run it on this machine instead of a VM")
    }, ["name", "role"]),
    execute: async (_id, params, signal, _update, ctx) => {
      const l = await withLieutenants(connect, ctx, signal, (lts) =>
        lts.create({
          name: text(params, "name"),
          role: text(params, "role"),
          systemPrompt: optText(params, "systemPrompt"),
          commitId: optText(params, "commitId"),
          model: optText(params, "model"),
          placement: params.local === true ? "local" : undefined,
          cwd: ctx.cwd
        }))
      return result(`Lieutenant "${l.name}" is ready.\n${ltText(l)}`, encodeLt(l))
    }
  },
  {
    name: "vers_lt_send",
    label: "Send to Lieutenant",
    description: "Send a message to a lieutenant: 'prompt' (default) starts a task — queued as a follow-up when it is working —, 'steer' redirects the current task, 'followUp' queues after it.",
    parameters: object({ name: nameParam, message: str("The message"), mode: { type: "string", enum: ["prompt", "steer", "followUp"], description: "prompt (default), steer or followUp" } }, ["name", "message"]),
    execute: async (_id, params, signal, _update, ctx) => {
      const mode = params.mode === undefined ? undefined : params.mode === "prompt" || params.mode === "steer" || params.mode === "followUp" ? (params.mode as SendMode) : undefined
      if (params.mode !== undefined && mode === undefined) throw new Error("mode must be prompt, steer or followUp")
      const r = await withLieutenants(connect, ctx, signal, (lts) => lts.send(text(params, "name"), text(params, "message"), mode))
      return result(`Sent to ${r.name} (${r.mode})${r.auto ? " — chosen because of its state" : ""}.`, { name: r.name, mode: r.mode, auto: r.auto })
    }
  },
  {
    name: "vers_lt_read",
    label: "Read Lieutenant Output",
    description: "A lieutenant's latest output, and up to 20 earlier results with history.",
    parameters: object({ name: nameParam, tail: num("Characters from the end (default: all)"), history: num("Earlier results to include (default 0, at most 20)") }, ["name"]),
    execute: async (_id, params, signal, _update, ctx) => {
      const r = await withLieutenants(connect, ctx, signal, (lts) => lts.read(text(params, "name"), { tail: optNumber(params, "tail"), history: optNumber(params, "history") ?? 0 }))
      const parts = [...r.history.map((h, i) => `=== Response ${i + 1} ===\n${h}\n`), `=== Current (${r.state}) ===\n${r.last_output ?? "(no output yet)"}`]
      return result(parts.join("\n"), encodeRead(r))
    }
  },
  {
    name: "vers_lt_status",
    label: "Lieutenant Status",
    description: "Every lieutenant: state, placement, task count, role.",
    parameters: object({ name: str("Only this lieutenant") }),
    execute: async (_id, params, signal, _update, ctx) => {
      const list = await withLieutenants(connect, ctx, signal, (lts) => lts.status(optText(params, "name")))
      return result(list.length === 0 ? "No lieutenants." : list.map(ltText).join("\n"), { lieutenants: list.map((l) => encodeLt(l)) })
    }
  },
  {
    name: "vers_lt_pause",
    label: "Pause Lieutenant",
    description: "Pause a lieutenant: its VM is paused with memory and disk kept; a local one keeps its session and refuses messages until resumed.",
    parameters: object({ name: nameParam }, ["name"]),
    execute: async (_id, params, signal, _update, ctx) => {
      const l = await withLieutenants(connect, ctx, signal, (lts) => lts.pause(text(params, "name")))
      return result(`Lieutenant "${l.name}" paused. Use vers_lt_resume to wake it.`, encodeLt(l))
    }
  },
  {
    name: "vers_lt_resume",
    label: "Resume Lieutenant",
    description: "Resume a paused lieutenant (re-attached when its Pi is gone).",
    parameters: object({ name: nameParam }, ["name"]),
    execute: async (_id, params, signal, _update, ctx) => {
      const l = await withLieutenants(connect, ctx, signal, (lts) => lts.resume(text(params, "name")))
      return result(`Lieutenant "${l.name}" resumed (${l.state}).`, encodeLt(l))
    }
  },
  {
    name: "vers_lt_destroy",
    label: "Destroy Lieutenant",
    description: "Stop a lieutenant (or every one with name '*') and delete its VM.",
    parameters: object({ name: str("Lieutenant name, or * for all") }, ["name"]),
    execute: async (_id, params, signal, _update, ctx) => {
      const names = await withLieutenants(connect, ctx, signal, (lts) => lts.destroy(text(params, "name")))
      return result(names.length === 0 ? "No lieutenants." : `Destroyed ${names.join(", ")}.`, { destroyed: names })
    }
  },
  {
    name: "vers_lt_discover",
    label: "Discover Lieutenants",
    description: "Re-attach every lieutenant whose Pi is gone (after a troupe restart) and list them.",
    parameters: object({}),
    execute: async (_id, _params, signal, _update, ctx) => {
      const list = await withLieutenants(connect, ctx, signal, (lts) => lts.discover())
      return result(list.length === 0 ? "No lieutenants." : list.map(ltText).join("\n"), { lieutenants: list.map((l) => encodeLt(l)) })
    }
  }
]
