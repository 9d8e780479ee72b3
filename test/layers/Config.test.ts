/**
 * The configuration layer (`src/layers/Config.ts`) reads `TROUPE_LOCAL_HOST` into
 * `TroupeConfig.localHost`: `local` by default, `broker` when asked, and any other value is an
 * `InvalidConfiguration` the CLI prints as one line.
 */
import { ConfigProvider, Effect, Exit, Cause } from "effect"
import { describe, expect, it } from "vitest"
import * as Config from "../../src/layers/Config.js"
import { TroupeConfig } from "../../src/services/TroupeConfig.js"
import { troupeBin } from "../support/exec.js"

const localHostWith = (env: Record<string, string>) =>
  Effect.runPromiseExit(
    Effect.map(TroupeConfig, (c) => c.localHost).pipe(
      Effect.provide(Config.layer()),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
    )
  )

describe("TROUPE_LOCAL_HOST", () => {
  it("defaults to local, reads broker, and an override wins", async () => {
    expect(await localHostWith({})).toEqual(Exit.succeed("local"))
    expect(await localHostWith({ TROUPE_LOCAL_HOST: "local" })).toEqual(Exit.succeed("local"))
    expect(await localHostWith({ TROUPE_LOCAL_HOST: "broker" })).toEqual(Exit.succeed("broker"))
    const overridden = await Effect.runPromise(
      Effect.map(TroupeConfig, (c) => c.localHost).pipe(
        Effect.provide(Config.layer({ localHost: "broker" })),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))
      )
    )
    expect(overridden).toBe("broker")
  })

  it("any other value is an InvalidConfiguration naming the variable and the value", async () => {
    const exit = await localHostWith({ TROUPE_LOCAL_HOST: "vm" })
    expect(Exit.isFailure(exit)).toBe(true)
    if (Exit.isFailure(exit)) {
      const defect = Cause.squash(exit.cause)
      expect(defect).toBeInstanceOf(Config.InvalidConfiguration)
      expect((defect as Config.InvalidConfiguration).message).toBe('TROUPE_LOCAL_HOST must be local or broker, not "vm"')
    }
  })

  it("the built CLI prints it as one line and exits 1", async () => {
    const r = await troupeBin(["daemon", "status"], { env: { ...process.env, TROUPE_LOCAL_HOST: "vm", TROUPE_HOME: "/nonexistent/troupe-config-test" } })
    expect(r.stderr).toBe('error: TROUPE_LOCAL_HOST must be local or broker, not "vm"\n')
    expect(r.code).toBe(1)
  })
})
