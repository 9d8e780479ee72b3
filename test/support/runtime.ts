/**
 * The in-process actor runtime for tests: `Runtime.layer` (the one layer graph the daemon and
 * `Troupe.layer` use) with a test home, a short kill grace and an injectable `Host`.
 * Plus `clockHost`, a fake `Host` whose leaves "run" on the `Clock`, so TestClock drives them.
 */
import { FileSystem } from "@effect/platform"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Duration, Effect, Layer, TestServices } from "effect"
import * as Config from "../../src/layers/Config.js"
import * as Runtime from "../../src/layers/Runtime.js"
import type { CommandGraph } from "../../src/services/CommandGraph.js"
import { Host, type StartSpec } from "../../src/services/Host.js"
import type { Hosts } from "../../src/services/Hosts.js"
import { PipeCloseGrace } from "../../src/services/LeafCapture.js"
import { LocalHost } from "../../src/services/LocalHost.js"
import type { RunKinds } from "../../src/services/runs/RunKinds.js"
import { fakeHost, fakeLeaf } from "./fakeHost.js"

/** SIGTERM → SIGKILL grace of the real host and of `TroupeConfig` in tests, ms. */
export const testKillGraceMs = 300

/**
 * `Runtime.layer` — Router, Supervisor, Inspector, Events, Mailbox, Rooms, Store (SQLite under a
 * fresh temporary home), CommandGraph, Recipes, Registry, `TroupeConfig`, Node platform — on
 * `host` (default: a real `LocalHost` with a 300 ms grace; 500 ms pipe-close grace), `hosts` over it, `kinds`. `home`: use this directory instead
 * of a temporary one (created if missing, kept); `config`: other configuration overrides
 * (e.g. `userRecipes`).
 */
export const testRuntime = (
  options: {
    readonly host?: Layer.Layer<Host> | undefined
    /** The `Hosts` (default: `Hosts.layer()`, serving `host` as `local`). */
    readonly hosts?: Layer.Layer<Hosts, never, Host> | undefined
    /** The run kinds (default: `RunKinds.layer`, i.e. `template`). */
    readonly kinds?: Layer.Layer<RunKinds, never, CommandGraph> | undefined
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
  const host = options.host ?? LocalHost.layer({ graceMs: testKillGraceMs, env: process.env })
  return Runtime.layer({}, { config, host, hosts: options.hosts, kinds: options.kinds }).pipe(
    Layer.provide(Layer.succeed(PipeCloseGrace, Duration.millis(500)))
  )
}

/** What a `clockHost` has seen: every leaf it started, and how many are running now. */
export interface ClockHostStats {
  readonly specs: Array<StartSpec>
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
  const layer = Layer.succeed(
    Host,
    fakeHost((spec) =>
      Effect.gen(function* () {
        stats.specs.push(spec)
        const n = stats.specs.length
        const ms = Number(spec.argv[1] ?? 0)
        const code = Number(spec.argv[2] ?? 0)
        stats.running++
        // Running until the leaf's scope closes (exit, or a kill that interrupts it).
        yield* Effect.addFinalizer(() => Effect.sync(() => void stats.running--))
        return fakeLeaf({
          identity: { host: "local", pid: 100_000 + n, pgid: 100_000 + n, startTime: n, marker: `fake-${n}` },
          stdout: encode(`leaf ${n}\n`),
          stderr: code === 0 ? undefined : encode(`boom ${n}\n`),
          exit: Effect.sleep(ms).pipe(
            Effect.as({ code }),
            Effect.onInterrupt(() => Effect.sync(() => void stats.interrupted++))
          )
        })
      })
    )
  )
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
