/**
 * Plan mode (pi-vers `plan-mode`; the shape of Pi's own plan-mode example): `/plan` switches the
 * agent to read-only exploration, `/plan off` restores exactly the tools that were active.
 *
 * While it is on:
 * - Pi's write-capable built-ins (`write`, `edit`, `bash`, `powershell`) are deactivated — also
 *   when a VM is active, where they are troupe's VM-routed overrides under the same names;
 * - troupe's tools that start, stop or change things (`spawn`, `message`, `register_tool`,
 *   `bg_start`, `bg_stop`, the mutating `vers_vm_*`, `vers_swarm_*` and `vers_lt_*`, every
 *   recipe tool) are deactivated; the read-only ones (`inspect`, `bg_list`, `bg_logs`,
 *   `vers_vms`, `vers_vm_use`, `vers_vm_local`, `vers_swarm_status|read`, `vers_lt_status|read`)
 *   stay;
 * - `read` stays, and Pi's `grep`, `find`, `ls` are activated when no VM is active (they read
 *   this machine only, so with a VM active they would look at the wrong files);
 * - other extensions' tools are left as they are;
 * - `plan_write` is active: it writes the plan file, `<session cwd>/.troupe/plan.md`, which is
 *   kept after `/plan off` (it is the hand-over to the implementation turn);
 * - a `tool_call` gate refuses any call of a deactivated tool (a tool re-activated behind plan
 *   mode's back, e.g. by another extension, still cannot write).
 */
import { FileSystem } from "@effect/platform"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { Effect } from "effect"
import { dirname, join } from "node:path"
import type { PiContext, PiHost, PiTool } from "./PiHost.js"
import { result } from "./Tools.js"

/** The tool that writes the plan file (active only in plan mode). */
export const planToolName = "plan_write"
/** The status key of the plan-mode indicator (`⏸ plan`). */
export const planStatusKey = "troupe-plan"
/** The plan file of a session: `<cwd>/.troupe/plan.md`. */
export const planFile = (cwd: string): string => join(cwd, ".troupe", "plan.md")

/** Pi built-ins that write (deactivated in plan mode). */
const writeBuiltins: ReadonlySet<string> = new Set(["write", "edit", "bash", "powershell"])
/** troupe tools that only read (kept in plan mode). */
const readOnlyTroupe: ReadonlySet<string> = new Set(["inspect", "bg_list", "bg_logs", "vers_vms", "vers_vm_use", "vers_vm_local", "vers_swarm_status", "vers_swarm_read", "vers_lt_status", "vers_lt_read", planToolName])
/** Pi's local read-only built-ins added in plan mode when no VM is active. */
const localReaders = ["grep", "find", "ls"] as const

/** What plan mode needs from the adapter. */
export interface PlanModeOptions {
  readonly host: PiHost
  /** Whether `name` is one of troupe's tools (core, VM or recipe tools). */
  readonly isTroupeTool: (name: string) => boolean
  /** Whether a VM is active (`vers_vm_use`). */
  readonly vmActive: () => boolean
}

/** Plan mode of one adapter. */
export interface PlanMode {
  readonly enabled: () => boolean
  /** `/plan [on|off]` (no argument toggles). */
  readonly command: (args: string, ctx: PiContext) => Promise<void>
  /**
   * The adapter's way to change active tools (recipe tools added or gone): applied at once when
   * plan mode is off; while it is on, recorded for `/plan off` (added tools stay off until then).
   */
  readonly activate: (added: ReadonlyArray<string>, gone: ReadonlyArray<string>) => void
  /** Applies plan mode's tool set again (after the VM-routed built-ins were registered). */
  readonly reapply: () => void
  /** The `tool_call` gate: a reason when `toolName` is refused, else undefined. */
  readonly guard: (toolName: string) => string | undefined
  /** Ends plan mode without notifying (session shutdown): the previous tools come back. True when it was on. */
  readonly reset: () => boolean
}

const writePlan = (path: string, content: string, append: boolean) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    yield* fs.makeDirectory(dirname(path), { recursive: true })
    if (append) {
      const old = yield* fs.readFileString(path).pipe(Effect.orElseSucceed(() => ""))
      yield* fs.writeFileString(path, old === "" || old.endsWith("\n") ? `${old}${content}` : `${old}\n${content}`)
    } else {
      yield* fs.writeFileString(path, content)
    }
    return (yield* fs.stat(path)).size
  }).pipe(
    Effect.mapError((e) => new Error(`could not write the plan file ${path}: ${e.message}`)),
    Effect.provide(NodeFileSystem.layer)
  )

