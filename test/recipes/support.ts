/**
 * Shared helpers of the packaged-recipe tests: the built `troupe` binary (npm test builds
 * first) run against temp `TROUPE_HOME` / `TROUPE_RECIPES` dirs, and a stub `pi` on `PATH`.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs"
import { delimiter, join } from "node:path"
import { type Result, troupeBin, troupeBinPath } from "../support/exec.js"
import { scratch } from "../support/graph.js"

export const bin = troupeBinPath

export type { Result }

/** An environment that never touches the user's troupe home or recipe root. */
export const isolatedEnv = (extra: Record<string, string> = {}): Record<string, string> => ({
  ...(process.env as Record<string, string>),
  TROUPE_HOME: join(scratch("troupe-recipes-home-"), "home"),
  TROUPE_RECIPES: join(scratch("troupe-recipes-root-"), "recipes"),
  TROUPE_SESSION: "",
  TROUPE_TOKEN: "",
  NO_COLOR: "1",
  ...extra
})

/**
 * `troupe <args>` through the built binary, as a child process (never blocking the test
 * worker); also for concurrent invocations when not awaited at once.
 */
export const troupe = (args: ReadonlyArray<string>, options: { env?: Record<string, string>; cwd?: string } = {}): Promise<Result> =>
  troupeBin(args, { env: options.env ?? isolatedEnv(), cwd: options.cwd ?? process.cwd(), timeout: 60_000 })

/** One call the stub `pi` received. */
export interface PiCall {
  readonly argv: ReadonlyArray<string>
  /** The message arguments after `--`. */
  readonly messages: ReadonlyArray<string>
  readonly stdin: string
}

/**
 * A stub `pi` executable in a temp dir: it appends `{argv, messages, stdin}` of every call as a
 * JSON line to `log`, exits 7 when a message contains one of the `|`-separated substrings in
 * `PI_STUB_FAIL`, and otherwise prints `answer: <first 20 chars of the message> (model=…,
 * thinking=…)`, preceded by `synthesis of <n> done branches` when it got branch output on stdin.
 */
export const stubPi = (fail = "") => {
  const dir = scratch("troupe-stub-pi-")
  const log = join(dir, "calls.jsonl")
  const script = join(dir, "pi")
  writeFileSync(
    script,
    `#!${process.execPath}
const fs = require("node:fs")
const argv = process.argv.slice(2)
const sep = argv.indexOf("--")
const messages = sep >= 0 ? argv.slice(sep + 1) : []
let stdin = ""
try { stdin = fs.readFileSync(0, "utf8") } catch {}
fs.appendFileSync(process.env.PI_STUB_LOG, JSON.stringify({ argv, messages, stdin }) + "\\n")
const prompt = messages.join(" ")
const fail = (process.env.PI_STUB_FAIL || "").split("|").filter((s) => s !== "")
if (fail.some((s) => prompt.includes(s))) {
  process.stderr.write("stub pi: failing on purpose\\n")
  process.exit(7)
}
const flag = (name) => { const i = argv.indexOf(name); return i >= 0 && i < sep ? argv[i + 1] : undefined }
if (stdin !== "") process.stdout.write("synthesis of " + (stdin.match(/^--- branch: .* status: done ---$/gm) || []).length + " done branches\\n")
process.stdout.write("answer: " + prompt.slice(0, 20) + " (model=" + flag("--model") + ", thinking=" + flag("--thinking") + ")\\n")
`
  )
  chmodSync(script, 0o755)
  const env = isolatedEnv({ PATH: `${dir}${delimiter}${process.env.PATH ?? ""}`, PI_STUB_LOG: log, PI_STUB_FAIL: fail })
  const calls = (): Array<PiCall> =>
    existsSync(log)
      ? readFileSync(log, "utf8")
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as PiCall)
      : []
  return { env, calls, log }
}

/** The failed leaf's own stderr inside `troupe run`'s failure text (`Exit code N\n\nstderr:\n…\n\nstdout:\n…`). */
export const leafStderr = (stderr: string): string => /(?:^|\n)stderr:\n([\s\S]*?)\n\nstdout:\n/.exec(stderr)?.[1] ?? stderr
