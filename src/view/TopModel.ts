/**
 * `troupe top`'s view model, pure: a snapshot of the daemon (runs, rooms, inboxes, VMs) plus
 * the operator's state (selection, filter, open panel) → the lines of one frame, and a key →
 * the next state plus the one action the program must perform (kill, inspect, follow logs,
 * quit). No I/O and no clock: `now` (ms) comes in with the snapshot, so tests drive it with
 * plain values. The renderer (`Tui.ts`) only draws these lines; the plain and `--once`
 * outputs print them.
 *
 * Corresponds to `pm2 monit` / `k9s`: one list with the selected row marked `>`, a panel
 * under it for inspection or logs.
 */
import { isTerminal, type RunInfo } from "../domain/Run.js"
import { teamLines, type TeamMember } from "./Team.js"

/** CPU and memory of one run's process groups (local host only): CPU in percent of one core, RSS in bytes. */
export interface Usage {
  readonly cpuPct: number
  readonly rssBytes: number
}

/** One room (`room:<run>`): its branches (roster) and its latest posts, newest last. */
export interface RoomSummary {
  readonly room: string
  readonly members: ReadonlyArray<{ readonly address: string; readonly status: string }>
  readonly latest: ReadonlyArray<{ readonly from: string; readonly type: string; readonly summary: string }>
}

/** One inbox with records waiting (`queued`: enqueued, not yet delivered). */
export interface InboxSummary {
  readonly address: string
  readonly queued: number
}

/** One VM the daemon's Vers account holds. */
export interface VmSummary {
  readonly id: string
  readonly state: string
  /** The owning run or session from troupe's ledger, empty when troupe did not create it. */
  readonly owner: string
}

/** What the daemon looks like at `at` (ms since the epoch). */
export interface Snapshot {
  readonly at: number
  readonly runs: ReadonlyArray<RunInfo>
  readonly usage: ReadonlyMap<string, Usage>
  readonly rooms: ReadonlyArray<RoomSummary>
  readonly inboxes: ReadonlyArray<InboxSummary>
  readonly vms: ReadonlyArray<VmSummary>
  /** Who is watching: `session <id>` or `all sessions`. */
  readonly scope: string
  /** Swarm workers and lieutenants with their status (`./Team.ts`), when the surface read them. */
  readonly team?: ReadonlyArray<TeamMember> | undefined
}

/** The views Enter cycles through (`inspect run:<id> <view>`); Tab moves to the next. */
export const inspectViews = ["status", "tail", "messages", "files"] as const
export type InspectViewName = (typeof inspectViews)[number]

/** The panel under the list. */
export type Panel =
  | { readonly _tag: "none" }
  | { readonly _tag: "inspect"; readonly run: string; readonly view: InspectViewName; readonly text: string }
  | { readonly _tag: "logs"; readonly run: string; readonly lines: ReadonlyArray<string> }

/** The keyboard mode: browsing, typing a filter, or confirming a kill. */
export type Mode =
  | { readonly _tag: "browse" }
  | { readonly _tag: "filter"; readonly draft: string }
  | { readonly _tag: "confirm-kill"; readonly run: string }

export interface TopState {
  readonly snapshot: Snapshot
  /** Id of the selected run (kept across refreshes, so rows may move under it). */
  readonly selected: string | undefined
  /** Substring filter over id, state, recipe and owner; empty = every run. */
  readonly filter: string
  readonly mode: Mode
  readonly panel: Panel
  /** One line of feedback (`killed run:x`, an error sentence). */
  readonly notice: string
}

/** What the program does after a key. */
export type Action =
  | { readonly _tag: "none" }
  | { readonly _tag: "quit" }
  | { readonly _tag: "kill"; readonly run: string }
  /** Show an inspect view in the panel (following logs, if any, stops). */
  | { readonly _tag: "inspect"; readonly run: string; readonly view: InspectViewName }
  | { readonly _tag: "logs"; readonly run: string }
  /** Stop following logs (the panel closed). */
  | { readonly _tag: "stop-logs" }

