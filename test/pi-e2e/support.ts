/**
 * Launching a real Pi for the end-to-end tests: a scratch world per test (HOME, Pi agent dir,
 * TROUPE_HOME, recipe root, working dir), `pi --mode rpc` as a JSONL client, and `pi -p`.
 * `scripts/test-pi.mjs` provides TROUPE_PI_NODE (Node 22) and TROUPE_PI_CLI (Pi's CLI entry).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const repo = process.cwd()
export const troupeBin = join(repo, "dist/bin/troupe.js")
export const fauxExtension = join(repo, "test/pi-e2e/faux-extension.ts")
export const troupeExtension = join(repo, "dist/src/pi/index.js")

const required = (name: string): string => {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set: run these tests with \`npm run test:pi\``)
  return value
}

export interface World {
  readonly dir: string
  readonly home: string
  readonly agentDir: string
  readonly troupeHome: string
  readonly recipes: string
  readonly cwd: string
  readonly env: Record<string, string>
}

/**
 * A fresh scratch world. Pi gets a minimal environment: no API key, no network (offline, no
 * version check, no telemetry), HOME and its agent dir in the scratch folder; troupe gets its own
 * TROUPE_HOME and recipe root, and starts its daemon with this runner's Node 20 (TROUPE_NODE),
 * which better-sqlite3 in node_modules is built for.
 */
export const makeWorld = (prefix: string): World => {
  const dir = mkdtempSync(join(tmpdir(), `troupe-pi-e2e-${prefix}-`))
  const sub = (name: string) => {
    const path = join(dir, name)
    mkdirSync(path, { recursive: true })
    return path
  }
  const home = sub("home")
  const agentDir = sub("home/.pi/agent")
  const troupeHome = join(dir, "troupe")
  const recipes = sub("recipes")
  const cwd = sub("work")
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    TMPDIR: process.env.TMPDIR ?? tmpdir(),
    NO_COLOR: "1",
    PI_CODING_AGENT_DIR: agentDir,
    PI_OFFLINE: "1",
    PI_SKIP_VERSION_CHECK: "1",
    PI_TELEMETRY: "0",
    TROUPE_HOME: troupeHome,
    TROUPE_RECIPES: recipes,
    TROUPE_NODE: process.execPath
  }
  return { dir, home, agentDir, troupeHome, recipes, cwd, env }
}

/**
 * Pi's argv after the Node binary: the CLI, the mode flags, nothing discovered, our extensions,
 * the faux model. `packages: true` keeps the extensions of installed Pi packages (`pi install`).
 */
export const piArgs = (mode: ReadonlyArray<string>, extensions: ReadonlyArray<string>, packages = false): Array<string> => [
  required("TROUPE_PI_CLI"),
  ...mode,
  "--no-session",
  "--offline",
  ...(packages ? [] : ["--no-extensions"]),
  "--no-skills",
  "--no-prompt-templates",
  "--no-context-files",
  ...extensions.flatMap((e) => ["-e", e]),
  "--model",
  "faux/faux-1"
]

/** The `E2E:` prompt the faux model follows (see faux-extension.ts). */
export const script = (
  steps: ReadonlyArray<ReadonlyArray<{ name: string; arguments: Record<string, unknown> }>>,
  report: ReadonlyArray<"results" | "tools"> = ["results"]
) => `E2E:${JSON.stringify({ steps, report })}`

/** A decoded JSONL record from Pi (responses, events, messages): read loosely, asserted on in tests. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = Record<string, any>

/** A `pi --mode rpc` process: commands in, responses and events out (LF-framed JSONL). */
export class PiRpc {
  readonly records: Array<Json> = []
  stderr = ""
  private buffer = ""
  private nextId = 0
  private listeners = new Set<() => void>()
  private exited: Promise<number | null>

