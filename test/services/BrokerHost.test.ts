import { createHash, randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Fiber, Schedule, Stream } from "effect"
import fc from "fast-check"
import { encodeFrame } from "../../src/broker/FrameCodec.js"
import { HostError, type HostShape, type ProcessIdentity, type StartSpec } from "../../src/services/Host.js"
import { type BrokerChannel, BrokerHost } from "../../src/services/BrokerHost.js"
import { pidsWithEnv } from "../support/procs.js"

// Real broker processes (dist/broker/exec-broker.mjs: `npm run build` first). A short grace
// keeps the kill paths fast.
const graceMs = 300
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "troupe-brokerhost-"))

/** Markers of every leaf started here, checked for survivors at the end. */
const markers = new Set<string>()

afterAll(() => {
  const left = [...markers].flatMap((marker) => pidsWithEnv("TROUPE_LEAF_ID", marker))
  fs.rmSync(tmp, { recursive: true, force: true })
  expect(left).toEqual([])
})

const withHost = <A, E>(f: (host: HostShape) => Effect.Effect<A, E, import("effect").Scope.Scope>) =>
  Effect.scoped(Effect.flatMap(BrokerHost.makeChild({ graceMs }), f))

const spec = (argv: ReadonlyArray<string>, extra: Partial<StartSpec> = {}): StartSpec => ({
  argv,
  cwd: tmp,
  stdin: { _tag: "None" },
  ...extra
})

const concat = (stream: Stream.Stream<Uint8Array, HostError>) =>
  Stream.runCollect(stream).pipe(Effect.map((chunks) => Buffer.concat(Chunk.toArray(chunks))))

const track = (identity: ProcessIdentity) => {
  if (identity.marker !== undefined) markers.add(identity.marker)
}

/** Starts a leaf, drains both streams, waits for exit. */
const run = (host: HostShape, leaf: StartSpec, input?: Uint8Array) =>
  Effect.scoped(
    Effect.gen(function* () {
      const proc = yield* host.start(leaf)
      track(proc.identity)
      const out = yield* Effect.fork(concat(proc.stdout))
      const err = yield* Effect.fork(concat(proc.stderr))
      if (input !== undefined) yield* Stream.run(Stream.fromIterable(chunks(input, 100_000)), proc.stdin)
      const exit = yield* proc.exit
      return { ...exit, stdout: yield* Fiber.join(out), stderr: yield* Fiber.join(err), identity: proc.identity }
    })
  )

const chunks = (bytes: Uint8Array, size: number) => {
  const out: Array<Uint8Array> = []
  for (let at = 0; at < bytes.length; at += size) out.push(bytes.subarray(at, at + size))
  return out
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

const ppidOf = (pid: number) => {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1")
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
}

const vmHwmKb = (pid: number) => Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "latin1"))?.[1])

/** Polls (20 ms, up to 30 s) until `check` holds; returns its last value. */
const eventually = <A>(probe: () => A, check: (a: A) => boolean) =>
  Effect.sync(probe).pipe(
    Effect.repeat({
      schedule: Schedule.passthrough<number, A, never>(Schedule.spaced("20 millis").pipe(Schedule.upTo("30 seconds"))),
      until: check
    })
  )

