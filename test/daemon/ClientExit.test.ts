/**
 * No hang on client exit (issue 18, problem 1): a client whose daemon died disposes at once
 * even after the RPC client pinged the closed connection, and `troupe daemon stop` ends
 * within its deadline when the daemon becomes a zombie (exited, never reaped).
 */
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { Clock, Duration, Effect, Exit, Layer, ManagedRuntime } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { Actors } from "../../src/services/Actors.js"
import { Troupe } from "../../src/Troupe.js"
import { pollUntil, troupeBin, troupeBinPath } from "../support/exec.js"
import { scratch } from "../support/graph.js"
import { alive, daemonPid } from "../support/procs.js"

const homes: Array<string> = []
const env = (home: string) => ({ ...process.env, TROUPE_HOME: home, NO_COLOR: "1", TROUPE_SESSION: "", TROUPE_TOKEN: "", TROUPE_KILL_GRACE_MS: "300" })
const troupe = (home: string, args: ReadonlyArray<string>) => troupeBin(args, { env: env(home), timeout: 60_000 })

const freshHome = () => {
  const home = join(scratch("troupe-exit-"), "home")
  homes.push(home)
  return home
}

afterEach(async () => {
  for (const home of homes.splice(0)) await troupe(home, ["daemon", "stop"])
})

/**
 * The live clock, but the RPC client's 10 s ping period (`@effect/rpc` `makePinger`, not
 * configurable) lasts 100 ms, and each elapsed period is counted: the count is the signal that
 * the client has written a ping since.
 */
const pingClock = () => {
  const live = Clock.make()
  const periods = { elapsed: 0 }
  const clock: Clock.Clock = {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => live.unsafeCurrentTimeMillis(),
    unsafeCurrentTimeNanos: () => live.unsafeCurrentTimeNanos(),
    currentTimeMillis: live.currentTimeMillis,
    currentTimeNanos: live.currentTimeNanos,
    sleep: (duration) =>
      Duration.toMillis(duration) === 10_000
        ? Effect.zipRight(live.sleep(Duration.millis(100)), Effect.sync(() => void periods.elapsed++))
        : live.sleep(duration)
  }
  return { clock, periods }
}

/** Resolves with whether `promise` settled within `ms`. */
const settlesWithin = (promise: Promise<unknown>, ms: number) =>
  Promise.race([promise.then(() => true, () => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))])

describe("client exit", () => {
  it("Troupe.client disposes at once after its daemon died and a ping went to the closed connection", async () => {
    const home = freshHome()
    expect((await troupe(home, ["daemon", "start"])).code).toBe(0)
    const { clock, periods } = pingClock()
    const runtime = ManagedRuntime.make(Troupe.client({ home, session: "exit", autoStart: false }).pipe(Layer.provide(Layer.setClock(clock))))
    const list = Effect.flatMap(Actors, (actors) => actors.list())
    expect(await runtime.runPromise(list)).toEqual([])
    // Pings are answered while the daemon lives.
    expect(await pollUntil(() => periods.elapsed >= 2, 10_000)).toBe(true)

    const pid = daemonPid(home)
    process.kill(pid, "SIGKILL")
    expect(await pollUntil(() => !alive(pid), 10_000)).toBe(true)
    // The client noticed: a call fails as `unavailable` instead of waiting.
    expect(await pollUntil(async () => {
      const exit = await runtime.runPromiseExit(list)
      return Exit.isFailure(exit) && String(exit.cause).includes("troupe daemon")
    }, 10_000)).toBe(true)
    // Two more ping periods: the client has written to the closed connection.
    const seen = periods.elapsed
    expect(await pollUntil(() => periods.elapsed >= seen + 2, 10_000)).toBe(true)

    expect(await settlesWithin(runtime.dispose(), 5_000)).toBe(true)
  })

  it("daemon stop tells a zombie daemon from a live one and exits 0 at once", async () => {
    const home = freshHome()
    // The daemon's parent `sh` execs `sleep`, which never reaps it: once stopped, it is a zombie.
    const parent = spawn("sh", ["-c", `"${process.execPath}" "${troupeBinPath}" daemon start --foreground & exec sleep 60`], {
      env: env(home),
      stdio: "ignore"
    })
    try {
      expect(await pollUntil(() => existsSync(join(home, "troupe.sock")) && existsSync(join(home, "daemon.pid")), 20_000)).toBe(true)
      const pid = daemonPid(home)
      const started = Date.now()
      const stopped = await troupe(home, ["daemon", "stop"])
      expect(stopped.stderr).toBe("")
      expect(stopped.code).toBe(0)
      expect(stopped.stdout.trim()).toBe("troupe daemon stopped")
      // Well under the 30 s deadline a `kill(pid, 0)` check would have waited out.
      expect(Date.now() - started).toBeLessThan(15_000)
      // It was a zombie, not gone: signal 0 still reaches it.
      expect(alive(pid)).toBe(true)
    } finally {
      parent.kill("SIGKILL")
    }
  })
})