/** The keys top understands, decoded from terminal input by the renderer. */
export type Key =
  | "up" | "down" | "pageup" | "pagedown" | "home" | "end" | "enter" | "escape" | "tab" | "backspace"
  | { readonly char: string }

/** Logs panel: lines kept (the last ones). */
export const logLinesKept = 500

export const emptySnapshot = (at: number, scope: string): Snapshot => ({ at, runs: [], usage: new Map(), rooms: [], inboxes: [], vms: [], scope })

export const initialState = (snapshot: Snapshot): TopState => ({
  snapshot,
  selected: undefined,
  filter: "",
  mode: { _tag: "browse" },
  panel: { _tag: "none" },
  notice: ""
})

const none: Action = { _tag: "none" }

/** Active runs first (newest first), then ended ones (most recently ended first). */
const order = (a: RunInfo, b: RunInfo) => {
  const ta = isTerminal(a.state) ? 1 : 0
  const tb = isTerminal(b.state) ? 1 : 0
  if (ta !== tb) return ta - tb
  return ta === 0 ? b.created_at - a.created_at : (b.ended_at ?? b.updated_at) - (a.ended_at ?? a.updated_at)
}

/** The runs the list shows, in order, after the filter. */
export const visibleRuns = (state: TopState): ReadonlyArray<RunInfo> => {
  const f = state.filter.toLowerCase()
  const runs = f === ""
    ? state.snapshot.runs
    : state.snapshot.runs.filter((r) => [r.id, r.state, r.recipe, r.owner].some((s) => s.toLowerCase().includes(f)))
  return [...runs].sort(order)
}

/** Index of the selected run in `runs` (0 when none is selected or it is gone). */
const selectedIndex = (state: TopState, runs: ReadonlyArray<RunInfo>) => {
  const i = runs.findIndex((r) => r.id === state.selected)
  return i < 0 ? 0 : i
}

/** The selected run, if the list has any. */
export const selectedRun = (state: TopState): RunInfo | undefined => {
  const runs = visibleRuns(state)
  return runs[selectedIndex(state, runs)]
}

/** Replaces the snapshot (a refresh); selection, filter and panels stay. */
export const withSnapshot = (state: TopState, snapshot: Snapshot): TopState => ({ ...state, snapshot })

/** Appends followed log text to the logs panel of `run` (other panels ignore it). */
export const withLogText = (state: TopState, run: string, text: string): TopState => {
  if (state.panel._tag !== "logs" || state.panel.run !== run) return state
  const lines = [...state.panel.lines]
  const parts = text.split("\n")
  // Text continues the last line until a newline ends it.
  if (lines.length > 0 && parts.length > 0) lines[lines.length - 1] = lines[lines.length - 1] + parts.shift()!
  lines.push(...parts)
  return { ...state, panel: { ...state.panel, lines: lines.slice(-logLinesKept) } }
}

/** Shows the answer of an inspect action. */
export const withInspectText = (state: TopState, run: string, view: InspectViewName, text: string): TopState =>
  state.panel._tag === "inspect" && state.panel.run === run && state.panel.view === view
    ? { ...state, panel: { ...state.panel, text } }
    : state

export const withNotice = (state: TopState, notice: string): TopState => ({ ...state, notice })

const move = (state: TopState, delta: number | "first" | "last"): TopState => {
  const runs = visibleRuns(state)
  if (runs.length === 0) return state
  const at = selectedIndex(state, runs)
  const next = delta === "first" ? 0 : delta === "last" ? runs.length - 1 : Math.max(0, Math.min(runs.length - 1, at + delta))
  return { ...state, selected: runs[next]!.id }
}

/** How many rows PageUp/PageDown move. */
const page = 10

