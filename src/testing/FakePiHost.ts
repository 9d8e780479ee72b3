/**
 * A fake Pi for testing code built on troupe's Pi adapter (`troupe/testing`): a {@link PiHost}
 * that records what the adapter registers and sends, and drives sessions like Pi does —
 * `startSession` fires `session_start`, `shutdown` fires `session_shutdown` and then makes the
 * old context stale (every context method throws, as Pi's do after a session is replaced).
 *
 * ```ts
 * const pi = new FakePiHost()
 * install(pi, { actors: (session) => Troupe.layer({ home, session }) })
 * const ctx = await pi.startSession("s1")
 * const spawned = await pi.call("spawn", { template: "sleep 1" })
 * // … later: pi.followUps[0].details.run === spawned.details.address
 * ```
 */
import type { PiComponent, PiContext, PiHost, PiMessage, PiMode, PiOverlayKit, PiTool, PiToolResult, PiUpdate } from "../pi/PiHost.js"

/** One notification shown to the user. */
export interface FakeNotification {
  readonly message: string
  readonly level: "info" | "warning" | "error"
}

/** An overlay shown with `ctx.custom` (TUI mode only, as in Pi). */
export interface FakeOverlay {
  readonly component: PiComponent
  /** The component's lines at `width` columns (default 120). */
  readonly render: (width?: number) => ReadonlyArray<string>
  /** Terminal input, raw: `"\r"` Enter, `"\x1b"` Esc, `"\x1b[B"` ↓, `"j"`. */
  readonly press: (data: string) => void
  /** How many times the component asked to be drawn again. */
  readonly renders: () => number
  /** True once the component called `done()`. */
  readonly closed: () => boolean
}

export class FakePiHost implements PiHost {
  /** Every tool by name (the last registration of a name wins, as in Pi). */
  readonly tools = new Map<string, PiTool>()
  /** `PiHost.routeBuiltins`: unset (built-ins stay local) unless a test sets it. */
  routeBuiltins: PiHost["routeBuiltins"] = undefined
  /** How many times each tool name was registered. */
  readonly registrations = new Map<string, number>()
  readonly commands = new Map<string, { description: string; handler: (args: string, ctx: PiContext) => Promise<void> }>()
  /** Follow-up messages in order. */
  readonly followUps: Array<PiMessage> = []
  /** Steering messages (`deliverAs: "steer"`) in order. */
  readonly steers: Array<PiMessage> = []
  /** Calls the `tool_call` gate refused: tool name and reason. */
  readonly blocked: Array<{ tool: string; reason: string }> = []
  readonly notifications: Array<FakeNotification> = []
  /** Every status update in order (`undefined` = cleared). */
  readonly statuses: Array<{ key: string; text: string | undefined }> = []
  /** Tools from other extensions (count as registered, never replaced). */
  readonly foreignTools: Array<string> = []
  active: Array<string> = []
  /** The overlay open now (`ctx.custom`), undefined when none is. */
  overlay: FakeOverlay | undefined = undefined
  /** Every overlay shown, in order. */
  readonly overlays: Array<FakeOverlay> = []
  /** Rows of the fake terminal the overlay sees. */
  rows = 40
  /** The widgets shown now, by key (`ctx.setWidget`; a cleared one is removed). */
  readonly widgets = new Map<string, ReadonlyArray<string>>()
  /** Every widget update in order (`undefined` = cleared). */
  readonly widgetUpdates: Array<{ key: string; lines: ReadonlyArray<string> | undefined }> = []
  private startHandlers: Array<(ctx: PiContext) => Promise<void>> = []
  private shutdownHandlers: Array<(ctx: PiContext) => Promise<void>> = []
  private agentStartHandlers: Array<() => void> = []
  private agentEndHandlers: Array<() => void> = []
  private toolCallHandlers: Array<(toolName: string) => string | undefined> = []
  private current: { ctx: PiContext; stale: { value: boolean } } | undefined

  registerTool = (tool: PiTool): void => {
    const fresh = !this.tools.has(tool.name)
    this.tools.set(tool.name, tool)
    this.registrations.set(tool.name, (this.registrations.get(tool.name) ?? 0) + 1)
    // Pi activates tools registered while loading; later ones only through setActiveTools.
    if (fresh && this.current === undefined) this.active.push(tool.name)
  }
  registerCommand = (name: string, description: string, handler: (args: string, ctx: PiContext) => Promise<void>): void => {
    this.commands.set(name, { description, handler })
  }
  onSessionStart = (handler: (ctx: PiContext) => Promise<void>): void => {
    this.startHandlers.push(handler)
  }
  onSessionShutdown = (handler: (ctx: PiContext) => Promise<void>): void => {
    this.shutdownHandlers.push(handler)
  }
  sendFollowUp = (message: PiMessage): void => {
    if (this.current?.stale.value !== false) throw new Error("sendFollowUp after session shutdown")
    this.followUps.push(message)
  }
  sendSteer = (message: PiMessage): void => {
    if (this.current?.stale.value !== false) throw new Error("sendSteer after session shutdown")
    this.steers.push(message)
  }
  onAgentStart = (handler: () => void): void => {
    this.agentStartHandlers.push(handler)
  }
  onAgentEnd = (handler: () => void): void => {
    this.agentEndHandlers.push(handler)
  }
  onToolCall = (handler: (toolName: string) => string | undefined): void => {
    this.toolCallHandlers.push(handler)
  }
  /** Fires `agent_start` (the agent is busy with a turn). */
  agentStart(): void {
    for (const h of this.agentStartHandlers) h()
  }
  /** Fires `agent_end` (the agent's run ended; it is idle). */
  agentEnd(): void {
    for (const h of this.agentEndHandlers) h()
  }
  getActiveTools = (): ReadonlyArray<string> => [...this.active]
  getAllTools = (): ReadonlyArray<string> => [...this.foreignTools, ...this.tools.keys()]
  setActiveTools = (names: ReadonlyArray<string>): void => {
    this.active = names.filter((n) => this.tools.has(n) || this.foreignTools.includes(n))
  }

