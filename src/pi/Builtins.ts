/**
 * Pi's own `bash`, `read`, `write` and `edit`, re-registered under their names (Pi's
 * "Overriding Built-in Tools") so that, while a VM is active (`vers_vm_use`), each runs with
 * the VM's backends (`./VmOperations.ts`) and the VM home as cwd; with no VM active they run
 * Pi's local definitions for the call's cwd. The definitions are Pi's
 * (`create*ToolDefinition`): result formats, truncation and edit rules are Pi's own, and Pi's
 * renderers are inherited. Pi's factories are passed in (`src/pi/index.ts` gives the package's,
 * which Pi supplies to extensions at run time), so this module imports Pi's types only.
 */
import type { BashToolOptions, EditToolOptions, ReadToolOptions, ToolDefinition, WriteToolOptions } from "@earendil-works/pi-coding-agent"
import type { VmOperations } from "./VmOperations.js"

/** The built-in tools routed to the active VM. */
export const routedNames = ["bash", "read", "write", "edit"] as const

/** Pi's context with another `cwd` (a proxy: Pi's context may keep private state, so methods stay bound to it). */
export const withCwd = <C extends object>(ctx: C, cwd: string): C =>
  new Proxy(ctx, {
    get: (target, key) => {
      if (key === "cwd") return cwd
      const value: unknown = Reflect.get(target, key, target)
      return typeof value === "function" ? (value as (...args: Array<unknown>) => unknown).bind(target) : value
    }
  })

// Pi's ToolDefinition is generic in its schema and details; the routed wrapper passes both through.
type AnyDefinition = ToolDefinition<any, any, any>

const route = (active: () => VmOperations | undefined, local: (cwd: string) => AnyDefinition, remote: (ops: VmOperations) => AnyDefinition): AnyDefinition => {
  const base = local(process.cwd())
  return {
    ...base,
    execute: (toolCallId, params, signal, onUpdate, ctx) => {
      const ops = active()
      return ops === undefined
        ? local(ctx.cwd).execute(toolCallId, params, signal, onUpdate, ctx)
        : remote(ops).execute(toolCallId, params, signal, onUpdate, withCwd(ctx, ops.cwd))
    }
  }
}

/** Pi's `create*ToolDefinition` factories. */
export interface BuiltinFactories {
  readonly createBashToolDefinition: (cwd: string, options?: BashToolOptions) => AnyDefinition
  readonly createReadToolDefinition: (cwd: string, options?: ReadToolOptions) => AnyDefinition
  readonly createWriteToolDefinition: (cwd: string, options?: WriteToolOptions) => AnyDefinition
  readonly createEditToolDefinition: (cwd: string, options?: EditToolOptions) => AnyDefinition
}

/**
 * The four routed definitions for `active` (the active VM's backends, or undefined: local).
 * Register them with `pi.registerTool` (they replace the built-ins of the same names).
 */
export const routedBuiltins = (pi: BuiltinFactories, active: () => VmOperations | undefined): ReadonlyArray<AnyDefinition> => [
  route(active, (cwd) => pi.createBashToolDefinition(cwd), (ops) => pi.createBashToolDefinition(ops.cwd, { operations: ops.bash })),
  route(active, (cwd) => pi.createReadToolDefinition(cwd), (ops) => pi.createReadToolDefinition(ops.cwd, { operations: ops.read })),
  route(active, (cwd) => pi.createWriteToolDefinition(cwd), (ops) => pi.createWriteToolDefinition(ops.cwd, { operations: ops.write })),
  route(active, (cwd) => pi.createEditToolDefinition(cwd), (ops) => pi.createEditToolDefinition(ops.cwd, { operations: ops.edit }))
]
