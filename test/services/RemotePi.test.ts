/**
 * Pi on a (fake) VM under the setsid supervisor (PiRpc.startRemote / attachRemote / stopRemote):
 * REMOTE STREAMS (QUALITY.md) — SSH connections dropped twice during a FakePi "chatty" turn, and
 * a consumer that stops mid-turn and resumes from its last mark (as a restarted daemon does):
 * the events folded equal the events FakePi emitted, in order, none lost or repeated. Also: the
 * env file is 0600 and never on a command line, the supervisor survives the drop, and stopping
 * leaves no process.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Stream } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import type { PiEvent } from "../../src/domain/PiRpc.js"
import { VmId } from "../../src/domain/Vers.js"
import { attachRemote, type RemoteAgent, startRemote, stopRemote, type StreamMark } from "../../src/services/PiRpc.js"
import { Ssh } from "../../src/services/Ssh.js"
import { fakePiProgram } from "../../src/testing/FakePi.js"
import { closeVmFleet, sshLayerOf, vmFleet } from "../support/vmHosts.js"

afterAll(closeVmFleet, 30_000)

const chattyCount = 3000
const envFile = ".troupe/etc/troupe-agent.sh"

/** Whether `pid` runs (a zombie waiting for its reaper does not). */
const alive = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"))
  } catch {
    return false
  }
}

/** Waits (live clock, 20 ms steps, at most `ms`) until `check` holds. */
const pollUntil = (what: string, check: () => boolean, ms = 20_000) =>
  Effect.gen(function* () {
    for (let i = 0; i < ms / 20; i++) {
      if (check()) return
      yield* Effect.sleep("20 millis")
    }
    return yield* Effect.dieMessage(`timed out waiting for ${what}`)
  })

/** The event lines of an agent's `events.jsonl` (responses left out) and the chain digest over them. */
const emitted = (file: string) => {
  const lines = fs.readFileSync(file, "utf8").split("\n").filter((l) => l !== "")
  const events = lines.filter((l) => (JSON.parse(l) as { type: string }).type !== "response")
  let digest = ""
  for (const l of events) digest = createHash("sha256").update(digest).update(l).digest("hex")
  return { events, digest, bytes: fs.statSync(file).size }
}

const fleetAndSsh = Effect.gen(function* () {
  const { fleet, vm } = yield* Effect.promise(vmFleet)
  const ssh = Context.get(yield* Layer.build(sshLayerOf(fleet).pipe(Layer.orDie)), Ssh)
  return { fleet, vm: VmId.make(vm), ssh }
})

const start = (dir: string) =>
  Effect.gen(function* () {
    const { fleet, vm, ssh } = yield* fleetAndSsh
    const program = fakePiProgram()!
    // Stopped at the end even when the test fails: a fake VM's setsid processes are local ones.
    const agent = yield* Effect.acquireRelease(
      startRemote(ssh, {
        vmId: vm,
        dir,
        pi: `${process.execPath} ${program} --fake-mode chatty`,
        env: { VERS_VM_ID: vm, FAKE_PI_CHATTY_COUNT: String(chattyCount), FAKE_PI_CHATTY_PAUSE_MS: "15", SECRET_THING: "s3cr3t value" },
        envFile
      }),
      (a) => stopRemote(ssh, a, 500)
    )
    return { fleet, vm, ssh, agent, root: fleet.ssh.vm(vm)!.root }
  })

interface Folded {
  readonly event: PiEvent
  readonly mark: StreamMark
}

const textDeltas = (folded: ReadonlyArray<Folded>) =>
  folded.flatMap(({ event }) => (event.type === "message_update" && event.assistantMessageEvent.type === "text_delta" ? [event.assistantMessageEvent.delta ?? ""] : []))