  /** A context for `session`; it throws from every method once `stale.value` is true. */
  context(session: string, options: { readonly mode?: PiMode; readonly cwd?: string } = {}, stale = { value: false }): PiContext {
    const live = <A>(f: () => A): A => {
      if (stale.value) throw new Error("This extension context is stale (the session was shut down)")
      return f()
    }
    return {
      cwd: options.cwd ?? process.cwd(),
      mode: options.mode ?? "rpc",
      hasUI: (options.mode ?? "rpc") !== "print",
      sessionId: () => live(() => session),
      notify: (message, level) => live(() => void this.notifications.push({ message, level })),
      setStatus: (key, text) => live(() => void this.statuses.push({ key, text })),
      // As Pi: overlays only in the TUI mode, widgets wherever there is a UI.
      custom: options.mode === "tui" ? (factory) => live(() => this.showOverlay(factory)) : undefined,
      setWidget: (options.mode ?? "rpc") === "print" ? undefined : (key, lines) =>
        live(() => {
          this.widgetUpdates.push({ key, lines })
          if (lines === undefined) this.widgets.delete(key)
          else this.widgets.set(key, [...lines])
        })
    }
  }

  private showOverlay(factory: (kit: PiOverlayKit) => PiComponent): Promise<void> {
    return new Promise((resolve) => {
      let renders = 0
      let closed = false
      const kit: PiOverlayKit = {
        requestRender: () => void renders++,
        rows: () => this.rows,
        done: () => {
          if (closed) return
          closed = true
          component.dispose?.()
          if (this.overlay === overlay) this.overlay = undefined
          resolve()
        }
      }
      const component = factory(kit)
      const overlay: FakeOverlay = {
        component,
        render: (width = 120) => component.render(width),
        press: (data) => component.handleInput?.(data),
        renders: () => renders,
        closed: () => closed
      }
      this.overlay = overlay
      this.overlays.push(overlay)
    })
  }

  /** Fires `session_start` for `session` and returns its context. */
  async startSession(session: string, options: { readonly mode?: PiMode; readonly cwd?: string } = {}): Promise<PiContext> {
    const stale = { value: false }
    const ctx = this.context(session, options, stale)
    this.current = { ctx, stale }
    for (const h of this.startHandlers) await h(ctx)
    return ctx
  }

  /** Fires `session_shutdown` with the current context, then makes that context stale. */
  async shutdown(): Promise<void> {
    const current = this.current
    if (current === undefined) return
    for (const h of this.shutdownHandlers) await h(current.ctx)
    current.stale.value = true
  }

  /** Fires `session_shutdown` again with an already stale context (Pi may do so on exit). */
  async shutdownAgain(): Promise<void> {
    const current = this.current
    if (current === undefined) return
    for (const h of this.shutdownHandlers) await h(current.ctx)
  }

  /** Calls tool `name` as the model would, in the current session (through the `tool_call` gate). */
  call(name: string, params: Record<string, unknown>, options: { readonly signal?: AbortSignal; readonly onUpdate?: PiUpdate; readonly ctx?: PiContext } = {}): Promise<PiToolResult> {
    const tool = this.tools.get(name)
    if (tool === undefined) return Promise.reject(new Error(`no tool ${name}`))
    const ctx = options.ctx ?? this.current?.ctx
    if (ctx === undefined) return Promise.reject(new Error("no session"))
    // Pi's tool_call gate: a blocked call fails with the handler's reason and never runs.
    for (const h of this.toolCallHandlers) {
      const reason = h(name)
      if (reason !== undefined) {
        this.blocked.push({ tool: name, reason })
        return Promise.reject(new Error(reason))
      }
    }
    return tool.execute(`call-${name}`, params, options.signal, options.onUpdate, ctx)
  }

  /** Runs `/name args` in the current session. */
  async command(name: string, args = ""): Promise<void> {
    const command = this.commands.get(name)
    if (command === undefined) throw new Error(`no command /${name}`)
    if (this.current === undefined) throw new Error("no session")
    await command.handler(args, this.current.ctx)
  }
}
