/**
 * troupe's exec broker: one dependency-free Node program that runs commands for a client over
 * its own stdin/stdout, speaking the multiplexed frame protocol of docs/broker.md. Bundled by
 * scripts/build.mjs into `dist/broker/exec-broker.mjs`, which imports only `node:` builtins so it
 * can be copied to a machine where only Node exists (a Vers VM, over one SSH channel).
 *
 * Usage: `node exec-broker.mjs [--grace-ms N] [--max-commands N] [--window-bytes N]`.
 * Exits 0 after the client closed the connection (every command swept first), 2 after a fatal
 * protocol error (sent as a `fatal` frame first).
 *
 * A standalone program, not part of the Effect runtime: it reads its own environment and timers
 * directly (the runtime's Config/Clock rules apply to src/ code that runs inside troupe).
 */
import * as fs from "node:fs"
import * as net from "node:net"
import type { Writable } from "node:stream"
import { Command, type Link, type SpawnRequest } from "./Command.js"
import {
  defaultMaxCommands,
  defaultWindowBytes,
  encodeFrame,
  FrameDecoder,
  maxChunkBytes,
  maxFrameBytes,
  protocolVersion,
  type RawFrame
} from "./FrameCodec.js"
import { sweep } from "./Sweep.js"
import { resolveArgv } from "./Resolve.js"

/** The broker's own version string, reported in `hello`. */
const brokerVersion = "troupe-exec-broker/1"

/** Output buffered towards the client above which every stream pauses: 1 MiB. */
const congestionBytes = 1024 * 1024

const option = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(name)
  const value = at < 0 ? NaN : Number(process.argv[at + 1])
  return Number.isInteger(value) && value >= 0 ? value : fallback
}

const graceMs = option("--grace-ms", 5000)
const maxCommands = option("--max-commands", defaultMaxCommands)
const windowBytes = Math.max(maxChunkBytes, option("--window-bytes", defaultWindowBytes))

/** fd 1 written asynchronously (Node writes pipes to process.stdout synchronously on Linux). */
const openOutput = (): Writable => {
  try {
    const info = fs.fstatSync(1)
    if (info.isFIFO() || info.isSocket()) return new net.Socket({ fd: 1, readable: false, writable: true })
  } catch {
    // fall through
  }
  return fs.createWriteStream("", { fd: 1 })
}

const output = openOutput()
let outputBroken = false
output.on("error", () => {
  outputBroken = true
  shutdown(0)
})

const commands = new Map<number, Command>()
let congested = false
let greeted = false
let shuttingDown = false

const send: Link["send"] = (header, payload) => {
  if (outputBroken) return
  output.write(encodeFrame(header, payload))
  if (!congested && output.writableLength > congestionBytes) {
    congested = true
    for (const command of commands.values()) command.updateFlow()
  }
}

output.on("drain", () => {
  if (!congested) return
  congested = false
  for (const command of commands.values()) command.updateFlow()
})

const link: Link = {
  send,
  congested: () => congested,
  release: (id) => {
    commands.delete(id)
    if (shuttingDown && commands.size === 0) finish()
  },
  windowBytes,
  graceMs,
  env: process.env
}

// --- validation -------------------------------------------------------------------------------

type Header = RawFrame["header"]

const isId = (value: unknown): value is number => typeof value === "number" && Number.isSafeInteger(value) && value >= 0
const isStringArray = (value: unknown): value is Array<string> => Array.isArray(value) && value.every((v) => typeof v === "string")
const isStringRecord = (value: unknown): value is Record<string, string> =>
  typeof value === "object" && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === "string")
const graceOf = (header: Header): number => (isId(header.graceMs) ? header.graceMs : graceMs)

/** A one-sentence reason the spawn frame is invalid, or the request. */
const spawnRequest = (header: Header): SpawnRequest | string => {
  const { argv, cwd, env, stdin } = header
  if (!isStringArray(argv) || argv.length === 0 || argv[0] === "") return "spawn needs a non-empty argv of strings"
  if (typeof cwd !== "string" || cwd === "") return "spawn needs a cwd string"
  if (env !== undefined && !isStringRecord(env)) return "spawn env must map names to strings"
  if (stdin !== "none" && stdin !== "pipe" && stdin !== "file") return "spawn stdin must be none, pipe or file"
  if (stdin === "file" && typeof header.path !== "string") return "spawn with stdin file needs a path"
  return { id: header.id as number, argv, cwd, env: env ?? {}, stdin, path: header.path as string | undefined }
}

// --- dispatch ---------------------------------------------------------------------------------

const fail = (header: Header, message: string) =>
  send({ t: "fail", ...(isId(header.req) ? { req: header.req } : {}), ...(isId(header.id) ? { id: header.id } : {}), message })