/**
 * The next state and the action for `key`. Browse: ↑/↓ or k/j select, PgUp/PgDn/Home/End,
 * Enter inspects (again: the next view; Tab too), `l` follows logs, `K` asks to kill, `/`
 * filters, Esc closes the panel, `q` quits. Filter: characters edit, Enter applies, Esc clears.
 * Confirm: `y` kills, anything else cancels.
 */
export const update = (state: TopState, key: Key): readonly [TopState, Action] => {
  const mode = state.mode
  if (mode._tag === "filter") {
    if (key === "enter") return [{ ...state, filter: mode.draft, mode: { _tag: "browse" } }, none]
    if (key === "escape") return [{ ...state, filter: "", mode: { _tag: "browse" } }, none]
    if (key === "backspace") return [{ ...state, mode: { _tag: "filter", draft: mode.draft.slice(0, -1) } }, none]
    if (typeof key === "object") return [{ ...state, mode: { _tag: "filter", draft: mode.draft + key.char } }, none]
    return [state, none]
  }
  if (mode._tag === "confirm-kill") {
    const browse = { ...state, mode: { _tag: "browse" } as const }
    if (typeof key === "object" && key.char === "y") return [{ ...browse, notice: `killing run:${mode.run}…` }, { _tag: "kill", run: mode.run }]
    return [{ ...browse, notice: "kill cancelled" }, none]
  }
  const run = selectedRun(state)
  if (key === "up") return [move(state, -1), none]
  if (key === "down") return [move(state, 1), none]
  if (key === "pageup") return [move(state, -page), none]
  if (key === "pagedown") return [move(state, page), none]
  if (key === "home") return [move(state, "first"), none]
  if (key === "end") return [move(state, "last"), none]
  if (key === "escape") {
    const stop: Action = state.panel._tag === "logs" ? { _tag: "stop-logs" } : none
    return [{ ...state, panel: { _tag: "none" }, notice: "" }, stop]
  }
  if (key === "enter" || key === "tab") {
    if (run === undefined) return [state, none]
    const current = state.panel._tag === "inspect" && state.panel.run === run.id ? state.panel.view : undefined
    const view = current === undefined ? "status" : inspectViews[(inspectViews.indexOf(current) + 1) % inspectViews.length]!
    // The program stops following logs when it inspects (the panel is replaced).
    return [{ ...state, selected: run.id, panel: { _tag: "inspect", run: run.id, view, text: "…" } }, { _tag: "inspect", run: run.id, view }]
  }
  if (typeof key !== "object") return [state, none]
  switch (key.char) {
    case "k":
      return [move(state, -1), none]
    case "j":
      return [move(state, 1), none]
    case "q":
      return [state, { _tag: "quit" }]
    case "/":
      return [{ ...state, mode: { _tag: "filter", draft: state.filter } }, none]
    case "K":
      if (run === undefined) return [state, none]
      if (isTerminal(run.state)) return [{ ...state, notice: `run:${run.id} has already ended (${run.state})` }, none]
      return [{ ...state, selected: run.id, mode: { _tag: "confirm-kill", run: run.id } }, none]
    case "l":
      if (run === undefined) return [state, none]
      return [{ ...state, selected: run.id, panel: { _tag: "logs", run: run.id, lines: [""] } }, { _tag: "logs", run: run.id }]
    default:
      return [state, none]
  }
}

/** A duration in the largest fitting unit: `850ms`, `12s`, `5m`, `3h`, `2d`. */
export const formatAge = (ms: number): string =>
  ms < 1000 ? `${Math.max(0, Math.round(ms))}ms` : ms < 60_000 ? `${Math.floor(ms / 1000)}s` : ms < 3_600_000 ? `${Math.floor(ms / 60_000)}m` : ms < 86_400_000 ? `${Math.floor(ms / 3_600_000)}h` : `${Math.floor(ms / 86_400_000)}d`

/** Bytes as `512B`, `3.1K`, `42M`, `1.2G` (1024-based). */
export const formatBytes = (n: number): string => {
  const units = ["B", "K", "M", "G", "T"]
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return u === 0 ? `${v}B` : `${v < 10 ? v.toFixed(1) : Math.round(v)}${units[u]}`
}

