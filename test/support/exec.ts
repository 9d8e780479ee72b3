/**
 * Running programs from tests without blocking the test worker's event loop. `spawnSync` /
 * `execFileSync` freeze the vitest worker for as long as the child runs; under load a chain of
 * such calls keeps it from reporting to the main process for over a minute ("Timeout calling
 * onTaskUpdate"). These helpers spawn the child and resolve when it has closed.
 */
import { spawn } from "node:child_process"

/** How a finished child ended: `code` is null when a signal ended it (as with `spawnSync`'s `status`). */
export interface Result {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv
  readonly cwd?: string
  /** Written to the child's stdin, which is then closed (stdin is always closed). */
  readonly input?: string
  /** Milliseconds before the child gets SIGTERM (then `code` is null, as with `spawnSync`). */
  readonly timeout?: number
}

/** Runs `file args` (no shell) and resolves with its exit code, signal and utf8 output; rejects only when it cannot start. */
export const run = (file: string, args: ReadonlyArray<string>, options: RunOptions = {}): Promise<Result> =>
  new Promise((resolve, reject) => {
    const child = spawn(file, [...args], {
      env: options.env ?? process.env,
      cwd: options.cwd ?? process.cwd(),
      ...(options.timeout === undefined ? {} : { timeout: options.timeout })
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s))
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s))
    child.stdin.on("error", () => {
      // the child may exit without reading its input
    })
    child.stdin.end(options.input ?? "")
    child.on("error", reject)
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }))
  })

/** Like `execFileSync(file, args, { encoding: "utf8" })`: stdout, or a rejection naming the command and its stderr when it does not exit 0. */
export const output = async (file: string, args: ReadonlyArray<string>, options: RunOptions = {}): Promise<string> => {
  const r = await run(file, args, options)
  if (r.code !== 0) throw new Error(`${file} ${args.join(" ")} exited ${r.code ?? r.signal}: ${r.stderr}`)
  return r.stdout
}

/** The built `troupe` binary (npm test builds first). */
export const troupeBinPath = `${process.cwd()}/dist/bin/troupe.js`

/** Runs the built `troupe` binary with `args` under the current Node. */
export const troupeBin = (args: ReadonlyArray<string>, options: RunOptions = {}): Promise<Result> =>
  run(process.execPath, [troupeBinPath, ...args], options)

/**
 * Polls `check` every 50 ms until it holds, for at most `timeoutMs` (default 30 s): a wait for a
 * positive signal with a bound. Resolves whether it held.
 */
export const pollUntil = async (check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<boolean> => {
  for (let waited = 0; waited <= timeoutMs; waited += 50) {
    if (await check()) return true
    await new Promise((r) => setTimeout(r, 50))
  }
  return false
}
