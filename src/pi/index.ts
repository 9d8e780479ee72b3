/**
 * troupe's Pi extension (package export `troupe/pi`, `"pi": {"extensions": [...]}`): the only
 * module that knows Pi's own API. It turns Pi's `ExtensionAPI` / `ExtensionContext` into the
 * {@link PiHost} port and installs the adapter (`./Adapter.ts`). Pi's package is imported for
 * its types and, at run time, for its tool factories (`create*ToolDefinition`, used to route
 * `bash`/`read`/`write`/`edit` to an active VM; looked up on a namespace import, so a Pi without
 * them still loads the extension): Pi supplies its packages to extensions, and troupe declares
 * them as optional `peerDependencies: "*"`.
 *
 * Supports Pi 0.82 through 1.6 (tested on 0.82.1 and 1.6.0; typechecked against 1.6.0).
 * Install: `pi install npm:troupe` (or `pi install ./path/to/troupe`); see docs/pi.md.
 */
import * as PiAgent from "@earendil-works/pi-coding-agent"
import type { ExtensionAPI, ExtensionContext, ToolDefinition } from "@earendil-works/pi-coding-agent"
import { type AdapterOptions, install } from "./Adapter.js"
import { type BuiltinFactories, routedBuiltins } from "./Builtins.js"
import type { PiContext, PiHost, PiTool } from "./PiHost.js"

export { type AdapterOptions, followUp, install, statusText } from "./Adapter.js"
export { batchMessage, followUpBatchLimit, isUrgent } from "./FollowUpBatch.js"
export { planFile, planToolName } from "./PlanMode.js"
export type { PiComponent, PiContext, PiHost, PiMessage, PiMode, PiOverlayKit, PiTool, PiToolResult } from "./PiHost.js"

/** Pi's context as a {@link PiContext} (read lazily: a stale context throws only when used). */
export const contextOf = (ctx: ExtensionContext): PiContext => ({
  cwd: ctx.cwd,
  mode: ctx.mode,
  hasUI: ctx.hasUI,
  sessionId: () => ctx.sessionManager.getSessionId(),
  notify: (message, level) => ctx.ui.notify(message, level),
  setStatus: (key, text) => ctx.ui.setStatus(key, text),
  // Overlays need Pi's own terminal: only the TUI mode draws them (RPC mode answers `custom` with undefined at once).
  custom: ctx.mode === "tui" && ctx.hasUI && typeof ctx.ui.custom === "function"
    ? (factory) =>
      ctx.ui.custom<void>(
        (tui, _theme, _keybindings, done) => {
          const component = factory({ requestRender: () => tui.requestRender(), rows: () => tui.terminal.rows, done: () => done(undefined) })
          return {
            render: (width: number) => [...component.render(width)],
            handleInput: (data: string) => component.handleInput?.(data),
            invalidate: () => component.invalidate(),
            dispose: () => component.dispose?.()
          }
        },
        { overlay: true, overlayOptions: overlayPlacement }
      )
    : undefined,
  setWidget: ctx.hasUI && typeof ctx.ui.setWidget === "function"
    ? (key, lines, placement) => ctx.ui.setWidget(key, lines === undefined ? undefined : [...lines], placement === undefined ? undefined : { placement })
    : undefined
})

/** Where the `/troupe` inspector overlay sits: centred, 90% of the columns, at most 80% of the rows. */
const overlayPlacement = { anchor: "center", width: "90%", maxHeight: "80%" } as const

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

/**
 * Pi's own tool factories (values Pi supplies at run time), for the VM-routed built-ins; undefined
 * on a Pi without them (a namespace import, so their absence cannot fail the extension's load).
 */
const builtinFactories = ((): BuiltinFactories | undefined => {
  const agent = PiAgent as Partial<BuiltinFactories>
  const { createBashToolDefinition, createReadToolDefinition, createWriteToolDefinition, createEditToolDefinition } = agent
  return typeof createBashToolDefinition === "function" && typeof createReadToolDefinition === "function" &&
      typeof createWriteToolDefinition === "function" && typeof createEditToolDefinition === "function"
    ? { createBashToolDefinition, createReadToolDefinition, createWriteToolDefinition, createEditToolDefinition }
    : undefined
})()

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
  sendSteer: (message) =>
    pi.sendMessage({ customType: message.customType, content: message.content, display: message.display, details: message.details }, { deliverAs: "steer", triggerTurn: true }),
  onAgentStart: (handler) => {
    pi.on("agent_start", () => handler())
  },
  onAgentEnd: (handler) => {
    pi.on("agent_end", () => handler())
  },
  onToolCall: (handler) => {
    pi.on("tool_call", (event) => {
      const reason = handler(event.toolName)
      return reason === undefined ? undefined : { block: true, reason }
    })
  },
  getActiveTools: () => pi.getActiveTools(),
  getAllTools: () => pi.getAllTools().map((t) => t.name),
  setActiveTools: (names) => pi.setActiveTools([...names]),
  routeBuiltins: builtinFactories === undefined
    ? undefined
    : (active) => {
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