describe("BrokerHost", () => {
  it.live("runs argv in its own group, with a marker, and reports exit codes and both streams", () =>
    withHost((host) =>
      Effect.gen(function* () {
        expect(host.name).toBe("broker")
        const result = yield* run(host, spec(["sh", "-c", "echo out; echo oops >&2; printf %s \"$TROUPE_LEAF_ID|$FOO\"; exit 3"], { env: { FOO: "bar" } }))
        expect(result.code).toBe(3)
        expect(result.signal).toBeUndefined()
        expect(result.stdout.toString()).toBe(`out\n${result.identity.marker}|bar`)
        expect(result.stderr.toString()).toBe("oops\n")
        expect(result.identity.host).toBe("broker")
        expect(result.identity.pgid).toBe(result.identity.pid)
        expect(result.identity.startTime).toBeGreaterThan(0)
        const killed = yield* run(host, spec(["sh", "-c", "kill -KILL $$"]))
        expect(killed).toMatchObject({ code: 137, signal: "SIGKILL" })
      })
    ))

  it.live("maps spawn failures as LocalHost does: 127 not found, 126 not executable, 1 missing cwd, io for a stdin file", () =>
    withHost((host) =>
      Effect.gen(function* () {
        const failure = (leaf: StartSpec) => Effect.flip(Effect.scoped(host.start(leaf)))
        expect(yield* failure(spec(["no-such-command-xyz"]))).toMatchObject({ reason: "spawn", code: 127, message: "command not found: no-such-command-xyz" })
        const plain = path.join(tmp, "plain.txt")
        fs.writeFileSync(plain, "x", { mode: 0o644 })
        expect(yield* failure(spec([plain]))).toMatchObject({ reason: "spawn", code: 126 })
        expect(yield* failure(spec(["true"], { cwd: path.join(tmp, "missing") }))).toMatchObject({ reason: "spawn", code: 1, message: `working directory not found: ${path.join(tmp, "missing")}` })
        expect(yield* failure(spec(["cat"], { stdin: { _tag: "File", path: path.join(tmp, "absent") } }))).toMatchObject({ reason: "io", code: 1 })
      })
    ))

  it.live("pipes stdin under credit (3,000,000 bytes through cat) and reads a stdin file", () =>
    withHost((host) =>
      Effect.gen(function* () {
        const input = randomBytes(3_000_000)
        const piped = yield* run(host, spec(["cat"], { stdin: { _tag: "Pipe" } }), input)
        expect(piped.code).toBe(0)
        expect(piped.stdout.length).toBe(input.length)
        expect(sha256(piped.stdout)).toBe(sha256(input))
        const file = path.join(tmp, "stdin.bin")
        fs.writeFileSync(file, input)
        const fromFile = yield* run(host, spec(["wc", "-c"], { stdin: { _tag: "File", path: file } }))
        expect(fromFile.stdout.toString().trim()).toBe("3000000")
        // A leaf that stops reading ends the sink quietly.
        const ignoring = yield* run(host, spec(["true"], { stdin: { _tag: "Pipe" } }), randomBytes(3_000_000))
        expect(ignoring.code).toBe(0)
      })
    ))

  it.live("signals the leaf's group", () =>
    withHost((host) =>
      Effect.scoped(
        Effect.gen(function* () {
          const proc = yield* host.start(spec(["sleep", "30"]))
          track(proc.identity)
          yield* proc.signal("SIGTERM")
          expect(yield* proc.exit).toEqual({ code: 143, signal: "SIGTERM" })
          expect(yield* Effect.flip(proc.signal("SIGNOPE"))).toBeInstanceOf(HostError)
        })
      )
    ))

  it.live("resolves command words on the broker's machine", () =>
    withHost((host) =>
      Effect.gen(function* () {
        expect(yield* host.resolve(["~/bin/x.sh", "a"], tmp, "/home/someone")).toEqual(["bash", "/home/someone/bin/x.sh", "a"])
        fs.writeFileSync(path.join(tmp, "tool.mjs"), "console.log(1)\n")
        expect(yield* host.resolve(["./tool.mjs"], tmp, "/h")).toEqual([process.execPath, path.join(tmp, "tool.mjs")])
        expect(yield* host.resolve(["echo", "x"], tmp, "/h")).toEqual(["echo", "x"])
      })
    ))

  it.live("a 50 MB writer and a small-line streamer both complete in order, with the broker's memory bounded", () =>
    withHost((host) =>
      Effect.gen(function* () {
        const blocks = 50
        const writer = `const b=Buffer.alloc(1<<20);for(let k=0;k<b.length;k++)b[k]=k%251;let i=0;` +
          `const go=()=>{while(i<${blocks}){b.writeUInt32BE(i++,0);if(!process.stdout.write(b))return process.stdout.once("drain",go)}};go()`
        const lines = `let i=0;const t=setInterval(()=>{process.stdout.write("line "+i+"\\n");if(++i===200)clearInterval(t)},2)`
        const expected = createHash("sha256")
        const block = Buffer.alloc(1 << 20)
        for (let k = 0; k < block.length; k++) block[k] = k % 251
        for (let i = 0; i < blocks; i++) expected.update((block.writeUInt32BE(i, 0), block))

        const big = yield* host.start(spec([process.execPath, "-e", writer]))
        const small = yield* host.start(spec([process.execPath, "-e", lines]))
        track(big.identity)
        track(small.identity)
        const brokerPid = ppidOf(big.identity.pid)
        const bigOut = yield* Effect.fork(
          Stream.runFold(big.stdout, { size: 0, hash: createHash("sha256") }, (acc, chunk) => (acc.hash.update(chunk), { size: acc.size + chunk.length, hash: acc.hash }))
        )
        const smallOut = yield* Effect.fork(concat(small.stdout))
        const [bigExit, smallExit] = yield* Effect.all([big.exit, small.exit], { concurrency: 2 })
        const bigResult = yield* Fiber.join(bigOut)
        const smallText = (yield* Fiber.join(smallOut)).toString()
        yield* Effect.all([Stream.runDrain(big.stderr), Stream.runDrain(small.stderr)])
        expect(bigExit.code).toBe(0)
        expect(smallExit.code).toBe(0)
        expect(bigResult.size).toBe(blocks << 20)
        expect(bigResult.hash.digest("hex")).toBe(expected.digest("hex"))
        expect(smallText).toBe(Array.from({ length: 200 }, (_, i) => `line ${i}\n`).join(""))
        const peakKb = vmHwmKb(brokerPid)
        console.log(`exec broker peak RSS (VmHWM) after 50 MB + 200 lines: ${(peakKb / 1024).toFixed(1)} MiB`)
        expect(peakKb).toBeLessThan(150 * 1024)
      })
    ))

  it.live("closing a leaf's scope kills a SIGTERM-ignoring tree with a setsid grandchild", () =>
    withHost((host) =>
      Effect.gen(function* () {
        const identity = yield* Effect.scoped(
          Effect.gen(function* () {
            const proc = yield* host.start(spec(["sh", "-c", "trap '' TERM; setsid sh -c \"trap '' TERM; sleep 300\" & sleep 300 & wait"]))
            track(proc.identity)
            const tree = yield* eventually(() => pidsWithEnv("TROUPE_LEAF_ID", proc.identity.marker!), (pids) => pids.length >= 4)
            expect(tree.length).toBeGreaterThanOrEqual(4)
            return proc.identity
          })
        )
        expect(pidsWithEnv("TROUPE_LEAF_ID", identity.marker!)).toEqual([])
      })
    ))

  it.live("a broker SIGKILLed mid-run fails its leaves with HostError unavailable and leaves nothing running", () =>
    withHost((host) =>
      Effect.gen(function* () {
        const outcome = yield* Effect.scoped(
          Effect.gen(function* () {
            const a = yield* host.start(spec(["sh", "-c", "setsid sleep 300 & sleep 300"]))
            const b = yield* host.start(spec(["sh", "-c", "while :; do echo tick; sleep 0.05; done"]))
            track(a.identity)
            track(b.identity)
            const markersOf = () => [...pidsWithEnv("TROUPE_LEAF_ID", a.identity.marker!), ...pidsWithEnv("TROUPE_LEAF_ID", b.identity.marker!)]
            const before = yield* eventually(markersOf, (pids) => pids.length >= 4)
            expect(before.length).toBeGreaterThanOrEqual(4)
            const bStdout = yield* Effect.fork(Effect.either(Stream.runDrain(b.stdout)))
            process.kill(ppidOf(a.identity.pid), "SIGKILL")
            const [exitA, exitB] = yield* Effect.all([Effect.flip(a.exit), Effect.flip(b.exit)])
            const streamB = yield* Fiber.join(bStdout)
            const after = yield* Effect.exit(host.start(spec(["true"])))
            return { exitA, exitB, streamB, after, markersOf }
          })
        )
        expect(outcome.exitA).toMatchObject({ _tag: "HostError", reason: "unavailable" })
        expect(outcome.exitA.message).toMatch(/^the exec broker \(pid \d+\) was killed by SIGKILL/)
        expect(outcome.exitB).toMatchObject({ reason: "unavailable" })
        expect(outcome.streamB._tag).toBe("Left")
        expect(Exit.isFailure(outcome.after)).toBe(true)
        // The leaves' scopes closed only after a fresh broker reaped what was left.
        expect(outcome.markersOf()).toEqual([])
      })
    ))

  it.live("a restarting child: a start failure is retried on the next use, and a dead broker is replaced", () =>
    Effect.scoped(
      Effect.gen(function* () {
        // The program is missing at first: the first use fails, typed; once it exists, the next use starts it.
        const program = path.join(tmp, "restarting-broker.mjs")
        const current = yield* BrokerHost.makeRestartingChild({ graceMs, program })
        const failed = yield* Effect.flip(current)
        expect(failed).toMatchObject({ _tag: "HostError", reason: "unavailable" })
        fs.copyFileSync(path.join(process.cwd(), "dist/broker/exec-broker.mjs"), program)
        const first = yield* current
        // Each leaf prints its parent: the broker that spawned it.
        const parentOf = (result: { readonly stdout: Buffer }) => Number(result.stdout.toString().trim())
        const firstBroker = parentOf(yield* run(first, spec(["sh", "-c", "echo $PPID"])))
        expect(firstBroker).toBeGreaterThan(0)
        // The same broker serves later uses while it lives…
        expect(parentOf(yield* run(yield* current, spec(["sh", "-c", "echo $PPID"])))).toBe(firstBroker)
        // …and after it is killed, the next use gets a new one.
        process.kill(firstBroker, "SIGKILL")
        const replaced = yield* current.pipe(
          Effect.repeat({
            schedule: Schedule.passthrough<number, HostShape, never>(Schedule.spaced("20 millis").pipe(Schedule.upTo("30 seconds"))),
            until: (host) => host !== first
          })
        )
        expect(replaced).not.toBe(first)
        const nextBroker = parentOf(yield* run(replaced, spec(["sh", "-c", "echo $PPID"])))
        expect(nextBroker).toBeGreaterThan(0)
        expect(nextBroker).not.toBe(firstBroker)
      })
    ))

  it.live("a stuck broker cannot hang a leaf's scope; closing the host sweeps what it left", () => {
    let brokerPid = 0
    return Effect.gen(function* () {
      const identity = yield* withHost((host) =>
        Effect.gen(function* () {
          const leftover = yield* Effect.scoped(
            Effect.gen(function* () {
              const proc = yield* host.start(spec(["sleep", "300"]))
              track(proc.identity)
              yield* eventually(() => pidsWithEnv("TROUPE_LEAF_ID", proc.identity.marker!), (pids) => pids.length >= 1)
              brokerPid = ppidOf(proc.identity.pid)
              process.kill(brokerPid, "SIGSTOP")
              return proc.identity
            })
          )
          // The scope closed after its bound although the broker never answered `kill`.
          expect(pidsWithEnv("TROUPE_LEAF_ID", leftover.marker!)).toHaveLength(1)
          process.kill(brokerPid, "SIGCONT")
          return leftover
        })
      )
      expect(pidsWithEnv("TROUPE_LEAF_ID", identity.marker!)).toEqual([])
    }).pipe(Effect.ensuring(Effect.try(() => brokerPid > 0 && process.kill(brokerPid, "SIGCONT")).pipe(Effect.ignore)))
  })

  it.live("reaps a dead owner's leaf from another connection, verified by identity", () =>
    Effect.gen(function* () {
      const leftover = yield* Effect.scoped(
        Effect.gen(function* () {
          const channel = yield* BrokerHost.childChannel({ graceMs })
          const owner = yield* BrokerHost.make(channel, { graceMs })
          const proc = yield* owner.start(spec(["sh", "-c", "setsid sleep 300 & sleep 300"]))
          track(proc.identity)
          yield* eventually(() => pidsWithEnv("TROUPE_LEAF_ID", proc.identity.marker!), (pids) => pids.length >= 3)
          // The owner dies without cleaning up: SIGKILL its broker, then reap from a new one.
          process.kill(ppidOf(proc.identity.pid), "SIGKILL")
          yield* Effect.flip(proc.exit)
          return proc.identity
        })
      )
      expect(leftover.pid).toBeGreaterThan(0)
      const count = yield* withHost((host) => host.reap(leftover))
      // Without `reconnect` the owner's scope could not reap: the new connection finds them.
      expect(count).toBeGreaterThanOrEqual(2)
      expect(pidsWithEnv("TROUPE_LEAF_ID", leftover.marker!)).toEqual([])
      expect(yield* withHost((host) => host.reap(leftover))).toBe(0)
      // A stale identity (pid reused by someone else, no marker) matches nothing.
      expect(yield* withHost((host) => host.reap({ host: "broker", pid: process.pid, pgid: process.pid, startTime: 1 }))).toBe(0)
    }))

  describe("a misbehaving channel", () => {
    const hello = (protocol: unknown) =>
      encodeFrame({ t: "hello", protocol, window: 262144, maxFrame: 1048576, maxChunk: 65536, maxCommands: 4 } as { t: string })
    const fakeChannel = (...input: Array<Uint8Array>): BrokerChannel => ({ input: Stream.fromIterable(input), write: () => undefined })

    it.live("a protocol version mismatch is a typed error naming both versions", () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(Effect.scoped(BrokerHost.make(fakeChannel(hello(7)), { graceMs })))
        expect(error).toMatchObject({ _tag: "HostError", reason: "unavailable" })
        expect(error.message).toContain("protocol version 7")
        expect(error.message).toContain("speaks 1")
      }))

    it.live("arbitrary bytes after the handshake fail a pending leaf with HostError, never a defect or a hang", () =>
      Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (garbage) => {
            const exit = await Effect.runPromiseExit(
              Effect.scoped(
                Effect.flatMap(BrokerHost.make(fakeChannel(hello(1), garbage), { graceMs, helloTimeoutMs: 5000 }), (host) =>
                  Effect.scoped(host.start(spec(["true"])))
                )
              ).pipe(Effect.timeout("20 seconds"))
            )
            expect(Exit.isFailure(exit)).toBe(true)
            if (Exit.isFailure(exit)) {
              const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
              expect(failure).toBeInstanceOf(HostError)
            }
          }),
          { numRuns: 200 }
        )
      ))
  })
})
