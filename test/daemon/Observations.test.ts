/**
 * Consistent observations through a real daemon (issue 12 item 7): once `wait` reports a run
 * terminal, `logs` shows all of its output — the `stdout` `wait` returned is exactly the end of
 * `stdout.log`, and every stderr line is in `stderr.log` — and `logs` of a live run never
 * loses what an earlier read showed. Twenty iterations each, so a race between the output
 * tee and the terminal transition would show; the machine may be busy.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Scope, Stream } from "effect"
import { join } from "node:path"
import { makeRemote } from "../../src/daemon/Client.js"
import * as Config from "../../src/layers/Config.js"
import { output } from "../support/exec.js"
import { scratch } from "../support/graph.js"

const bin = join(process.cwd(), "dist/bin/troupe.js")
const iterations = 20

const env = (home: string) => ({ ...process.env, TROUPE_HOME: home, NO_COLOR: "1", TROUPE_SESSION: "obs", TROUPE_TOKEN: "", TROUPE_KILL_GRACE_MS: "300" })

const text = <E>(s: Stream.Stream<Uint8Array, E>) => s.pipe(Stream.decodeText(), Stream.runFold("", (a, b) => a + b))

/** A shell loop printing `n` numbered lines to stdout and to stderr, interleaved. */
const chatty = (tag: string, n: number) =>
  `sh -c 'i=0; while [ $i -lt ${n} ]; do echo ${tag}-out-$i; echo ${tag}-err-$i >&2; i=$((i+1)); done'`

describe("logs agree with wait", () => {
  it.live(`after wait returns terminal, logs shows all output (${iterations} runs)`, () => {
    const home = join(scratch("troupe-obs-"), "home")
    return Effect.gen(function* () {
      yield* Effect.promise(() => output(process.execPath, [bin, "daemon", "start"], { env: env(home) }))
      const scope = yield* Scope.make()
      const remote = yield* makeRemote({ home, session: "obs", autoStart: false }).pipe(
        Scope.extend(scope),
        Effect.provide(Layer.mergeAll(Config.layer({ home }), NodeContext.layer))
      )
      const actors = remote.actors
      for (let i = 0; i < iterations; i++) {
        const tag = `r${i}`
        // From 1 to 400 lines: short runs end before anything is polled, long ones race it.
        const n = 1 + ((i * 97) % 400)
        const run = yield* actors.spawn({ template: chatty(tag, n), as: tag })
        const outcome = yield* actors.wait(run.id, { timeoutMs: 60_000 })
        expect(outcome.timed_out).toBe(false)
        expect(outcome.run.state).toBe("done")
        const expected = Array.from({ length: n }, (_, k) => `${tag}-out-${k}\n`).join("")
        expect(outcome.stdout).toBe(expected)
        const stdout = yield* text(actors.logs(run.id, { stream: "stdout" }))
        const stderr = yield* text(actors.logs(run.id, { stream: "stderr" }))
        expect(stdout).toBe(expected)
        expect(stderr).toBe(Array.from({ length: n }, (_, k) => `${tag}-err-${k}\n`).join(""))
      }

      // A live run: each read of its log starts with everything an earlier read showed, until
      // the last line is there (bounded: 60 s).
      const live = yield* actors.spawn({ template: `sh -c 'i=0; while [ $i -lt 3000 ]; do echo live-$i; i=$((i+1)); done; exec sleep 30'`, as: "live" })
      let seen = ""
      let reads = 0
      const deadline = Date.now() + 60_000
      while (!seen.includes("live-2999\n")) {
        expect(Date.now() < deadline, "the live run's output did not reach its log within 60 s").toBe(true)
        const now = yield* text(actors.logs(live.id, { stream: "stdout" }))
        expect(now.startsWith(seen)).toBe(true)
        seen = now
        reads++
      }
      expect(seen).toBe(Array.from({ length: 3000 }, (_, k) => `live-${k}\n`).join(""))
      expect(reads).toBeGreaterThan(0)
      yield* actors.kill(live.id)
      yield* Scope.close(scope, Exit.void)
    }).pipe(Effect.ensuring(Effect.promise(() => output(process.execPath, [bin, "daemon", "stop"], { env: env(home) }))))
  }, 240_000)
})
