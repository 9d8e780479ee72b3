/**
 * Whose environment a run gets (issue 18, problem 7; docs/daemon.md "Environment"): the
 * spawning client's, never that of the command that auto-started the daemon. Built CLI and
 * the library client (`Troupe.client`, as the Pi adapter uses it) against a fresh home.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, ManagedRuntime } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { Actors } from "../../src/services/Actors.js"
import { Troupe } from "../../src/Troupe.js"
import { troupeBin } from "../support/exec.js"
import { scratch } from "../support/graph.js"
import { daemonPid } from "../support/procs.js"

const homes: Array<string> = []

/** The test runner's environment without variables that would change who the command acts as. */
const baseEnv = () => {
  const env: Record<string, string | undefined> = { ...process.env }
  for (const name of ["TROUPE_SESSION", "TROUPE_TOKEN", "TROUPE_RUN", "SECRET_A", "SECRET_B"]) delete env[name]
  return env
}

const troupe = (home: string, args: ReadonlyArray<string>, extraEnv: Record<string, string> = {}) =>
  troupeBin(args, { env: { ...baseEnv(), TROUPE_HOME: home, NO_COLOR: "1", TROUPE_KILL_GRACE_MS: "300", ...extraEnv }, timeout: 60_000 })

const freshHome = () => {
  const home = join(scratch("troupe-env-"), "home")
  homes.push(home)
  return home
}

afterEach(async () => {
  for (const home of homes.splice(0)) await troupe(home, ["daemon", "stop"])
})

/** The `NAME=value` lines a finished run printed with `env`. */
const printedEnv = async (home: string, run: string, extraEnv: Record<string, string> = {}) => {
  const waited = await troupe(home, ["wait", `run:${run}`, "--all"], extraEnv)
  expect(waited.code).toBe(0)
  return waited.stdout.split("\n")
}

describe("a run's environment is its spawning client's", () => {
  it("session A's secret never reaches session B's run; the daemon keeps a minimal environment", async () => {
    const home = freshHome()
    // A auto-starts the daemon with its spawn.
    const a = await troupe(home, ["spawn", "--template", "env", "--as", "from-a", "--session", "a"], { SECRET_A: "alpha-secret" })
    expect(a.code).toBe(0)
    const b = await troupe(home, ["spawn", "--template", "env", "--as", "from-b", "--session", "b"], { SECRET_B: "beta-secret" })
    expect(b.code).toBe(0)

    const fromA = await printedEnv(home, "from-a")
    const fromB = await printedEnv(home, "from-b")
    // Both runs printed their environment (PATH comes with every client's).
    expect(fromA.some((l) => l.startsWith("PATH="))).toBe(true)
    expect(fromA).toContain("SECRET_A=alpha-secret")
    expect(fromA).not.toContain("SECRET_B=beta-secret")
    expect(fromB).toContain("SECRET_B=beta-secret")
    expect(fromB.some((l) => l.startsWith("SECRET_A="))).toBe(false)
    // troupe's own variables describe the new run, not the client's.
    expect(fromB).toContain("TROUPE_RUN=from-b")

    // The daemon auto-started by A does not hold A's environment.
    const daemonEnv = readFileSync(`/proc/${daemonPid(home)}/environ`, "utf8").split("\0")
    expect(daemonEnv.some((l) => l.startsWith("PATH="))).toBe(true)
    expect(daemonEnv.some((l) => l.startsWith("SECRET_A="))).toBe(false)
    expect(daemonEnv).toContain(`TROUPE_HOME=${home}`)
  })

  it("the library client sends its caller's environment (or the one it is given)", async () => {
    const home = freshHome()
    expect((await troupe(home, ["daemon", "start"], { SECRET_A: "alpha-secret" })).code).toBe(0)
    const runtime = ManagedRuntime.make(Troupe.client({ home, session: "lib", env: { ...baseEnv(), SECRET_B: "given" } }))
    try {
      await runtime.runPromise(Effect.flatMap(Actors, (actors) => actors.spawn({ template: "env", as: "lib-run" })))
    } finally {
      await runtime.dispose()
    }
    const lines = await printedEnv(home, "lib-run")
    expect(lines).toContain("SECRET_B=given")
    expect(lines.some((l) => l.startsWith("SECRET_A="))).toBe(false)
  })
})
