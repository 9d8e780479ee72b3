/**
 * Terminal input → the keys of the top view model (`./TopModel.ts`), with Pi's TUI library's
 * key parser (`@earendil-works/pi-tui` `matchesKey`: legacy, xterm and Kitty encodings). Shared
 * by `troupe top`'s full-screen view and Pi's `/troupe` inspector overlay.
 */
import { matchesKey } from "@earendil-works/pi-tui"
import type { Key } from "./TopModel.js"

const named: ReadonlyArray<readonly [Parameters<typeof matchesKey>[1], Key]> = [
  ["up", "up"],
  ["down", "down"],
  ["pageUp", "pageup"],
  ["pageDown", "pagedown"],
  ["home", "home"],
  ["end", "end"],
  ["enter", "enter"],
  ["escape", "escape"],
  ["tab", "tab"],
  ["backspace", "backspace"]
]

/** One chunk of terminal input as a key of top (`quit` for Ctrl+C / Ctrl+D; undefined: not one of them). */
export const decodeKey = (data: string): Key | "quit" | undefined => {
  if (matchesKey(data, "ctrl+c") || matchesKey(data, "ctrl+d")) return "quit"
  for (const [id, key] of named) if (matchesKey(data, id)) return key
  // A printable character (filter text, j/k/l/K/q/y, /).
  return data.length === 1 && data >= " " && data !== "\x7f" ? { char: data } : undefined
}