  private constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding("utf8")
    child.stdout!.on("data", (chunk: string) => {
      this.buffer += chunk
      let nl: number
      while ((nl = this.buffer.indexOf("\n")) >= 0) {
        const line = this.buffer.slice(0, nl).replace(/\r$/, "")
        this.buffer = this.buffer.slice(nl + 1)
        if (line.trim() === "") continue
        this.records.push(JSON.parse(line) as Json)
      }
      for (const l of [...this.listeners]) l()
    })
    child.stderr!.setEncoding("utf8")
    child.stderr!.on("data", (chunk: string) => {
      this.stderr += chunk
    })
    this.exited = new Promise((resolve) => child.on("exit", (code) => {
      resolve(code)
      for (const l of [...this.listeners]) l()
    }))
  }

  static start(world: World, extensions: ReadonlyArray<string>): PiRpc {
    const child = spawn(required("TROUPE_PI_NODE"), piArgs(["--mode", "rpc"], extensions), {
      cwd: world.cwd,
      env: world.env,
      stdio: ["pipe", "pipe", "pipe"]
    })
    return new PiRpc(child)
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /** Waits (up to `timeoutMs`, a guard against hangs) for the first record from `from` on that satisfies `predicate`. */
  waitFor(what: string, predicate: (r: Json) => boolean, from = 0, timeoutMs = 60_000): Promise<Json> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.records.slice(from).find(predicate)
        if (hit !== undefined) {
          done()
          resolve(hit)
        } else if (!this.alive) {
          done()
          reject(new Error(`pi exited (${this.child.exitCode ?? this.child.signalCode}) before ${what}\nstderr: ${this.stderr}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`no ${what} within ${timeoutMs} ms\nstderr: ${this.stderr}\nlast records: ${this.records.slice(-5).map((r) => JSON.stringify(r).slice(0, 400)).join("\n")}`))
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        this.listeners.delete(check)
      }
      this.listeners.add(check)
      check()
    })
  }

  /** Sends a command and resolves with its response record. */
  async command(command: Json): Promise<Json> {
    const id = `c${++this.nextId}`
    this.child.stdin!.write(`${JSON.stringify({ ...command, id })}\n`)
    const response = await this.waitFor(`response to ${command.type}`, (r) => r.type === "response" && r.id === id)
    if (response.success !== true) throw new Error(`${command.type} failed: ${JSON.stringify(response)}`)
    return response
  }

  /** Sends a prompt and resolves with the `agent_settled` that ends the work it started. */
  async prompt(message: string): Promise<Json> {
    const from = this.records.length
    await this.command({ type: "prompt", message })
    return this.waitFor("agent_settled after the prompt", (r) => r.type === "agent_settled", from)
  }

  /** Closes stdin (Pi's orderly shutdown: `session_shutdown` runs) and resolves with the exit code. */
  close(): Promise<number | null> {
    this.child.stdin!.end()
    return this.exited
  }

  /** Kills a Pi left running by a failed test (this test's own child, by pid). */
  kill(): void {
    if (this.alive) this.child.kill("SIGKILL")
  }
}

/** Runs `pi <args>` (e.g. `install <source>`) to completion. */
export const pi = (world: World, env: Record<string, string>, ...args: ReadonlyArray<string>) => {
  const r = spawnSync(required("TROUPE_PI_NODE"), [required("TROUPE_PI_CLI"), ...args], {
    cwd: world.cwd,
    env: { ...world.env, ...env },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 90_000
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** Runs `pi -p <prompt>` to completion (`options.env` overrides the world's environment). */
export const piPrint = (
  world: World,
  extensions: ReadonlyArray<string>,
  prompt: string,
  options: { readonly env?: Record<string, string>; readonly packages?: boolean } = {}
) => {
  const r = spawnSync(required("TROUPE_PI_NODE"), piArgs(["-p", prompt], extensions, options.packages), {
    cwd: world.cwd,
    env: { ...world.env, ...options.env },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 90_000
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** The troupe CLI (Node 20) against the world's TROUPE_HOME. */
export const troupe = (world: World, ...args: ReadonlyArray<string>) => {
  const r = spawnSync(process.execPath, [troupeBin, ...args], { cwd: world.cwd, env: world.env, encoding: "utf8" })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** Pids of live (non-zombie) processes whose argv is exactly `argv`. */
export const pidsWithArgv = (argv: ReadonlyArray<string>): Array<number> => {
  const want = argv.join("\0")
  const out: Array<number> = []
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "latin1").replace(/\0$/, "")
      if (cmdline !== want) continue
      const stat = readFileSync(`/proc/${entry}/stat`, "latin1")
      if (stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z") out.push(Number(entry))
    } catch {
      // gone, or not readable
    }
  }
  return out
}

/** Polls `check` every 100 ms until it returns true or `timeoutMs` passes (a hang guard, not a speed check). */
export const eventually = async (check: () => boolean, timeoutMs = 30_000): Promise<boolean> => {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (check()) return true
    await new Promise((r) => setTimeout(r, 100))
  }
  return check()
}

/** Text of an RPC message record's content (string or text parts). */
export const messageText = (message: Json): string =>
  typeof message.content === "string"
    ? message.content
    : (message.content as Array<Json>).flatMap((c) => (c.type === "text" ? [c.text as string] : [])).join("")
