import { createHash, randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Fiber, Schedule, Stream } from "effect"
import { captureLimitBytes, decodeUtf8, spilledTailBytes, utf8SafeTail } from "../../src/domain/Output.js"
import { Duration } from "effect"
import type { HostShape, LeafProcess, ProcessIdentity, StartSpec } from "../../src/services/Host.js"
import { Hosts } from "../../src/services/Hosts.js"
import { type LeafSpec, PipeCloseGrace, runLeaf } from "../../src/services/LeafCapture.js"
import type { TestHost } from "./hosts.js"
import { awaitTree, isAlive, livePids, markerOf, readEnviron, readStat, treeOf } from "./leafProcs.js"

/**
 * Leaf behaviour on one host, through LeafCapture (real processes): argv without a shell, exit
 * codes and signals, env and the leaf marker, stdin (None / Bytes / File), spills and tails,
 * 126 / 127 / missing-cwd, kill paths (interruption, timeouts, escapees swept by marker) with
 * `/proc` checks that nothing survives. Run for every host of test/support/hosts.ts.
 */

// A short grace keeps the kill paths fast.
const testGraceMs = 300

/** The leaf tests, on `entry`'s host. */
export const leafSuite = (entry: TestHost) => {
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "troupe-host-"))
let leafCounter = 0

/** Marker entries of every leaf started here, checked for survivors at the end. */
const markers = new Set<string>()

afterAll(() => {
  const left = markers.size === 0 ? [] : livePids().filter((pid) => {
    const environ = readEnviron(pid)
    return environ.some((entry) => markers.has(entry))
  })
  fs.rmSync(tmp, { recursive: true, force: true })
  expect(left).toEqual([])
})

// --- running leaves --------------------------------------------------------------------------

const spec = (argv: ReadonlyArray<string>, extra: Partial<LeafSpec> = {}): LeafSpec => ({
  argv,
  cwd: tmp,
  stdin: { _tag: "None" },
  outputDir: path.join(tmp, "out"),
  name: `leaf-${++leafCounter}`,
  ...extra
})

/** Runs a leaf on the suite's host, recording its marker (and any `onSpawn` of the spec). */
const run = (leaf: LeafSpec, options: { readonly graceMs?: number; readonly pipeCloseGraceMs?: number; readonly env?: Readonly<Record<string, string | undefined>> } = {}) =>
  Effect.flatMap(Hosts, (hosts) => Effect.scoped(Effect.flatMap(hosts.acquire("local"), (host) =>
    runLeaf(host, {
      ...leaf,
      onSpawn: (identity) =>
        Effect.suspend(() => {
          const marker = readEnviron(identity.pid).find((e) => e.startsWith("TROUPE_LEAF_ID="))
          if (marker !== undefined) markers.add(marker)
          return leaf.onSpawn?.(identity) ?? Effect.void
        })
    })
  ))).pipe(
    Effect.provideService(PipeCloseGrace, Duration.millis(options.pipeCloseGraceMs ?? 2000)),
    Effect.provide(entry.hosts({ graceMs: options.graceMs ?? testGraceMs, env: options.env }))
  )

const text = (bytes: Uint8Array) => decodeUtf8(bytes)
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

const writeTmp = (name: string, data: Uint8Array | string, mode = 0o644) => {
  const file = path.join(tmp, name)
  fs.writeFileSync(file, data, { mode })
  return file
}

// --- tests -----------------------------------------------------------------------------------

