/**
 * `PiHost`: the small port the Pi adapter talks to instead of Pi's own API. Only
 * `src/pi/index.ts` imports Pi's types; it turns Pi's `ExtensionAPI` and `ExtensionContext`
 * into these shapes. Tests drive the adapter with a fake host (`troupe/testing`'s `FakePiHost`).
 *
 * The shapes mirror Pi 0.82 through 1.6 (`@earendil-works/pi-coding-agent`; the members used
 * did not change over that range, see docs/pi.md "Supported Pi versions"): tools take a JSON
 * Schema for parameters and return `{content: [{type: "text", text}], details}`; a thrown
 * `Error` becomes a failed tool result. troupe's one component (the `/troupe` overlay) returns
 * a fresh array from `render`, which fits both 0.x's `string[]` and 1.x's `readonly string[]`.
 */

import type { VmOperations } from "./VmOperations.js"

/** A JSON Schema object (Pi validates tool arguments against it; TypeBox is not required). */
export type JsonSchema = Readonly<Record<string, unknown>>

/** What a tool returns: model-facing text plus JSON-safe `details` for rendering and state. */
export interface PiToolResult {
  readonly content: ReadonlyArray<{ readonly type: "text"; readonly text: string }>
  readonly details: unknown
}

/** Streams a partial result while a tool runs (Pi's `onUpdate`). */
export type PiUpdate = (partial: PiToolResult) => void

/** Pi's run mode: `tui` (interactive), `rpc`, `json`, `print` (`pi -p`). */
export type PiMode = "tui" | "rpc" | "json" | "print"

/**
 * The per-call context: Pi's `ExtensionContext`, reduced to what troupe uses. A context goes
 * stale when its session shuts down; every method may then throw, and the adapter never calls
 * one after `session_shutdown`.
 */
export interface PiContext {
  /** Working directory of the session (absolute). */
  readonly cwd: string
  readonly mode: PiMode
  /** Whether dialogs/notifications reach a user (TUI and RPC). */
  readonly hasUI: boolean
  /** The session id (`ctx.sessionManager.getSessionId()`): the owner of this session's runs. */
  readonly sessionId: () => string
  readonly notify: (message: string, level: "info" | "warning" | "error") => void
  /** `ctx.ui.setStatus(key, text)`; `undefined` clears it. */
  readonly setStatus: (key: string, text: string | undefined) => void
  /**
   * `ctx.ui.custom(factory, {overlay: true})`: shows a component with keyboard focus over the
   * conversation until it calls `kit.done()`; resolves then. Undefined when Pi cannot show one
   * (not the TUI mode: print, JSON, RPC; or a Pi without `custom`).
   */
  readonly custom?: ((factory: (kit: PiOverlayKit) => PiComponent) => Promise<void>) | undefined
  /**
   * `ctx.ui.setWidget(key, lines, {placement})`: a few lines above (default) or below the
   * editor; `undefined` clears it. Undefined without a UI (print and JSON modes).
   */
  readonly setWidget?: ((key: string, lines: ReadonlyArray<string> | undefined, placement?: "aboveEditor" | "belowEditor") => void) | undefined
}

/** A component Pi draws (pi-tui's `Component`): lines for a width, and the keys while it has focus. */
export interface PiComponent {
  /** The lines for `width` columns (each at most `width` cells wide). */
  readonly render: (width: number) => ReadonlyArray<string>
  /** Raw terminal input (decode with pi-tui's `matchesKey`). */
  readonly handleInput?: ((data: string) => void) | undefined
  readonly invalidate: () => void
  /** Called once the component is taken down. */
  readonly dispose?: (() => void) | undefined
}

/** What an overlay's component gets from Pi. */
export interface PiOverlayKit {
  /** Draws again (coalesced by Pi). */
  readonly requestRender: () => void
  /** The terminal's rows now. */
  readonly rows: () => number
  /** Takes the overlay down (`ctx.ui.custom` resolves). */
  readonly done: () => void
}

/** A tool as the adapter defines it (Pi's `ToolDefinition` without renderers). */
export interface PiTool {
  readonly name: string
  readonly label: string
  readonly description: string
  readonly promptSnippet?: string | undefined
  readonly promptGuidelines?: ReadonlyArray<string> | undefined
  readonly parameters: JsonSchema
  readonly execute: (
    toolCallId: string,
    params: Record<string, unknown>,
    signal: AbortSignal | undefined,
    onUpdate: PiUpdate | undefined,
    ctx: PiContext
  ) => Promise<PiToolResult>
}

/** A custom message in the conversation (Pi's `sendMessage` payload). */
export interface PiMessage {
  readonly customType: string
  readonly content: string
  readonly display: boolean
  readonly details: unknown
}

/** The extension API, reduced to what troupe uses. */
export interface PiHost {
  /** Registers (or re-registers, replacing) a tool the model can call. */
  readonly registerTool: (tool: PiTool) => void
  /** Registers a `/name` command. */
  readonly registerCommand: (name: string, description: string, handler: (args: string, ctx: PiContext) => Promise<void>) => void
  readonly onSessionStart: (handler: (ctx: PiContext) => Promise<void>) => void
  readonly onSessionShutdown: (handler: (ctx: PiContext) => Promise<void>) => void
  /** `pi.sendMessage(message, {deliverAs: "followUp", triggerTurn: true})`. */
  readonly sendFollowUp: (message: PiMessage) => void
  /**
   * `pi.sendMessage(message, {deliverAs: "steer", triggerTurn: true})`: urgent messages, delivered
   * before the model's next call. Optional: without it they go out as follow-ups.
   */
  readonly sendSteer?: ((message: PiMessage) => void) | undefined
  /** Pi's `agent_start`: the agent is busy (follow-ups are collected meanwhile). Optional. */
  readonly onAgentStart?: ((handler: () => void) => void) | undefined
  /** Pi's `agent_end`: the agent's run ended (collected follow-ups go out as one). Optional. */
  readonly onAgentEnd?: ((handler: () => void) => void) | undefined
  /**
   * Pi's `tool_call` gate: the handler returns a reason to block the call (Pi then gives the
   * model a failed tool result with that reason), or undefined to let it run. Optional: without
   * it plan mode relies on deactivating tools only.
   */
  readonly onToolCall?: ((handler: (toolName: string) => string | undefined) => void) | undefined
  /** Names of the tools that are active (offered to the model). */
  readonly getActiveTools: () => ReadonlyArray<string>
  /** Names of every registered tool (any extension's). */
  readonly getAllTools: () => ReadonlyArray<string>
  readonly setActiveTools: (names: ReadonlyArray<string>) => void
  /**
   * Re-registers Pi's `bash`, `read`, `write` and `edit` so they run with `active()`'s backends
   * while it returns a VM, locally otherwise (`./Builtins.ts`). Called once, on the first
   * `vers_vm_use`. Optional: a host without it keeps its built-ins local.
   */
  readonly routeBuiltins?: ((active: () => VmOperations | undefined) => void) | undefined
}