describe("PiRpc on a VM (setsid supervisor, FIFO in, event file out)", () => {
  it.live("dropped SSH connections during a chatty turn lose and repeat no event", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { fleet, vm, ssh, agent, root } = yield* start(".troupe/agents/drop")
        const envPath = path.join(root, envFile)
        expect(fs.statSync(envPath).mode & 0o777).toBe(0o600)
        expect(fs.readFileSync(envPath, "utf8")).toContain("export SECRET_THING='s3cr3t value'")
        // The secret is on no command line of the VM's processes.
        const cmdlines = fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p)).map((p) => {
          try {
            return fs.readFileSync(`/proc/${p}/cmdline`, "utf8")
          } catch {
            return ""
          }
        })
        expect(cmdlines.some((c) => c.includes("s3cr3t"))).toBe(false)

        // The supervisor's identity for reaping: its start time as /proc says.
        expect(agent.startTime).toBe(Number(fs.readFileSync(`/proc/${agent.pid}/stat`, "utf8").split(") ")[1]!.split(" ")[19]))
        const pi = yield* attachRemote(ssh, agent)
        const events = yield* pi.subscribe
        const folded: Array<Folded> = []
        yield* Effect.forkScoped(Stream.runForEach(events, (event) => Effect.map(pi.nextMark, (mark) => void folded.push({ event, mark }))))
        yield* pi.open
        yield* pi.prompt("go")
        yield* pollUntil("500 events", () => folded.length >= 500)
        expect(fleet.ssh.dropConnections(vm)).toBe(true)
        yield* pollUntil("1,500 events", () => folded.length >= 1500)
        // Still mid-turn: FakePi has not settled the run yet.
        expect(folded.some((f) => f.event.type === "agent_settled")).toBe(false)
        fleet.ssh.dropConnections(vm)
        // The supervisor (own session) survived both drops.
        expect(alive(agent.pid)).toBe(true)
        yield* pollUntil("FakePi's count", () => folded.some((f) => f.event.type === "unknown" && f.event.name === "fake_pi_emitted"))

        const report = folded.at(-1)!.event as Extract<PiEvent, { type: "unknown" }>
        expect((report.raw as { count: number }).count).toBe(folded.length - 1)
        const deltas = textDeltas(folded)
        expect(deltas.slice(0, chattyCount)).toEqual(Array.from({ length: chattyCount }, (_, i) => `${i} `))
        const file = emitted(path.join(root, agent.dir, "events.jsonl"))
        expect(folded.length).toBe(file.events.length)
        expect(folded.at(-1)!.mark).toEqual({ offset: file.bytes, events: file.events.length, digest: file.digest })
        // A command still works on a writer channel reopened after the drops.
        expect((yield* pi.send({ type: "get_state" })).isStreaming).toBe(false)

        yield* stopRemote(ssh, agent, 2000)
        yield* pollUntil("the supervisor to end", () => !alive(agent.pid))
      })
    ), 60_000)

  it.live("a consumer that stops mid-turn resumes from its last mark: the two folds are FakePi's sequence", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { ssh, agent, root } = yield* start(".troupe/agents/resume")
        const folded: Array<Folded> = []
        // First consumer: folds until 800 events, then its scope closes (a daemon gone).
        yield* Effect.scoped(
          Effect.gen(function* () {
            const pi = yield* attachRemote(ssh, agent)
            const events = yield* pi.subscribe
            const stop = yield* Effect.makeLatch(false)
            yield* Effect.forkScoped(Stream.runForEach(events, (event) =>
              folded.length >= 800 ? stop.open : Effect.map(pi.nextMark, (mark) => void folded.push({ event, mark }))))
            yield* pi.open
            yield* pi.prompt("go")
            yield* stop.await
          })
        )
        expect(folded.length).toBe(800)
        const last: StreamMark = folded.at(-1)!.mark
        // Second consumer: from the persisted mark.
        const pi = yield* attachRemote(ssh, agent, { from: last })
        const events = yield* pi.subscribe
        yield* Effect.forkScoped(Stream.runForEach(events, (event) => Effect.map(pi.nextMark, (mark) => void folded.push({ event, mark }))))
        yield* pi.open
        yield* pollUntil("FakePi's count", () => folded.some((f) => f.event.type === "unknown" && f.event.name === "fake_pi_emitted"))
        const report = folded.at(-1)!.event as Extract<PiEvent, { type: "unknown" }>
        expect((report.raw as { count: number }).count).toBe(folded.length - 1)
        expect(textDeltas(folded).slice(0, chattyCount)).toEqual(Array.from({ length: chattyCount }, (_, i) => `${i} `))
        const file = emitted(path.join(root, agent.dir, "events.jsonl"))
        expect(folded.at(-1)!.mark).toEqual({ offset: file.bytes, events: file.events.length, digest: file.digest })
        yield* stopRemote(ssh, agent, 2000)
        yield* pollUntil("the supervisor to end", () => !alive(agent.pid))
      })
    ), 60_000)

  it.live("stopping a remote agent ends its whole process group; a crashed Pi ends the session with its exit", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { vm, ssh } = yield* fleetAndSsh
        const program = fakePiProgram()!
        const agent: RemoteAgent = yield* Effect.acquireRelease(
          startRemote(ssh, { vmId: vm, dir: ".troupe/agents/crash", pi: `${process.execPath} ${program} --fake-mode crash`, env: {}, envFile }),
          (a) => stopRemote(ssh, a, 500)
        )
        const pi = yield* attachRemote(ssh, agent)
        yield* pi.open
        yield* pi.prompt("go")
        const reason = yield* pi.closed
        expect(reason.message).toContain("exited with code 3: fake-pi: crashed on purpose")
        yield* pollUntil("the supervisor to end", () => !alive(agent.pid))
      })
    ), 60_000)
})
