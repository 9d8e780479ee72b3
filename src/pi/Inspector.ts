/**
 * The `/troupe` inspector overlay: `troupe top`'s view model (`../view/TopModel.ts`) as a Pi
 * component (pi-tui `Component`, shown with `ctx.ui.custom(…, {overlay: true})`). The same
 * list of runs, rooms, inboxes, swarms and lieutenants; ↑↓/jk select, Enter inspects
 * (again/Tab: the next of status, tail, messages, files), `l` shows the log tail, `K` kills
 * after `y`, `/` filters, Esc closes the open panel and then the overlay, `q` or Ctrl+C closes it.
 *
 * The component holds the state; what it asks for (inspect text, a kill, a log tail) goes
 * through {@link InspectorIo}, whose answers arrive later and draw again. Corresponds to
 * pi-actors' inspector overlay.
 */
import { replaceControlCharacters, stripTerminalSequences, truncateToWidth, visibleWidth } from "@earendil-works/pi-tui"
import { decodeKey } from "../view/Keys.js"
import {
  type Action,
  frame,
  initialState,
  type InspectViewName,
  type Key,
  logLinesKept,
  type Snapshot,
  type TopState,
  update,
  withInspectText,
  withNotice,
  withSnapshot
} from "../view/TopModel.js"
import type { PiComponent, PiOverlayKit } from "./PiHost.js"

/** What the inspector asks of the session. Every promise resolves (failures as text). */
export interface InspectorIo {
  /** The text of `inspect run:<run> <view>` (or the error's sentence). */
  readonly inspect: (run: string, view: InspectViewName) => Promise<string>
  /** Kills the run; the notice to show (`run:x killed`, or why not). */
  readonly kill: (run: string) => Promise<string>
  /** The run's stdout log tail (or the error's sentence). */
  readonly logs: (run: string) => Promise<string>
}

/** The overlay's component plus what the adapter feeds it. */
export interface Inspector extends PiComponent {
  /** A newer snapshot (selection, filter and panel stay); a logs panel reads its tail again. */
  readonly refresh: (snapshot: Snapshot) => void
  readonly state: () => TopState
  /** True once Esc/q closed it. */
  readonly closed: () => boolean
}

/** Title of the overlay's summary line. */
const title = "troupe"
/** Share of the terminal's rows the overlay uses (Pi caps it the same way: `maxHeight`). */
const heightShare = 0.8
const minHeight = 8

/** A plain line cut to `width` cells and padded to it, so the conversation does not show through. */
const fit = (width: number) => (line: string) => {
  const cut = truncateToWidth(replaceControlCharacters(stripTerminalSequences(line)), width, "…")
  return cut + " ".repeat(Math.max(0, width - visibleWidth(cut)))
}

/** Builds the inspector over a first snapshot; `kit` comes from Pi (`custom`'s factory). */
export const makeInspector = (snapshot: Snapshot, io: InspectorIo, kit: PiOverlayKit): Inspector => {
  let state = initialState(snapshot)
  let closed = false

  const set = (next: TopState) => {
    state = next
    if (!closed) kit.requestRender()
  }
  const close = () => {
    if (closed) return
    closed = true
    kit.done()
  }
  const showLogs = (run: string, text: string) => {
    if (state.panel._tag !== "logs" || state.panel.run !== run) return
    set({ ...state, panel: { ...state.panel, lines: text.split("\n").slice(-logLinesKept) } })
  }

  const perform = (action: Action): void => {
    switch (action._tag) {
      case "quit":
        return close()
      case "inspect":
        void io.inspect(action.run, action.view).then((text) => set(withInspectText(state, action.run, action.view, text)))
        return
      case "kill":
        void io.kill(action.run).then((notice) => set(withNotice(state, notice)))
        return
      case "logs":
        void io.logs(action.run).then((text) => showLogs(action.run, text))
        return
      case "stop-logs":
      case "none":
        return
    }
  }

  const handleInput = (data: string) => {
    if (closed) return
    const key: Key | "quit" | undefined = decodeKey(data)
    if (key === undefined) return
    if (key === "quit") return close()
    // Esc with nothing open closes the overlay; otherwise it closes the panel first.
    if (key === "escape" && state.mode._tag === "browse" && state.panel._tag === "none") return close()
    const [next, action] = update(state, key)
    set(next)
    perform(action)
  }

  return {
    render: (width) => {
      const height = Math.max(minHeight, Math.floor(kit.rows() * heightShare))
      return frame(state, { width, height, keys: true, title }).map(fit(width))
    },
    handleInput,
    invalidate: () => {},
    dispose: () => {
      closed = true
    },
    refresh: (next) => {
      if (closed) return
      set(withSnapshot(state, next))
      if (state.panel._tag === "logs") {
        const run = state.panel.run
        void io.logs(run).then((text) => showLogs(run, text))
      }
    },
    state: () => state,
    closed: () => closed
  }
}