const dispatch = (frame: RawFrame): void => {
  const { header, payload } = frame
  if (!greeted) {
    if (header.t !== "hello") return fatal(`expected a hello frame first, got ${JSON.stringify(header.t)}`)
    if (header.protocol !== protocolVersion) {
      return fatal(`protocol version mismatch: the client speaks ${JSON.stringify(header.protocol)}, this broker speaks ${protocolVersion}`)
    }
    greeted = true
    return
  }
  const command = isId(header.id) ? commands.get(header.id) : undefined
  switch (header.t) {
    case "spawn": {
      if (!isId(header.id)) return fail(header, "spawn needs a numeric id")
      if (commands.has(header.id)) return fail(header, `command id ${header.id} is already in use`)
      const request = spawnRequest(header)
      if (typeof request === "string") return send({ t: "error", id: header.id, reason: "spawn", code: 1, message: request })
      if (commands.size >= maxCommands) {
        return send({ t: "error", id: header.id, reason: "spawn", code: 1, message: `the exec broker is already running ${maxCommands} commands, its limit` })
      }
      if (shuttingDown) return send({ t: "error", id: header.id, reason: "spawn", code: 1, message: "the exec broker is shutting down" })
      const created = new Command(header.id, link)
      commands.set(header.id, created)
      return created.start(request)
    }
    case "write":
      // Frames for a command that has finished are dropped: the client may not have seen it end.
      return command?.write(payload)
    case "close":
      return command?.closeStdin()
    case "credit":
      if ((header.stream !== "stdout" && header.stream !== "stderr") || !isId(header.bytes)) {
        return fail(header, "credit needs a stream (stdout or stderr) and a byte count")
      }
      return command?.credit(header.stream, header.bytes)
    case "kill":
      if (!isId(header.id)) return fail(header, "kill needs a numeric id")
      if (command === undefined) return send({ t: "killed", id: header.id })
      return command.kill(graceOf(header))
    case "signal": {
      if (!isId(header.req) || typeof header.signal !== "string") return fail(header, "signal needs a req, an id and a signal name")
      if (command === undefined) return fail(header, `no running command ${String(header.id)}`)
      try {
        command.signal(header.signal)
        return send({ t: "signaled", req: header.req })
      } catch (error) {
        return fail(header, (error as Error).message)
      }
    }
    case "reap": {
      const identity = header.identity as Record<string, unknown> | null | undefined
      if (!isId(header.req) || typeof identity !== "object" || identity === null) return fail(header, "reap needs a req and an identity")
      const { pid, pgid, start_time: startTime, marker } = identity
      if (!isId(pid) || !isId(pgid) || !isId(startTime) || (marker !== undefined && typeof marker !== "string")) {
        return fail(header, "reap identity needs pid, pgid, start_time and an optional marker")
      }
      // Without a recorded marker, a fresh one matches nothing: only the verified leader counts.
      const target = { pid, pgid, startTime, marker: marker ?? `none-${Math.random()}`, verifyGroup: true }
      void sweep(target, graceOf(header)).then(({ found }) => send({ t: "reaped", req: header.req, count: found }))
      return
    }
    case "resolve": {
      const { argv, cwd, home } = header
      if (!isId(header.req) || !isStringArray(argv) || argv.length === 0 || typeof cwd !== "string" || typeof home !== "string") {
        return fail(header, "resolve needs a req, a non-empty argv, a cwd and a home")
      }
      return send({ t: "resolved", req: header.req, argv: resolveArgv(argv, cwd, home) })
    }
    case "ping":
      return send({ t: "pong", ...(isId(header.req) ? { req: header.req } : {}) })
    case "hello":
      return fail(header, "hello was already received")
    default:
      return fail(header, `unknown frame type ${JSON.stringify(header.t)}`)
  }
}

// --- connection lifetime ----------------------------------------------------------------------

let exitCode = 0

const finish = () => {
  const done = () => process.exit(exitCode)
  if (outputBroken) return done()
  output.end(done)
  // A client that stopped reading cannot hold the broker: leave after 1 s regardless.
  setTimeout(done, 1000).unref()
}

/** Ends the connection: stops reading, sweeps every command, flushes, exits with `code`. */
function shutdown(code: number) {
  if (shuttingDown) return
  shuttingDown = true
  exitCode = code
  process.stdin.pause()
  process.stdin.removeAllListeners("data")
  if (commands.size === 0) return finish()
  for (const command of commands.values()) command.kill(graceMs)
}

function fatal(message: string) {
  send({ t: "fatal", message })
  process.stderr.write(`exec-broker: ${message}\n`)
  shutdown(2)
}

const decoder = new FrameDecoder(maxFrameBytes)
process.stdin.on("data", (chunk: Buffer) => {
  const step = decoder.push(chunk)
  for (const frame of step.frames) {
    if (shuttingDown) return
    dispatch(frame)
  }
  if (!step.ok && !shuttingDown) fatal(`malformed frame from the client: ${step.error}`)
})
process.stdin.once("end", () => shutdown(0))
process.stdin.once("error", () => shutdown(0))
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(signal, () => shutdown(0))

send({ t: "hello", protocol: protocolVersion, broker: brokerVersion, pid: process.pid, window: windowBytes, maxFrame: maxFrameBytes, maxChunk: maxChunkBytes, maxCommands })
