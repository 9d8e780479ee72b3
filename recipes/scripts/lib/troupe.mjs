// Calling troupe from inside an actor process: the CLI of this package with the run's token
// (TROUPE_TOKEN / TROUPE_SOCKET / TROUPE_HOME are set by troupe for every leaf), so each call
// acts as the run — the runtime verifies who is speaking, not the text of `from`.
import { execFileSync } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

/** This package's built CLI (`dist/bin/troupe.js`, beside `recipes/`). */
export const troupeBin = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "dist", "bin", "troupe.js")

/** Runs `troupe <args>` and returns its stdout; throws with its stderr when it fails. */
export const troupe = (args) => {
  try {
    return execFileSync(process.execPath, [troupeBin, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
  } catch (e) {
    throw new Error(`troupe ${args.slice(0, 2).join(" ")} failed: ${(e.stderr ?? e.message).toString().trim()}`)
  }
}

/** Posts to a room as `from` (this run or one of its branches). */
export const post = (room, from, type, body, summary) =>
  JSON.parse(
    troupe(["message", `to=${room}`, `from=${from}`, `type=${type}`, ...(summary ? [`summary=${summary}`] : []), `body=${typeof body === "string" ? body : JSON.stringify(body)}`, "--json"])
  )

/** The room's whole timeline, oldest first. */
export const timeline = (room) =>
  troupe(["room", "tail", room, "--json"]).split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l))
