import { spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import fc from "fast-check"
import { encodeFrame, FrameDecoder, type RawFrame } from "../../src/broker/FrameCodec.js"
import { pidsWithEnv } from "../support/procs.js"

// The built program (npm run build): what ships and what runs on a VM.
const program = path.resolve("dist/broker/exec-broker.mjs")
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "troupe-broker-"))
const brokers: Array<ChildProcess> = []

afterAll(() => {
  for (const broker of brokers) if (broker.exitCode === null && broker.signalCode === null) broker.kill("SIGKILL")
  fs.rmSync(tmp, { recursive: true, force: true })
})

/** A raw protocol client over a real broker process. */
const startBroker = (...args: Array<string>) => {
  const child = spawn(process.execPath, [program, "--grace-ms", "300", ...args], { stdio: ["pipe", "pipe", "pipe"] })
  brokers.push(child)
  const frames: Array<RawFrame> = []
  const decoder = new FrameDecoder()
  let decodeError: string | undefined
  child.stdout!.on("data", (chunk: Buffer) => {
    const step = decoder.push(chunk)
    frames.push(...step.frames)
    if (!step.ok) decodeError = step.error
  })
  child.stdin!.on("error", () => undefined)
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })))
  const send = (header: Record<string, unknown> & { t: string }, payload?: Uint8Array) => child.stdin!.write(encodeFrame(header, payload))
  /** Polls every 10 ms (up to 30 s) for a frame matching `match`. */
  const waitFor = async (match: (frame: RawFrame) => boolean): Promise<RawFrame> => {
    for (let i = 0; i < 3000; i++) {
      const found = frames.find(match)
      if (found !== undefined) return found
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    throw new Error(`no matching frame; got ${frames.map((f) => f.header.t).join(",")}`)
  }
  const bytesOf = (id: number, stream: string) =>
    frames.filter((f) => f.header.t === "data" && f.header.id === id && f.header.stream === stream).reduce((n, f) => n + f.payload.length, 0)
  return { child, frames, send, waitFor, exited, bytesOf, decodeError: () => decodeError }
}