/** `plan_write`: replaces (or appends to) the plan file of the session's cwd. */
const planTool: PiTool = {
  name: planToolName,
  label: "Write plan",
  description: "Plan mode: write the plan (markdown) to .troupe/plan.md under the session's directory. " +
    "It replaces the file unless append is true. The only write allowed while plan mode is on.",
  promptSnippet: "plan_write: plan mode is on (read-only exploration); write your plan to .troupe/plan.md with it",
  promptGuidelines: ["Plan mode is on: explore with read-only tools and record the plan with plan_write; do not try to change files until the user ends plan mode."],
  parameters: {
    type: "object",
    properties: {
      content: { type: "string", description: "The plan, markdown." },
      append: { type: "boolean", description: "Append to the plan instead of replacing it (default false)." }
    },
    required: ["content"],
    additionalProperties: false
  },
  execute: async (_id, params, _signal, _update, ctx) => {
    const content = params.content
    if (typeof content !== "string") throw new Error("content must be a string (the plan, markdown)")
    const path = planFile(ctx.cwd)
    const bytes = await Effect.runPromise(writePlan(path, content, params.append === true))
    return result(`Plan saved to ${path} (${bytes} bytes).`, { path, bytes: Number(bytes) })
  }
}

/** Builds plan mode over `options.host`; registers nothing until the first `/plan`. */
export const makePlanMode = (options: PlanModeOptions): PlanMode => {
  const { host } = options
  /** The tools active before `/plan`; undefined while plan mode is off. */
  let before: Array<string> | undefined
  let registered = false

  const blocked = (name: string) => writeBuiltins.has(name) || (options.isTroupeTool(name) && !readOnlyTroupe.has(name))

  /** Plan mode's tool set, from the tools active before it. */
  const planTools = (previous: ReadonlyArray<string>): Array<string> => {
    const all = new Set(host.getAllTools())
    const vm = options.vmActive()
    // With a VM active, the local-only readers would look at this machine's files.
    const kept = previous.filter((n) => !blocked(n) && !(vm && (localReaders as ReadonlyArray<string>).includes(n)))
    const readers = ["read", ...(vm ? [] : localReaders)].filter((n) => all.has(n))
    return [...new Set([...kept, ...readers, planToolName])]
  }

  const enable = (): boolean => {
    if (before !== undefined) return false
    if (!registered) {
      registered = true
      host.registerTool(planTool)
    }
    before = [...host.getActiveTools()].filter((n) => n !== planToolName)
    host.setActiveTools(planTools(before))
    return true
  }

  const disable = (): boolean => {
    if (before === undefined) return false
    const previous = before
    before = undefined
    host.setActiveTools(previous)
    return true
  }

  const command = async (args: string, ctx: PiContext) => {
    const arg = args.trim().toLowerCase()
    const path = planFile(ctx.cwd)
    const on = arg === "" ? before === undefined : arg === "on" ? true : arg === "off" ? false : undefined
    if (on === undefined) {
      ctx.notify("usage: /plan [on|off] — read-only exploration with a plan file; no argument toggles", "warning")
      return
    }
    if (on) {
      const changed = enable()
      ctx.notify(
        changed
          ? `troupe: plan mode on — write, edit, bash and troupe's run-starting tools are off${options.vmActive() ? " (also on the active VM)" : ""}; the plan goes to ${path} (plan_write). /plan off restores the tools.`
          : `troupe: plan mode is already on; the plan goes to ${path}. /plan off restores the tools.`,
        "info"
      )
      ctx.setStatus(planStatusKey, "⏸ plan")
    } else {
      const changed = disable()
      ctx.notify(changed ? `troupe: plan mode off — the previous tools are back; the plan stays in ${path}.` : "troupe: plan mode is not on.", "info")
      ctx.setStatus(planStatusKey, undefined)
    }
  }

  return {
    enabled: () => before !== undefined,
    command,
    activate: (added, gone) => {
      if (added.length === 0 && gone.length === 0) return
      if (before === undefined) {
        host.setActiveTools([...new Set([...host.getActiveTools().filter((n) => !gone.includes(n)), ...added])])
        return
      }
      before = [...new Set([...before.filter((n) => !gone.includes(n)), ...added])]
      host.setActiveTools(planTools(before))
    },
    reapply: () => {
      if (before !== undefined) host.setActiveTools(planTools(before))
    },
    guard: (toolName) =>
      before !== undefined && blocked(toolName)
        ? `Plan mode is on: ${toolName} is disabled during read-only exploration. Record the plan with ${planToolName}; the user ends plan mode with /plan off.`
        : undefined,
    reset: disable
  }
}
