/**
 * The in-process actor runtime for tests: `Runtime.layer` (the one layer graph the daemon and
 * `Troupe.layer` use) with a test home, a short kill grace and an injectable `Host`.
 * Plus `clockHost`, a fake `Host` whose leaves "run" on the `Clock`, so TestClock drives them.
 */
import { FileSystem } from "@effect/platform"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Clock, Effect, Layer, TestServices } from "effect"
import * as Output from "../../src/domain/Output.js"
import * as Config from "../../src/layers/Config.js"
import * as Runtime from "../../src/layers/Runtime.js"
import { Host, type LeafSpec } from "../../src/services/Host.js"
import { LocalHost } from "../../src/services/LocalHost.js"

/** SIGTERM → SIGKILL grace of the real host and of `TroupeConfig` in tests, ms. */
export const testKillGraceMs = 300

/**
 * `Runtime.layer` — Router, Supervisor, Inspector, Events, Mailbox, Rooms, Store (SQLite under a
 * fresh temporary home), CommandGraph, Recipes, Registry, `TroupeConfig`, Node platform — on
 * `host` (default: a real `LocalHost` with a 300 ms grace). `home`: use this directory instead
 * of a temporary one (created if missing, kept); `config`: other configuration overrides
 * (e.g. `userRecipes`).
 */
export const testRuntime = (
  options: {
    readonly host?: Layer.Layer<Host> | undefined
    readonly home?: string | undefined
    readonly config?: Partial<Config.TroupeConfigShape> | undefined
  } = {}
) => {
  const config = Layer.unwrapScoped(
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const home = options.home ?? (yield* fs.makeTempDirectoryScoped({ prefix: "troupe-home-" }))
      yield* fs.makeDirectory(home, { recursive: true, mode: 0o700 })
      return Config.layer({ home, killGraceMs: testKillGraceMs, ...options.config })
    })
    // A test home that cannot be made is a broken test machine.
  ).pipe(Layer.provide(NodeContext.layer), Layer.orDie)
  const host = options.host ?? LocalHost.layer({ graceMs: testKillGraceMs, pipeCloseGraceMs: 500 })
  return Runtime.layer({}, { config, host })
}

/** What a `clockHost` has seen: every leaf it started, and how many are running now. */
export interface ClockHostStats {
  readonly specs: Array<LeafSpec>
  running: number
  interrupted: number
}

/**
 * A fake host on the `Clock`: the leaf `["<name>", "<ms>", "<code>"]` "runs" for `ms` ms
 * (`Effect.sleep`) and exits with `code` (default 0), writing `leaf <n>` on stdout and, when it
 * fails, `boom <n>` on stderr. Each leaf gets a distinct fake identity (`pid` = 100000 + n).
 */
export const clockHost = () => {
  const stats: ClockHostStats = { specs: [], running: 0, interrupted: 0 }
  const encode = (s: string) => new TextEncoder().encode(s)
  const layer = Layer.succeed(Host, {
    reap: () => Effect.succeed(0),
    run: (spec) =>
      Effect.gen(function* () {
        stats.specs.push(spec)
        const n = stats.specs.length
        const ms = Number(spec.argv[1] ?? 0)
        const code = Number(spec.argv[2] ?? 0)
        const identity = { host: "local", pid: 100_000 + n, pgid: 100_000 + n, startTime: n, marker: `fake-${n}` }
        const started = yield* Clock.currentTimeMillis
        if (spec.onSpawn !== undefined) yield* spec.onSpawn(identity)
        stats.running++
        yield* Effect.sleep(ms).pipe(
          Effect.onInterrupt(() => Effect.sync(() => void stats.interrupted++)),
          Effect.ensuring(Effect.sync(() => void stats.running--))
        )
        const ended = yield* Clock.currentTimeMillis
        return {
          code,
          stdout: Output.outputFromBytes(encode(`leaf ${n}\n`)),
          stderr: code === 0 ? Output.emptyOutput : Output.outputFromBytes(encode(`boom ${n}\n`)),
          durationMs: ended - started,
          identity
        }
      })
  })
  return { layer, stats } as const
}

/** Sleeps on the real clock (inside a TestClock test): lets forked fibers and I/O progress. */
export const liveSleep = (ms: number) => TestServices.provideLive(Effect.sleep(ms))

/**
 * Polls `check` on the real clock every 2 ms until it holds; dies after `timeoutMs` of real
 * time with `what` in the message. Use it to wait for a fiber to reach a point (a leaf started,
 * a restart recorded) before adjusting the TestClock.
 */
export const eventually = <E, R>(what: string, check: Effect.Effect<boolean, E, R>, timeoutMs = 20_000) =>
  Effect.gen(function* () {
    for (let waited = 0; ; waited += 2) {
      if (yield* check) return
      if (waited >= timeoutMs) return yield* Effect.die(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`))
      yield* liveSleep(2)
    }
  })
