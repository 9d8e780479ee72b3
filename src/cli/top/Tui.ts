/**
 * The full-screen renderer of `troupe top` over Pi's TUI library (`@earendil-works/pi-tui`):
 * its alternate-screen renderer draws the lines Model.ts computes (differential, synchronized
 * output) and its key parser turns terminal input into top's keys. Pi's inspector overlay
 * renders through the same library, so the two surfaces can share components.
 *
 * Scoped: closing the scope stops the renderer and gives the terminal back (main screen,
 * cursor, cooked mode) without printing the last frame into the scrollback.
 */
import { ProcessTerminal, replaceControlCharacters, stripTerminalSequences, truncateToWidth, TuiAltScreen } from "@earendil-works/pi-tui"
import { Effect } from "effect"
import { decodeKey } from "../../view/Keys.js"
import type { Key } from "../../view/TopModel.js"

export interface ViewOptions {
  /** The frame for `width` × `height` cells: exactly `height` lines. */
  readonly render: (width: number, height: number) => ReadonlyArray<string>
  /** A decoded key, or `quit` for Ctrl+C / Ctrl+D. */
  readonly onKey: (key: Key | "quit") => void
}

export interface View {
  /** Draws again (coalesced by the library). */
  readonly requestRender: () => void
}

export { decodeKey }

/** Opens the full-screen view on this process's terminal until the scope closes. */
export const open = (options: ViewOptions): Effect.Effect<View, never, import("effect").Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const terminal = new ProcessTerminal()
      const tui = new TuiAltScreen(terminal, false, undefined, { mouse: false })
      // Run output (logs, inspect text) may hold escape sequences, tabs or wide characters: each
      // line is made plain and cut to the terminal's columns as the library measures them.
      const fit = (width: number) => (line: string) => truncateToWidth(replaceControlCharacters(stripTerminalSequences(line)), width, "…")
      tui.addChild({ render: (width) => options.render(width, terminal.rows).map(fit(width)), invalidate: () => {} })
      tui.addInputListener((data) => {
        const key = decodeKey(data)
        if (key !== undefined) options.onKey(key)
        return { consume: true }
      })
      tui.start()
      return { tui, view: { requestRender: () => tui.requestRender() } }
    }),
    ({ tui }) => Effect.sync(() => tui.stop({ preserveScreen: true }))
  ).pipe(Effect.map(({ view }) => view))