/**
 * Activity glyphs of a run: one `▶` per active branch (leaf or step running now), `▷` for a
 * live run with none active, nothing for an ended one — the ambient triangles of the Pi status.
 */
export const activity = (r: RunInfo): string =>
  isTerminal(r.state) ? "" : r.progress.active > 0 ? "▶".repeat(Math.min(r.progress.active, 8)) + (r.progress.active > 8 ? `+${r.progress.active - 8}` : "") : "▷"

const pad = (s: string, n: number) => (s.length >= n ? s.slice(0, n) : s + " ".repeat(n - s.length))
const padLeft = (s: string, n: number) => (s.length >= n ? s.slice(0, n) : " ".repeat(n - s.length) + s)

/** Header of the run table. */
export const runHeader = `  ${pad("RUN", 24)} ${pad("STATE", 9)} ${padLeft("AGE", 5)} ${padLeft("CPU%", 6)} ${padLeft("RSS", 6)} ${padLeft("RST", 3)} ${pad("RECIPE", 14)} ${pad("OWNER", 10)} ACTIVITY`

/** One run row (`selected` marks it with `>`). */
export const runRow = (r: RunInfo, snapshot: Snapshot, selected: boolean): string => {
  const u = snapshot.usage.get(r.id)
  const age = formatAge((r.ended_at ?? snapshot.at) - r.created_at)
  const cpu = u === undefined ? "-" : u.cpuPct.toFixed(1)
  const rss = u === undefined ? "-" : formatBytes(u.rssBytes)
  const state = r.state === "failed" && r.code !== null ? `failed:${r.code}` : r.state
  return `${selected ? ">" : " "} ${pad(r.id, 24)} ${pad(state, 9)} ${padLeft(age, 5)} ${padLeft(cpu, 6)} ${padLeft(rss, 6)} ${padLeft(String(r.restarts), 3)} ${pad(r.recipe, 14)} ${pad(r.owner, 10)} ${activity(r)}`
}

