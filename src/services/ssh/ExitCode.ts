/** The exit code a shell reports for a remote command's end (`RemoteExit`). */
import { constants } from "node:os"
import type { RemoteExit } from "./Exec.js"

/** The code, or 128 + the signal's number (`SIGKILL` or `KILL` → 137); no status at all → 1. */
export const exitCodeOf = (exit: RemoteExit): number => {
  if (exit.signal !== null) {
    const name = (exit.signal.startsWith("SIG") ? exit.signal : `SIG${exit.signal}`) as keyof typeof constants.signals
    return 128 + (constants.signals[name] ?? 0)
  }
  return exit.code ?? 1
}