describe("exec broker program", () => {
  it("is one file with a shebang that imports nothing but node: builtins", () => {
    const text = fs.readFileSync(program, "utf8")
    expect(text.startsWith("#!/usr/bin/env node\n")).toBe(true)
    expect(fs.statSync(program).mode & 0o111).not.toBe(0)
    const specifiers = [
      ...text.matchAll(/\bfrom\s*["']([^"']+)["']/g),
      ...text.matchAll(/\bimport\s*\(\s*["']([^"']+)["']\s*\)/g),
      ...text.matchAll(/\brequire\s*\(\s*["']([^"']+)["']\s*\)/g),
      ...text.matchAll(/^\s*import\s*["']([^"']+)["']/gm)
    ].map((m) => m[1]!)
    expect(specifiers.length).toBeGreaterThan(0)
    expect(specifiers.filter((s) => !s.startsWith("node:"))).toEqual([])
  })

  it("greets, answers ping, and exits 0 when its input ends", async () => {
    const broker = startBroker()
    const hello = await broker.waitFor((f) => f.header.t === "hello")
    expect(hello.header).toMatchObject({ protocol: 1, window: 262144, maxFrame: 1048576, maxChunk: 65536, maxCommands: 256, pid: broker.child.pid })
    broker.send({ t: "hello", protocol: 1 })
    broker.send({ t: "ping", req: 7 })
    expect((await broker.waitFor((f) => f.header.t === "pong")).header).toEqual({ t: "pong", req: 7 })
    broker.send({ t: "bogus", req: 8 })
    expect((await broker.waitFor((f) => f.header.t === "fail")).header).toEqual({ t: "fail", req: 8, message: "unknown frame type \"bogus\"" })
    broker.child.stdin!.end()
    expect(await broker.exited).toEqual({ code: 0, signal: null })
  })

  it("refuses another protocol version with a fatal frame naming both, and exits 2", async () => {
    const broker = startBroker()
    broker.send({ t: "hello", protocol: 2 })
    const fatal = await broker.waitFor((f) => f.header.t === "fatal")
    expect(fatal.header.message).toBe("protocol version mismatch: the client speaks 2, this broker speaks 1")
    expect(await broker.exited).toEqual({ code: 2, signal: null })
  })

  it("answers garbage with an error frame or a clean exit, never a crash or a hang", async () => {
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.uint8Array({ maxLength: 400 }), async (greet, garbage) => {
        const broker = startBroker()
        if (greet) broker.send({ t: "hello", protocol: 1 })
        broker.child.stdin!.write(garbage)
        broker.child.stdin!.end()
        const exit = await broker.exited
        expect(broker.decodeError()).toBeUndefined()
        expect(broker.frames[0]?.header.t).toBe("hello")
        const fatal = broker.frames.find((f) => f.header.t === "fatal")
        expect(exit).toEqual({ code: fatal === undefined ? 0 : 2, signal: null })
        expect(broker.child.stderr!.read()?.toString() ?? "").not.toMatch(/at .*exec-broker\.mjs/)
      }),
      { numRuns: 30 }
    )
  })

  it("holds a command's output at its credit window while another command streams freely", async () => {
    const broker = startBroker()
    broker.send({ t: "hello", protocol: 1 })
    const window = 262144
    // Command 1 writes 4 MiB and gets no credit; command 2 prints 100 lines.
    broker.send({ t: "spawn", id: 1, argv: [process.execPath, "-e", "process.stdout.write(Buffer.alloc(4<<20, 97))"], cwd: tmp, stdin: "none" })
    broker.send({ t: "spawn", id: 2, argv: ["sh", "-c", "for i in $(seq 1 100); do echo line $i; done"], cwd: tmp, stdin: "none" })
    await broker.waitFor((f) => f.header.t === "exit" && f.header.id === 2)
    const lines = broker.frames.filter((f) => f.header.t === "data" && f.header.id === 2).map((f) => Buffer.from(f.payload).toString()).join("")
    expect(lines).toBe(Array.from({ length: 100 }, (_, i) => `line ${i + 1}\n`).join(""))
    await broker.waitFor(() => broker.bytesOf(1, "stdout") >= window)
    // Blocked at the window: three ping round trips later (the broker's event loop turned and
    // read its pipes), nothing more came and the writer has not finished.
    for (const req of [101, 102, 103]) {
      broker.send({ t: "ping", req })
      await broker.waitFor((f) => f.header.t === "pong" && f.header.req === req)
    }
    expect(broker.bytesOf(1, "stdout")).toBeLessThanOrEqual(window + 65536)
    expect(broker.frames.some((f) => f.header.t === "exit" && f.header.id === 1)).toBe(false)
    // Credit everything as it arrives: the rest flows and the command ends.
    let credited = 0
    const grant = setInterval(() => {
      const received = broker.bytesOf(1, "stdout")
      if (received > credited) broker.send({ t: "credit", id: 1, stream: "stdout", bytes: received - credited })
      credited = received
    }, 5)
    await broker.waitFor((f) => f.header.t === "eof" && f.header.id === 1 && f.header.stream === "stdout")
    clearInterval(grant)
    expect(broker.bytesOf(1, "stdout")).toBe(4 << 20)
    expect((await broker.waitFor((f) => f.header.t === "exit" && f.header.id === 1)).header).toMatchObject({ code: 0, signal: null })
    broker.child.stdin!.end()
    expect((await broker.exited).code).toBe(0)
  })

  it("enforces its command limit with an error frame", async () => {
    const broker = startBroker("--max-commands", "1")
    broker.send({ t: "hello", protocol: 1 })
    broker.send({ t: "spawn", id: 1, argv: ["sleep", "30"], cwd: tmp, stdin: "none" })
    broker.send({ t: "spawn", id: 2, argv: ["true"], cwd: tmp, stdin: "none" })
    const error = await broker.waitFor((f) => f.header.t === "error")
    expect(error.header).toEqual({ t: "error", id: 2, reason: "spawn", code: 1, message: "the exec broker is already running 1 commands, its limit" })
    const started = await broker.waitFor((f) => f.header.t === "started")
    const marker = started.header.marker as string
    expect(pidsWithEnv("TROUPE_LEAF_ID", marker)).toHaveLength(1)
    // Its input ending sweeps what it runs before it exits.
    broker.child.stdin!.end()
    expect((await broker.exited).code).toBe(0)
    expect(pidsWithEnv("TROUPE_LEAF_ID", marker)).toEqual([])
  })
})