describe("leaves", () => {
  describe("argv, exit and streams", () => {
    it.live("passes argv elements unchanged, without a shell", () =>
      Effect.gen(function*() {
        const result = yield* run(spec(["printf", "[%s]", "a b", "$(x)", "*", "'q'", "`id`", "a;b|c>d"]))
        expect(result.code).toBe(0)
        expect(result.signal).toBeUndefined()
        expect(text(result.stdout.bytes)).toBe("[a b][$(x)][*]['q'][`id`][a;b|c>d]")
        expect(result.stdout.size).toBe(result.stdout.bytes.length)
        expect(result.stdout.spill).toBeUndefined()
        expect(result.stderr).toEqual({ size: 0, bytes: new Uint8Array(0) })
      }))

    it.live("reports a non-zero exit code and captures stderr", () =>
      Effect.gen(function*() {
        const result = yield* run(spec(["sh", "-c", "echo out; echo oops >&2; exit 3"]))
        expect(result.code).toBe(3)
        expect(text(result.stdout.bytes)).toBe("out\n")
        expect(text(result.stderr.bytes)).toBe("oops\n")
        expect(result.stderr.size).toBe(5)
      }))

    it.live("maps death by signal to 128 + n", () =>
      Effect.gen(function*() {
        const result = yield* run(spec(["sh", "-c", "kill -TERM $$"]))
        expect(result.code).toBe(143)
        expect(result.signal).toBe("SIGTERM")
        const killed = yield* run(spec(["sh", "-c", "kill -KILL $$"]))
        expect(killed.code).toBe(137)
        expect(killed.signal).toBe("SIGKILL")
      }))

    it.live("merges env over the base env and sets a unique TROUPE_LEAF_ID", () =>
      Effect.gen(function*() {
        const script = "printf '%s|%s|%s' \"$FOO\" \"$TROUPE_LEAF_ID\" \"$BASE\""
        const options = { env: { BASE: "base", FOO: "base-foo", PATH: process.env.PATH } }
        const a = yield* run(spec(["sh", "-c", script], { env: { FOO: "bar" } }), options)
        const b = yield* run(spec(["sh", "-c", script]), options)
        const [fooA, idA, baseA] = text(a.stdout.bytes).split("|")
        const [fooB, idB] = text(b.stdout.bytes).split("|")
        expect([fooA, baseA, fooB]).toEqual(["bar", "base", "base-foo"])
        expect(idA).toMatch(/^[0-9a-f-]{36}$/)
        expect(idB).toMatch(/^[0-9a-f-]{36}$/)
        expect(idA).not.toBe(idB)
      }))

    it.live("runs in cwd and reports identity and duration", () =>
      Effect.gen(function*() {
        const seen: Array<{ identity: ProcessIdentity; startTime: number | undefined }> = []
        const result = yield* run(
          spec(["sh", "-c", "pwd; sleep 0.2"], {
            onSpawn: (identity) => Effect.sync(() => seen.push({ identity, startTime: readStat(identity.pid)?.startTime }))
          })
        )
        expect(text(result.stdout.bytes)).toBe(`${fs.realpathSync(tmp)}\n`)
        expect(result.identity.pid).toBeGreaterThan(0)
        expect(result.identity.pgid).toBe(result.identity.pid)
        expect(result.identity.startTime).toBeGreaterThan(0)
        expect(seen).toEqual([{ identity: result.identity, startTime: result.identity.startTime }])
        expect(result.durationMs).toBeGreaterThanOrEqual(150)
        expect(result.durationMs).toBeLessThan(5_000)
      }))
  })

  describe("stdin", () => {
    it.live("None: stdin is at end-of-file", () =>
      Effect.gen(function*() {
        const result = yield* run(spec(["wc", "-c"]))
        expect(text(result.stdout.bytes).trim()).toBe("0")
      }))

    it.live("Bytes: written, then closed", () =>
      Effect.gen(function*() {
        const result = yield* run(spec(["cat"], { stdin: { _tag: "Bytes", bytes: new TextEncoder().encode("héllo\n") } }))
        expect(text(result.stdout.bytes)).toBe("héllo\n")
      }))

    it.live("Bytes: a leaf that ignores a large stdin does not fail", () =>
      Effect.gen(function*() {
        const result = yield* run(spec(["true"], { stdin: { _tag: "Bytes", bytes: randomBytes(3_000_000) } }))
        expect(result.code).toBe(0)
        const slow = yield* run(spec(["sh", "-c", "sleep 0.1; exit 4"], { stdin: { _tag: "Bytes", bytes: randomBytes(3_000_000) } }))
        expect(slow.code).toBe(4)
      }))

    it.live("File: the leaf reads the whole file (3,000,000 bytes)", () =>
      Effect.gen(function*() {
        const data = randomBytes(3_000_000)
        const file = writeTmp("stdin-3mb.bin", data)
        const counted = yield* run(spec(["sh", "-c", "cat | wc -c"], { stdin: { _tag: "File", path: file } }))
        expect(text(counted.stdout.bytes).trim()).toBe("3000000")
        const echoed = yield* run(spec(["cat"], { stdin: { _tag: "File", path: file } }))
        expect(echoed.stdout.size).toBe(3_000_000)
        expect(sha256(fs.readFileSync(echoed.stdout.spill!))).toBe(sha256(data))
      }))

    it.live("File: an unreadable stdin file fails with reason io", () =>
      Effect.gen(function*() {
        const error = yield* run(spec(["cat"], { stdin: { _tag: "File", path: path.join(tmp, "missing.bin") } })).pipe(
          Effect.flip
        )
        expect(error.reason).toBe("io")
        expect(error.message).toContain("missing.bin")
        const dir = yield* run(spec(["cat"], { stdin: { _tag: "File", path: tmp } })).pipe(Effect.flip)
        expect(dir.reason).toBe("io")
      }))
  })

  describe("capture and spill", () => {
    it.live("keeps exactly 1 MiB in memory, spills the complete stream past it", () =>
      Effect.gen(function*() {
        const data = randomBytes(captureLimitBytes + 1)
        const file = writeTmp("exact.bin", data)
        const exact = yield* run(spec(["head", "-c", String(captureLimitBytes), file], { name: "exact" }))
        expect(exact.stdout.size).toBe(captureLimitBytes)
        expect(exact.stdout.spill).toBeUndefined()
        expect(sha256(exact.stdout.bytes)).toBe(sha256(data.subarray(0, captureLimitBytes)))
        expect(fs.existsSync(path.join(tmp, "out", "exact.stdout.log"))).toBe(false)

        const over = yield* run(spec(["cat", file], { name: "over" }))
        expect(over.stdout.size).toBe(captureLimitBytes + 1)
        expect(over.stdout.spill).toBe(path.join(tmp, "out", "over.stdout.log"))
        expect(sha256(fs.readFileSync(over.stdout.spill!))).toBe(sha256(data))
        expect(over.stdout.bytes).toEqual(new Uint8Array(utf8SafeTail(data, spilledTailBytes)))
      }))

    ;(entry.skips?.includes("spills stdout and stderr separately, each complete, with bounded tails") ? it.live.skip : it.live)("spills stdout and stderr separately, each complete, with bounded tails", () =>
      Effect.gen(function*() {
        const data = randomBytes(3_000_000)
        const file = writeTmp("big.bin", data)
        const outputDir = path.join(tmp, "nested", "spills")
        const result = yield* run(
          spec(["sh", "-c", "cat \"$1\"; cat \"$1\" >&2; cat \"$1\"", "sh", file], { outputDir, name: "0.1-attempt1" })
        )
        expect(result.code).toBe(0)
        expect(result.stdout.size).toBe(6_000_000)
        expect(result.stderr.size).toBe(3_000_000)
        const stdoutFile = fs.readFileSync(result.stdout.spill!)
        expect(result.stdout.spill).toBe(path.join(outputDir, "0.1-attempt1.stdout.log"))
        expect(stdoutFile.length).toBe(6_000_000)
        expect(sha256(stdoutFile)).toBe(sha256(Buffer.concat([data, data])))
        expect(sha256(fs.readFileSync(result.stderr.spill!))).toBe(sha256(data))
        for (const output of [result.stdout, result.stderr]) {
          expect(output.bytes.length).toBeLessThanOrEqual(spilledTailBytes)
          expect(output.bytes.length).toBeGreaterThan(spilledTailBytes - 4)
          expect(output.bytes).toEqual(new Uint8Array(utf8SafeTail(data, spilledTailBytes)))
        }
      }))

    it.live("cuts a spilled UTF-8 tail on a character boundary", () =>
      Effect.gen(function*() {
        // "€\n" is 4 bytes; 1,200,001 bytes put the tail's first byte inside a "€".
        const result = yield* run(spec(["sh", "-c", "yes '€' | head -c 1200001"]))
        expect(result.stdout.size).toBe(1_200_001)
        const full = fs.readFileSync(result.stdout.spill!)
        expect(full.length).toBe(1_200_001)
        const tail = result.stdout.bytes
        expect(tail[0]! & 0xc0).not.toBe(0x80)
        expect(tail.length).toBeLessThanOrEqual(spilledTailBytes)
        expect(Buffer.from(tail).equals(full.subarray(full.length - tail.length))).toBe(true)
        expect(text(tail).startsWith("\n€\n€")).toBe(true)
      }))
  })

  describe("spawn errors", () => {
    it.live("command not found → 127", () =>
      Effect.gen(function*() {
        const error = yield* run(spec(["troupe-no-such-command-xyz"])).pipe(Effect.flip)
        expect(error).toMatchObject({ _tag: "HostError", reason: "spawn", code: 127, message: "command not found: troupe-no-such-command-xyz" })
      }))

    it.live("not executable → 126", () =>
      Effect.gen(function*() {
        const file = writeTmp("not-executable.sh", "#!/bin/sh\necho hi\n", 0o644)
        const error = yield* run(spec([file])).pipe(Effect.flip)
        expect(error).toMatchObject({ reason: "spawn", code: 126, message: `permission denied: ${file}` })
      }))

    it.live("missing working directory → 1", () =>
      Effect.gen(function*() {
        const cwd = path.join(tmp, "no-such-dir")
        const error = yield* run(spec(["true"], { cwd })).pipe(Effect.flip)
        expect(error).toMatchObject({ reason: "spawn", code: 1, message: `working directory not found: ${cwd}` })
      }))
  })

  describe("process cleanup", () => {
    it.live("interruption kills a tree that ignores SIGTERM, grandchildren included", () =>
      Effect.gen(function*() {
        const spawned = yield* Deferred.make<ProcessIdentity>()
        const fiber = yield* Effect.fork(
          run(spec(["bash", "-c", "trap '' TERM; sleep 300 & sleep 300; wait"], {
            onSpawn: (identity) => Deferred.succeed(spawned, identity)
          }))
        )
        const identity = yield* Deferred.await(spawned)
        const marker = markerOf(identity.pid)
        const pids = yield* awaitTree(identity, marker, 3)
        expect(pids).toContain(identity.pid)

        const before = yield* Clock.currentTimeMillis
        yield* Fiber.interrupt(fiber)
        const elapsed = (yield* Clock.currentTimeMillis) - before

        expect(pids.filter(isAlive)).toEqual([])
        expect(treeOf(identity, marker)).toEqual([])
        // SIGTERM is ignored, so the group lives through the grace, then SIGKILL.
        expect(elapsed).toBeGreaterThanOrEqual(testGraceMs - 50)
        expect(elapsed).toBeLessThan(testGraceMs + 3_000)
      }))

    it.live("interruption is prompt when the tree obeys SIGTERM", () =>
      Effect.gen(function*() {
        const spawned = yield* Deferred.make<ProcessIdentity>()
        const fiber = yield* Effect.fork(
          run(spec(["sh", "-c", "sleep 300 & sleep 300"], { onSpawn: (identity) => Deferred.succeed(spawned, identity) }), {
            graceMs: 10_000
          })
        )
        const identity = yield* Deferred.await(spawned)
        const marker = markerOf(identity.pid)
        const pids = yield* awaitTree(identity, marker, 2)
        const before = yield* Clock.currentTimeMillis
        yield* Fiber.interrupt(fiber)
        const elapsed = (yield* Clock.currentTimeMillis) - before
        expect(pids.filter(isAlive)).toEqual([])
        expect(elapsed).toBeLessThan(2_000)
      }))

    it.live("a timeout kills a grandchild that escaped the group with setsid", () =>
      Effect.gen(function*() {
        const spawned = yield* Deferred.make<ProcessIdentity>()
        const fiber = yield* Effect.fork(
          run(spec(["bash", "-c", "setsid sleep 300 & sleep 300"], {
            onSpawn: (identity) => Deferred.succeed(spawned, identity)
          })).pipe(Effect.timeout("60 seconds"))
        )
        const identity = yield* Deferred.await(spawned)
        const marker = markerOf(identity.pid)
        const pids = yield* Effect.sync(() => treeOf(identity, marker)).pipe(
          Effect.repeat({
            schedule: Schedule.passthrough<number, ReadonlyArray<number>, never>(
              Schedule.spaced("20 millis").pipe(Schedule.upTo("20 seconds"))
            ),
            until: (pids) => pids.some((pid) => readStat(pid)?.pgid !== identity.pgid)
          })
        )
        const escaped = pids.filter((pid) => readStat(pid)?.pgid !== identity.pgid)
        expect(escaped.length).toBe(1)
        expect(readStat(escaped[0]!)?.pgid).toBe(escaped[0])

        yield* Fiber.interrupt(fiber)
        expect(pids.filter(isAlive)).toEqual([])
        expect(treeOf(identity, marker)).toEqual([])
      }))

    it.live("Effect.timeout on run kills the tree and fails with a timeout", () =>
      Effect.gen(function*() {
        const before = yield* Clock.currentTimeMillis
        const outcome = yield* run(spec(["bash", "-c", "trap '' TERM; echo $$; sleep 300"])).pipe(
          Effect.timeoutOption("300 millis")
        )
        const elapsed = (yield* Clock.currentTimeMillis) - before
        expect(outcome._tag).toBe("None")
        expect(elapsed).toBeLessThan(300 + testGraceMs + 3_000)
        const leftovers = livePids().filter((pid) => readEnviron(pid).some((entry) => markers.has(entry)))
        expect(leftovers).toEqual([])
      }))

    it.live("interruption while spilling closes the spill file and kills the leaf", () =>
      Effect.gen(function*() {
        const spawned = yield* Deferred.make<ProcessIdentity>()
        const name = "interrupted-spill"
        const fiber = yield* Effect.fork(
          run(spec(["sh", "-c", "head -c 2000000 /dev/zero; sleep 300"], {
            name,
            onSpawn: (identity) => Deferred.succeed(spawned, identity)
          }))
        )
        const identity = yield* Deferred.await(spawned)
        const marker = markerOf(identity.pid)
        const spillFile = path.join(tmp, "out", `${name}.stdout.log`)
        yield* Effect.sync(() => fs.existsSync(spillFile) && fs.statSync(spillFile).size === 2_000_000).pipe(
          Effect.repeat({ schedule: Schedule.spaced("20 millis").pipe(Schedule.upTo("20 seconds")), until: (done) => done })
        )
        yield* Fiber.interrupt(fiber)
        expect(treeOf(identity, marker)).toEqual([])
        expect(fs.statSync(spillFile).size).toBe(2_000_000)
        const openFiles = fs.readdirSync("/proc/self/fd").map((fd) => {
          try {
            return fs.readlinkSync(`/proc/self/fd/${fd}`)
          } catch {
            return ""
          }
        })
        expect(openFiles).not.toContain(spillFile)
      }))

    it.live("normal exit: a background child left in the group is killed before run returns", () =>
      Effect.gen(function*() {
        const before = yield* Clock.currentTimeMillis
        const result = yield* run(spec(["bash", "-c", "sleep 300 & echo $!"]), { graceMs: 10_000 })
        const elapsed = (yield* Clock.currentTimeMillis) - before
        expect(result.code).toBe(0)
        const child = Number(text(result.stdout.bytes).trim())
        expect(child).toBeGreaterThan(0)
        expect(isAlive(child)).toBe(false)
        // The child holds stdout open: it is swept as soon as the leader exits (sleep obeys
        // SIGTERM, so no grace), not after the pipe-close grace.
        expect(elapsed).toBeLessThan(1_500)
      }))

    it.live("normal exit: a SIGTERM-ignoring background child is SIGKILLed after the grace", () =>
      Effect.gen(function*() {
        const before = yield* Clock.currentTimeMillis
        const result = yield* run(spec(["bash", "-c", "trap '' TERM; sleep 300 & echo $!"]))
        const elapsed = (yield* Clock.currentTimeMillis) - before
        expect(result.code).toBe(0)
        expect(isAlive(Number(text(result.stdout.bytes).trim()))).toBe(false)
        expect(elapsed).toBeGreaterThanOrEqual(testGraceMs - 50)
      }))

    it.live("normal exit: a descendant that escaped with setsid is found by its marker and killed", () =>
      Effect.gen(function*() {
        const result = yield* run(spec(["bash", "-c", "setsid sleep 300 & echo $!"]))
        expect(result.code).toBe(0)
        const escaped = Number(text(result.stdout.bytes).trim())
        expect(escaped).toBeGreaterThan(0)
        expect(isAlive(escaped)).toBe(false)
      }))

    it.live("normal exit: an escapee caught between execs (empty environment) is re-read and killed", () =>
      Effect.gen(function*() {
        // Models the execve(2) window, where /proc/<pid>/environ reads back empty: the escapee
        // runs without an environment for 50 ms, then execs straight into a program carrying
        // the marker. bash, not dash: dash exports PWD, so an `env` step in between would be a
        // process with neither an empty environment nor the marker — which no sweep can tell
        // from a stranger (that made this case fail now and then under load).
        const script = `setsid env -i /bin/bash -c "sleep 0.05; TROUPE_LEAF_ID=$TROUPE_LEAF_ID exec sleep 300" & echo $!`
        const result = yield* run(spec(["bash", "-c", script]))
        expect(result.code).toBe(0)
        const escaped = Number(text(result.stdout.bytes).trim())
        expect(escaped).toBeGreaterThan(0)
        expect(isAlive(escaped)).toBe(false)
      }))

    it.live("a pipe held open by a process that dropped the marker does not hang run", () =>
      Effect.gen(function*() {
        // Not ours to signal: no marker, own session. run gives up on end-of-file after the pipe grace.
        const result = yield* run(spec(["bash", "-c", "env -u TROUPE_LEAF_ID setsid sleep 30 & echo $!; sleep 0.2"]), {
          pipeCloseGraceMs: 200
        })
        const stranger = Number(text(result.stdout.bytes).trim())
        expect(stranger).toBeGreaterThan(0)
        expect(isAlive(stranger)).toBe(true)
        expect(readEnviron(stranger).some((entry) => entry.startsWith("TROUPE_LEAF_ID="))).toBe(false)
        process.kill(stranger, "SIGKILL")
      }))
  })

  describe("the LeafProcess interface (no capture)", () => {
    /** Starts a leaf on the suite's host and hands its LeafProcess to `use`, in one scope. */
    const started = <A, E>(start: StartSpec, use: (leaf: LeafProcess) => Effect.Effect<A, E>) =>
      Effect.flatMap(Hosts, (hosts) =>
        Effect.scoped(
          Effect.gen(function*() {
            const host = yield* hosts.acquire("local")
            const leaf = yield* host.start(start)
            const marker = readEnviron(leaf.identity.pid).find((e) => e.startsWith("TROUPE_LEAF_ID="))
            if (marker !== undefined) markers.add(marker)
            return yield* use(leaf)
          })
        )
      ).pipe(Effect.provide(entry.hosts({ graceMs: testGraceMs })))

    it.live("Pipe stdin through the sink, stdout as a byte Stream, exit 0; identity names the host", () =>
      Effect.gen(function*() {
        const input = randomBytes(300_000)
        const { code, out, identity } = yield* started({ argv: ["cat"], cwd: tmp, stdin: { _tag: "Pipe" } }, (leaf) =>
          Effect.gen(function*() {
            const reader = yield* Effect.fork(Stream.runCollect(leaf.stdout))
            yield* Stream.run(Stream.make(input.subarray(0, 100_000), input.subarray(100_000)), leaf.stdin)
            const out = Buffer.concat([...(yield* Fiber.join(reader))])
            const { code } = yield* leaf.exit
            return { code, out, identity: leaf.identity }
          }))
        expect(code).toBe(0)
        expect(sha256(out)).toBe(sha256(input))
        expect(identity.host).toBe(entry.identityHost?.() ?? entry.name)
        expect(identity.pid).toBeGreaterThan(0)
      }))

    it.live("signal reaches the leaf's process group; exit reports 128 + n and the signal", () =>
      Effect.gen(function*() {
        const status = yield* started({ argv: ["sleep", "300"], cwd: tmp, stdin: { _tag: "None" } }, (leaf) =>
          Effect.zipRight(leaf.signal("SIGTERM"), leaf.exit))
        expect(status).toEqual({ code: 143, signal: "SIGTERM" })
      }))

    it.live("a capped log keeps what fits, one notice and no more; without a spill only the tail is kept", () =>
      Effect.gen(function*() {
        const logFile = path.join(tmp, `capped-${++leafCounter}.log`)
        const outputDir = path.join(tmp, `capped-out-${leafCounter}`)
        const budget = { limitBytes: 100_000, size: 0, truncated: false }
        // 3 MB of output: past the log limit and past the 1 MiB capture limit.
        const result = yield* run(spec(["sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' 'y'"], {
          outputDir,
          logs: { stdout: { path: logFile, budget } },
          spill: false
        }))
        expect(result.code).toBe(0)
        expect(result.stdout.size).toBe(3_000_000)
        expect(result.stdout.spill).toBeUndefined()
        expect(result.stdout.log).toBe(logFile)
        expect(result.stdout.bytes.length).toBe(spilledTailBytes)
        expect(result.logLimitReached).toEqual(["stdout"])
        const log = fs.readFileSync(logFile, "latin1")
        expect(log.startsWith("y".repeat(100_000) + "\n[troupe: ")).toBe(true)
        expect(log).toMatch(/reached its limit of 100000 bytes/)
        expect(log.length).toBeLessThan(100_300)
        expect(budget).toMatchObject({ truncated: true })
        // Nothing was spilled: the output directory was never made.
        expect(fs.existsSync(outputDir)).toBe(false)
      }))

    it.live("a log that cannot be written (a full disk) fails the leaf with HostError output", () =>
      Effect.gen(function*() {
        const failure = yield* Effect.flip(run(spec(["sh", "-c", "echo hello"], { logs: { stdout: { path: "/dev/full" } } })))
        expect(failure).toMatchObject({ _tag: "HostError", reason: "output" })
        expect(failure.message).toMatch(/^cannot write \/dev\/full: .*ENOSPC/)
      }))

    it.live("capture over the LeafProcess streams (no host fast path) spills and tees the same bytes", () =>
      Effect.gen(function*() {
        const logFile = path.join(tmp, `streams-${++leafCounter}.log`)
        const result = yield* Effect.flatMap(Hosts, (hosts) =>
          Effect.scoped(Effect.gen(function*() {
            const host = yield* hosts.acquire("local")
            // Only the interface: the returned object carries no private fast path.
            const plain: HostShape = {
              ...host,
              start: (s) => Effect.map(host.start(s), (leaf): LeafProcess => ({
                identity: leaf.identity,
                stdout: leaf.stdout,
                stderr: leaf.stderr,
                stdin: leaf.stdin,
                exit: leaf.exit,
                signal: leaf.signal
              }))
            }
            return yield* runLeaf(plain, spec(["seq", "1", "450000"], { logs: { stdout: { path: logFile } } }))
          }))
        ).pipe(Effect.provide(entry.hosts({ graceMs: testGraceMs })))
        const expected = Buffer.from(Array.from({ length: 450000 }, (_, i) => `${i + 1}\n`).join(""))
        expect(result.code).toBe(0)
        expect(result.stdout.size).toBe(expected.length)
        expect(result.stdout.spill).toBeDefined()
        expect(sha256(fs.readFileSync(result.stdout.spill!))).toBe(sha256(expected))
        expect(sha256(fs.readFileSync(logFile))).toBe(sha256(expected))
        expect(text(result.stdout.bytes)).toBe(text(utf8SafeTail(expected, spilledTailBytes)))
      }))
  })
})
}