const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`

const clip = (line: string, width: number) => (line.length > width ? line.slice(0, Math.max(0, width - 1)) + "…" : line)

const roomLines = (rooms: ReadonlyArray<RoomSummary>): Array<string> =>
  rooms.flatMap((room) => {
    const branches = room.members
      .filter((m) => m.address.startsWith("branch:"))
      .map((m) => `${m.status === "present" ? "▶" : "▷"}${m.address.slice(m.address.indexOf("/") + 1)}`)
    const last = room.latest[room.latest.length - 1]
    return [
      `  ${room.room}  ${room.members.length} members${branches.length > 0 ? `  branches ${branches.join(" ")}` : ""}`,
      ...room.latest.map((p) => `    ${p.from} ${p.type}${p.summary === "" ? "" : `: ${p.summary}`}`),
      ...(last === undefined ? ["    (no posts yet)"] : [])
    ]
  })

/** The key help of the bottom line, by mode. */
const help = (state: TopState): string => {
  switch (state.mode._tag) {
    case "filter":
      return `filter: ${state.mode.draft}▏ (Enter apply · Esc clear)`
    case "confirm-kill":
      return `kill run:${state.mode.run}? y = kill, any other key = cancel`
    default:
      return "↑↓/jk select · Enter inspect (again: next view) · l logs · K kill · / filter · Esc close · q quit"
  }
}

export interface FrameOptions {
  /** Columns; lines longer are cut with `…`. */
  readonly width: number
  /** Rows; `undefined` = as many as the content needs (plain output, `--once`). */
  readonly height?: number | undefined
  /** Show the key help line (interactive only). */
  readonly keys?: boolean | undefined
  /** The first words of the summary line (default `troupe top`; Pi's overlay: `troupe`). */
  readonly title?: string | undefined
}

/**
 * The lines of one frame: a summary line, the run table (scrolled to keep the selection in
 * view when `height` is given), then rooms, inboxes with queued records and VMs when there are
 * any, then the open panel and the key help. With `height`, exactly `height` lines.
 */
export const frame = (state: TopState, options: FrameOptions): ReadonlyArray<string> => {
  const s = state.snapshot
  const runs = visibleRuns(state)
  const active = s.runs.filter((r) => !isTerminal(r.state)).length
  const agents = s.runs.filter((r) => r.recipe === "agent").length
  const time = new Date(s.at).toISOString().slice(11, 19)
  const summary = `${options.title ?? "troupe top"} · ${s.scope} · ${count(s.runs.length, "run")} (${active} active${agents > 0 ? `, ${count(agents, "agent")}` : ""}) · ${count(s.rooms.length, "room")} · ${count(s.vms.length, "VM")} · ${time} UTC` +
    (state.filter === "" ? "" : ` · filter "${state.filter}" (${runs.length} shown)`)

  const extra: Array<string> = []
  if (s.rooms.length > 0) extra.push("ROOMS", ...roomLines(s.rooms))
  const waiting = s.inboxes.filter((i) => i.queued > 0)
  if (waiting.length > 0) extra.push("INBOXES", ...waiting.map((i) => `  ${i.address}  queued=${i.queued}`))
  const team = teamLines(s.team ?? [])
  if (team.length > 0) extra.push("SWARMS / LIEUTENANTS", ...team.map((l) => `  ${l}`))
  if (s.vms.length > 0) extra.push("VMS", ...s.vms.map((v) => `  vm:${v.id}  ${v.state}${v.owner === "" ? "" : `  owner=${v.owner}`}`))

  const panel: Array<string> = []
  if (state.panel._tag === "inspect") {
    panel.push(`── inspect run:${state.panel.run} ${state.panel.view} (Enter/Tab: next view · Esc close) ──`, ...state.panel.text.replace(/^\n/, "").split("\n"))
  } else if (state.panel._tag === "logs") {
    panel.push(`── logs run:${state.panel.run} (following · Esc close) ──`, ...state.panel.lines)
  }
  const bottom = [...(state.notice === "" ? [] : [state.notice]), ...(options.keys === true ? [help(state)] : [])]

  const selected = selectedIndex(state, runs)
  const rowOf = (r: RunInfo, i: number) => runRow(r, s, options.keys === true && i === selected)
  const emptyList = runs.length === 0 ? [state.filter === "" ? "  (no runs)" : "  (no run matches the filter)"] : []

  if (options.height === undefined) {
    return [summary, runHeader, ...runs.map(rowOf), ...emptyList, ...extra, ...panel, ...bottom].map((l) => clip(l, options.width))
  }

  // Fixed height: the panel gets up to half the screen (its last lines: logs follow); the
  // sections under the table what the table does not need, at least a third of the rest.
  const h = Math.max(options.height, 6)
  const avail = h - 2 - bottom.length
  const panelRows = Math.min(panel.length, Math.floor(avail / 2))
  const rest = avail - panelRows
  const extraRows = Math.min(extra.length, Math.max(Math.floor(rest / 3), rest - Math.max(1, runs.length)))
  const tableRows = Math.max(1, rest - extraRows)
  const first = Math.max(0, Math.min(selected - Math.floor(tableRows / 2), runs.length - tableRows))
  const table = runs.length === 0 ? emptyList : runs.slice(first, first + tableRows).map((r, i) => rowOf(r, first + i))
  const shownPanel = panelRows === 0 ? [] : state.panel._tag === "logs" ? [panel[0]!, ...panel.slice(1).slice(-(panelRows - 1))] : panel.slice(0, panelRows)
  const lines = [summary, runHeader, ...table, ...extra.slice(0, extraRows), ...shownPanel]
  while (lines.length < h - bottom.length) lines.push("")
  return [...lines.slice(0, h - bottom.length), ...bottom].map((l) => clip(l, options.width))
}
