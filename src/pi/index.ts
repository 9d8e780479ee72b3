/**
 * troupe's Pi extension (package export `troupe/pi`, `"pi": {"extensions": [...]}`): the only
 * module that knows Pi's own API. It turns Pi's `ExtensionAPI` / `ExtensionContext` into the
 * {@link PiHost} port and installs the adapter (`./Adapter.ts`). Pi's types are imported as
 * types only: at run time Pi supplies its packages, and troupe declares them as optional
 * `peerDependencies: "*"`.
 *
 * Supports Pi 0.82 through 1.6 (tested on 0.82.1 and 1.6.0; typechecked against 1.6.0).
 * Install: `pi install npm:troupe` (or `pi install ./path/to/troupe`); see docs/pi.md.
 */
import {
  createBashToolDefinition,
  createEditToolDefinition,
  createReadToolDefinition,
  createWriteToolDefinition,
  type ExtensionAPI,
  type ExtensionContext,
  type ToolDefinition
} from "@earendil-works/pi-coding-agent"
import { type AdapterOptions, install } from "./Adapter.js"
import { type BuiltinFactories, routedBuiltins } from "./Builtins.js"
import type { PiContext, PiHost, PiTool } from "./PiHost.js"

export { type AdapterOptions, followUp, install, statusText } from "./Adapter.js"
export type { PiContext, PiHost, PiMessage, PiMode, PiTool, PiToolResult } from "./PiHost.js"

/** Pi's context as a {@link PiContext} (read lazily: a stale context throws only when used). */
export const contextOf = (ctx: ExtensionContext): PiContext => ({
  cwd: ctx.cwd,
  mode: ctx.mode,
  hasUI: ctx.hasUI,
  sessionId: () => ctx.sessionManager.getSessionId(),
  notify: (message, level) => ctx.ui.notify(message, level),
  setStatus: (key, text) => ctx.ui.setStatus(key, text)
})

const toolOf = (tool: PiTool): ToolDefinition =>
  ({
    name: tool.name,
    label: tool.label,
    description: tool.description,
    ...(tool.promptSnippet === undefined ? {} : { promptSnippet: tool.promptSnippet }),
    ...(tool.promptGuidelines === undefined ? {} : { promptGuidelines: [...tool.promptGuidelines] }),
    // Plain JSON Schema: Pi validates it without TypeBox's symbols.
    parameters: tool.parameters as unknown as ToolDefinition["parameters"],
    execute: (toolCallId, params, signal, onUpdate, ctx) =>
      tool.execute(toolCallId, params as Record<string, unknown>, signal, onUpdate === undefined ? undefined : (partial) => onUpdate(partial as never), contextOf(ctx)) as never
  }) as ToolDefinition

/** Pi's own tool factories (values Pi supplies at run time), for the VM-routed built-ins. */
const builtinFactories: BuiltinFactories = { createBashToolDefinition, createReadToolDefinition, createWriteToolDefinition, createEditToolDefinition }

/** The {@link PiHost} over Pi's extension API. */
export const hostOf = (pi: ExtensionAPI): PiHost => ({
  registerTool: (tool) => pi.registerTool(toolOf(tool)),
  registerCommand: (name, description, handler) =>
    pi.registerCommand(name, { description, handler: (args, ctx) => handler(typeof args === "string" ? args : String(args ?? ""), contextOf(ctx)) }),
  onSessionStart: (handler) => {
    pi.on("session_start", (_event, ctx) => handler(contextOf(ctx)))
  },
  onSessionShutdown: (handler) => {
    pi.on("session_shutdown", (_event, ctx) => handler(contextOf(ctx)))
  },
  sendFollowUp: (message) =>
    pi.sendMessage({ customType: message.customType, content: message.content, display: message.display, details: message.details }, { deliverAs: "followUp", triggerTurn: true }),
  getActiveTools: () => pi.getActiveTools(),
  getAllTools: () => pi.getAllTools().map((t) => t.name),
  setActiveTools: (names) => pi.setActiveTools([...names]),
  routeBuiltins: (active) => {
    for (const tool of routedBuiltins(builtinFactories, active)) pi.registerTool(tool)
  }
})

/**
 * The extension factory Pi calls: registers troupe's tools, commands and session handlers.
 * It starts nothing; the daemon connection opens at `session_start`.
 */
export const troupeExtension = (pi: ExtensionAPI, options: AdapterOptions = {}): void => install(hostOf(pi), options)

export default function troupe(pi: ExtensionAPI): void {
  troupeExtension(pi)
}
