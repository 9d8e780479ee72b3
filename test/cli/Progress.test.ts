/**
 * Progress on a terminal (issue 19 item 5): a one-line spinner on stderr while a long command
 * works, erased at the end; nothing at all (no escape code) off a terminal, with NO_COLOR or
 * in CI. The terminal path is driven with stderr's `isTTY` set and its writes captured.
 */
import { it } from "@effect/vitest"
import { Deferred, Effect } from "effect"
import { describe, expect } from "vitest"
import { prunedText } from "../../src/cli/ActorCommands.js"
import { progressLine, progressWanted, withProgress } from "../../src/cli/Progress.js"
import { swarmProgressText } from "../../src/cli/SwarmCommands.js"

const esc = "\u001b["

/** Runs `body` with stderr's isTTY and the progress variables set, capturing what is written to stderr. */
const onStderr = <A, E>(isTTY: boolean, env: Record<string, string | undefined>, body: (written: Array<string>, wrote: Deferred.Deferred<void>) => Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const wrote = yield* Deferred.make<void>()
    const written: Array<string> = []
    return yield* Effect.acquireUseRelease(
      Effect.sync(() => {
        const saved = { isTTY: process.stderr.isTTY, write: process.stderr.write, env: { CI: process.env.CI, NO_COLOR: process.env.NO_COLOR, TERM: process.env.TERM } }
        Object.assign(process.stderr, { isTTY })
        process.stderr.write = ((chunk: string | Uint8Array) => {
          written.push(String(chunk))
          Deferred.unsafeDone(wrote, Effect.void)
          return true
        }) as typeof process.stderr.write
        for (const k of ["CI", "NO_COLOR", "TERM"] as const) {
          if (k in env) {
            if (env[k] === undefined) delete process.env[k]
            else process.env[k] = env[k]
          } else delete process.env[k]
        }
        return saved
      }),
      () => body(written, wrote),
      (saved) =>
        Effect.sync(() => {
          Object.assign(process.stderr, { isTTY: saved.isTTY })
          process.stderr.write = saved.write
          for (const [k, v] of Object.entries(saved.env)) {
            if (v === undefined) delete process.env[k]
            else process.env[k] = v
          }
        })
    )
  })

describe("progress lines", () => {
  it("is drawn only on a TTY without NO_COLOR, CI or TERM=dumb", () => {
    expect(progressWanted({ isTTY: true })).toBe(true)
    expect(progressWanted({ isTTY: true, noColor: "" })).toBe(true)
    expect(progressWanted({ isTTY: false })).toBe(false)
    expect(progressWanted({ isTTY: undefined })).toBe(false)
    expect(progressWanted({ isTTY: true, noColor: "1" })).toBe(false)
    expect(progressWanted({ isTTY: true, ci: "true" })).toBe(false)
    expect(progressWanted({ isTTY: true, term: "dumb" })).toBe(false)
  })

  it("says what, with a spinner frame and whole seconds; swarm and prune texts stay one short line", () => {
    expect(progressLine("creating VM (booting)", 0, 3400)).toBe("⠋ creating VM (booting) 3s")
    expect(progressLine("x", 11, 0)).toBe("⠙ x 0s")
    expect(swarmProgressText("fix", new Map())).toBe("swarm fix: 0 workers")
    expect(swarmProgressText("fix", new Map([["api", "vm"], ["ui", "vm"], ["docs", "spawn"]] as const))).toBe("swarm fix: 3 workers: 2 restoring a VM, 1 starting Pi")
    expect(prunedText([])).toBe("nothing to prune")
    expect(prunedText(["a", "b"])).toBe("pruned run:a run:b")
    const many = prunedText(Array.from({ length: 250 }, (_, i) => `r${i}`))
    expect(many).toMatch(/^pruned 250 runs: run:r0 run:r1 .* run:r9 and 240 more \(--json lists them all\)$/)
  })

  it.live("on a TTY: a spinner line while the work runs, updated by set, erased at the end", () =>
    onStderr(true, {}, (written, wrote) =>
      Effect.gen(function* () {
        const result = yield* withProgress("pruning runs", true, (progress) =>
          Effect.gen(function* () {
            yield* Deferred.await(wrote).pipe(Effect.timeout("10 seconds"))
            yield* progress.set("pruning 3 runs")
            return 42
          }))
        expect(result).toBe(42)
        const text = written.join("")
        expect(text).toContain("⠋ pruning runs 0s")
        expect(text).toContain("pruning 3 runs")
        // Erased: the last write clears the line (log-update's eraseLines), no text after it.
        expect(written[written.length - 1]).toContain(`${esc}2K`)
        const drawsAfterEnd = written.length
        yield* Effect.sleep("250 millis")
        expect(written.length, "no frame after the work ended").toBe(drawsAfterEnd)
      })))

  it.live("the line is erased when the work fails too", () =>
    onStderr(true, {}, (written, wrote) =>
      Effect.gen(function* () {
        const failed = yield* withProgress("creating VM (booting)", true, () => Effect.zipRight(Deferred.await(wrote), Effect.fail("boom" as const))).pipe(Effect.flip)
        expect(failed).toBe("boom")
        expect(written.join("")).toContain("creating VM (booting)")
        expect(written[written.length - 1]).toContain(`${esc}2K`)
      })))

  for (const [name, isTTY, env] of [
    ["off a TTY", false, {}],
    ["with NO_COLOR", true, { NO_COLOR: "1" }],
    ["in CI", true, { CI: "true" }],
    ["when asked not to (--json)", true, "hidden"]
  ] as const) {
    it.live(`${name}: nothing is written`, () =>
      onStderr(isTTY, env === "hidden" ? {} : env, (written) =>
        Effect.gen(function* () {
          const result = yield* withProgress("pruning runs", env !== "hidden", (progress) => Effect.as(Effect.zipRight(progress.set("still pruning"), Effect.sleep("150 millis")), "done"))
          expect(result).toBe("done")
          expect(written).toEqual([])
        })))
  }
})
