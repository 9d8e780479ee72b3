/**
 * Colour only for a terminal: `@effect/cli` renders help and its errors with ANSI escapes
 * whatever stdout is, so `troupe --help | less` showed raw codes. When stdout is not a TTY, or
 * `NO_COLOR` is set to anything but the empty string (no-color.org), the CLI's `Console`
 * strips escape sequences (`util.stripVTControlCharacters`) from what it prints.
 */
import type { Console } from "effect"
import { stripVTControlCharacters } from "node:util"

/** Whether output may carry colour: a TTY and no non-empty `NO_COLOR`. */
export const colourWanted = (isTTY: boolean | undefined, noColor: string | undefined): boolean =>
  isTTY === true && (noColor === undefined || noColor === "")

const plain = (args: ReadonlyArray<unknown>) => args.map((a) => (typeof a === "string" ? stripVTControlCharacters(a) : a))

/** `console` with every printed string stripped of escape sequences. */
export const colourless = (console: Console.Console): Console.Console => ({
  ...console,
  log: (...args) => console.log(...plain(args)),
  error: (...args) => console.error(...plain(args)),
  info: (...args) => console.info(...plain(args)),
  warn: (...args) => console.warn(...plain(args)),
  debug: (...args) => console.debug(...plain(args)),
  unsafe: {
    ...console.unsafe,
    log: (...args) => console.unsafe.log(...plain(args)),
    error: (...args) => console.unsafe.error(...plain(args)),
    info: (...args) => console.unsafe.info(...plain(args)),
    warn: (...args) => console.unsafe.warn(...plain(args)),
    debug: (...args) => console.unsafe.debug(...plain(args))
  }
})
