/**
 * `PiRpc.spawnLocal`: `pi --mode rpc --no-session …` as a local child process in its own
 * process group, its stdio as a `PiRpcDuplex`, killed with its group when the scope closes.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { Effect, Option, Stream } from "effect"
import { PiRpcClosed } from "../../domain/PiRpc.js"
import { connect, type PiRpcDuplex, type PiRpcOptions, type PiRpcSession } from "./Session.js"

/** Options of `PiRpc.spawnLocal`. */
export interface LocalPiOptions extends PiRpcOptions {
  /** Pi's executable; or, with `node`, Pi's CLI script (`bin.pi` of `@earendil-works/pi-coding-agent`). */
  readonly pi: string
  /** A Node executable to run `pi` with (for a script, or a Pi that needs a newer Node than troupe's). */
  readonly node?: string | undefined
  /** Arguments after `--mode rpc --no-session` (e.g. `--provider`, `--model`). */
  readonly args?: ReadonlyArray<string> | undefined
  /** Working directory (default: this process's). */
  readonly cwd?: string | undefined
  /** Pi's whole environment (default: this process's); undefined values are left out. */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
  /** After stdin is closed and SIGTERM sent, how long Pi may take to exit before its group is SIGKILLed (ms, default 5,000). */
  readonly graceMs?: number | undefined
}

/** A session over a local Pi child: the session plus the child's pid (also its process group id). */
export interface LocalPiSession extends PiRpcSession {
  readonly pid: number
}

/** How long an exit status is awaited after stdout ends, to name it in `PiRpcClosed` (ms). */
const exitStatusWait = "1 second"

const exitOf = (child: ChildProcess) =>
  Effect.async<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.succeed({ code: child.exitCode, signal: child.signalCode }))
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => resume(Effect.succeed({ code, signal }))
    child.once("exit", onExit)
    return Effect.sync(() => child.off("exit", onExit))
  })

const killGroup = (pid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(-pid, signal)
  } catch {
    // The group is gone already.
  }
}

const definedEntries = (env: Readonly<Record<string, string | undefined>>) =>
  Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined))

/**
 * Starts Pi in RPC mode and connects to it, valid for the scope. Closing the scope closes Pi's
 * stdin and sends SIGTERM (Pi's orderly shutdown, rpc.md "Shutdown"), waits up to `graceMs`,
 * then SIGKILLs Pi's whole process group (tools it started included), and waits for the exit.
 * When Pi exits, the session ends with `PiRpcClosed` naming the exit code or signal and Pi's
 * last stderr line.
 * @fails PiRpcClosed when the process cannot be started.
 */
export const spawnLocal = (options: LocalPiOptions) =>
  Effect.gen(function* () {
    const graceMs = options.graceMs ?? 5000
    const argv = [...(options.node === undefined ? [] : [options.pi]), "--mode", "rpc", "--no-session", ...(options.args ?? [])]
    const command = options.node ?? options.pi
    const child = yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          spawn(command, argv, {
            stdio: ["pipe", "pipe", "pipe"],
            detached: true,
            ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
            ...(options.env === undefined ? {} : { env: definedEntries(options.env) })
          }),
        catch: (error) => new PiRpcClosed({ message: `cannot start Pi (${options.pi}): ${error instanceof Error ? error.message : String(error)}` })
      }),
      (child) =>
        Effect.gen(function* () {
          if (child.pid === undefined) return
          const pid = child.pid
          child.stdin?.end()
          killGroup(pid, "SIGTERM")
          // Interruptible: finalizers are not, and a timeout must interrupt the wait it races.
          const ended = yield* Effect.timeoutOption(Effect.interruptible(exitOf(child)), graceMs)
          // SIGKILL the group even after a clean exit: a tool Pi started may have outlived it.
          killGroup(pid, "SIGKILL")
          if (Option.isNone(ended)) yield* exitOf(child)
        })
    )
    const started = yield* Effect.async<number, PiRpcClosed>((resume) => {
      if (child.pid !== undefined) return resume(Effect.succeed(child.pid))
      const onError = (error: Error) => resume(Effect.fail(new PiRpcClosed({ message: `cannot start Pi (${options.pi}): ${error.message}` })))
      child.once("error", onError)
      child.once("spawn", () => resume(Effect.succeed(child.pid!)))
      return Effect.sync(() => child.off("error", onError))
    })
    child.on("error", () => undefined)
    child.stdin!.on("error", () => undefined)
    let stderrTail = ""
    child.stderr!.on("data", (chunk: Buffer) => {
      stderrTail = (stderrTail + chunk.toString("utf8")).slice(-4000)
    })
    // Backpressure: stdout is paused until the session has taken the chunk (Pi honours it, rpc.md).
    const data = Stream.async<Uint8Array>((emit) => {
      const stdout = child.stdout!
      stdout.on("data", (chunk: Buffer) => {
        stdout.pause()
        void emit.single(chunk).then(() => stdout.resume())
      })
      stdout.once("close", () => void emit.end())
      stdout.once("error", () => void emit.end())
    }, 16)
    const ending = Effect.gen(function* () {
      const status = yield* Effect.timeoutOption(exitOf(child), exitStatusWait)
      const how = Option.match(status, {
        onNone: () => "closed its output",
        onSome: ({ code, signal }) => (signal !== null ? `was killed by ${signal}` : `exited with code ${code}`)
      })
      const last = stderrTail.trim().split("\n").slice(-1)[0]?.trim()
      return yield* Effect.fail(
        new PiRpcClosed({ message: `Pi (pid ${started}) ${how}${last ? `: ${last}` : ""}`, ...(last ? { stderr: last } : {}) })
      )
    })
    const duplex: PiRpcDuplex<PiRpcClosed> = {
      input: Stream.concat(data, Stream.fromEffect(ending)),
      write: (bytes) =>
        Effect.async<void, PiRpcClosed>((resume) => {
          const stdin = child.stdin
          if (stdin === null || !stdin.writable) return resume(Effect.fail(new PiRpcClosed({ message: "Pi's input is closed" })))
          // Honour stdin backpressure: resume once the bytes are handed to the OS.
          stdin.write(bytes, (error) => resume(error ? Effect.fail(new PiRpcClosed({ message: `cannot write to Pi: ${error.message}` })) : Effect.void))
        })
    }
    const session = yield* connect(duplex, options)
    const local: LocalPiSession = { ...session, pid: started }
    return local
  })
