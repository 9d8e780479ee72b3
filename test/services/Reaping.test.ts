/**
 * Startup reaping dispatches each leftover process to the host its row names (`Hosts.reap`);
 * a host that is not configured here is reported — logged, recorded as `run.reap_failed` on
 * the run, named in its error — never guessed at.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { join } from "node:path"
import { RestartPolicy } from "../../src/domain/Run.js"
import { HostError, type ProcessIdentity } from "../../src/services/Host.js"
import { Hosts } from "../../src/services/Hosts.js"
import { Store } from "../../src/services/Store.js"
import { Supervisor } from "../../src/services/Supervisor.js"
import { scratch } from "../support/graph.js"
import { testRuntime } from "../support/runtime.js"

const A = { session: "A", all: false }

/** Leaves a run `running` with one recorded process, as an owner that died would. */
const leaveStaleRun = (home: string, id: string) =>
  Effect.gen(function* () {
    const store = yield* Store
    const generation = `gen-${id}`
    yield* store.insertRun({
      id,
      generation,
      owner: "A",
      parent: undefined,
      recipe: "inline",
      snapshot: { template: "sleep 30" },
      values: {},
      cwd: home,
      stateDir: join(home, "runs", id),
      restart: RestartPolicy.make({}),
      tokenHash: `hash-${id}`,
      at: 1
    })
    yield* store.updateRun(id, generation, { state: "running" }, 2)
    yield* store.addProcess(generation, { path: "0", attempt: 1, argv: ["sleep", "30"], identity: { host: "local", pid: 2_000_000_000, pgid: 2_000_000_000, startTime: 1, marker: `marker-${id}` } })
  }).pipe(Effect.provide(Store.sqlite(join(home, "troupe.db")).pipe(Layer.provide(NodeContext.layer))))

/** Hosts that know no host at all, recording what reaping asked for. */
const noHosts = (asked: Array<ProcessIdentity>) =>
  Layer.succeed(Hosts, {
    acquire: (on) => Effect.fail(new HostError({ reason: "unavailable", message: `no host ${on}`, code: 1 })),
    reap: (identity) =>
      Effect.sync(() => asked.push(identity)).pipe(
        Effect.zipRight(Effect.fail(new HostError({ reason: "unavailable", message: `No host "${identity.host}" is configured here.`, code: 1 })))
      )
  })

describe("reaping through Hosts", () => {
  it.live("a leftover process on a host not configured here is reported on its run, never guessed", () => {
    const home = scratch("troupe-reap-")
    const asked: Array<ProcessIdentity> = []
    return Effect.gen(function* () {
      yield* leaveStaleRun(home, "stale")
      yield* Effect.gen(function* () {
        const supervisor = yield* Supervisor
        expect(supervisor.reaped).toBe(1)
        // The process row was dispatched with its host (rows without one are local).
        expect(asked).toEqual([{ host: "local", pid: 2_000_000_000, pgid: 2_000_000_000, startTime: 1, marker: "marker-stale" }])
        const run = yield* supervisor.get(A, "stale")
        expect(run.info.state).toBe("lost")
        expect(run.info.error).toBe("its owner stopped before it finished; 1 process(es) on local could not be reaped")
        const events = yield* supervisor.runEvents(A, "stale", 100)
        const failed = events.find((e) => e.type === "run.reap_failed")
        expect(failed?.data).toMatchObject({ host: "local", pid: 2_000_000_000, path: "0", reason: "unavailable", error: 'No host "local" is configured here.' })
        expect(events.map((e) => e.type)).toContain("run.lost")
      }).pipe(Effect.provide(testRuntime({ home, hosts: noHosts(asked) })))
    })
  })

  it.live("with the host configured, the leftover is reaped there and the run is lost without a report", () => {
    const home = scratch("troupe-reap-")
    return Effect.gen(function* () {
      yield* leaveStaleRun(home, "stale2")
      yield* Effect.gen(function* () {
        const supervisor = yield* Supervisor
        expect(supervisor.reaped).toBe(1)
        const run = yield* supervisor.get(A, "stale2")
        expect(run.info.state).toBe("lost")
        // Nothing matched the identity (no such pid): nothing was signalled, nothing reported.
        expect(run.info.error).toBe("its owner stopped before it finished")
        const events = yield* supervisor.runEvents(A, "stale2", 100)
        expect(events.map((e) => e.type)).toContain("run.lost")
        expect(events.map((e) => e.type)).not.toContain("run.reap_failed")
      }).pipe(Effect.provide(testRuntime({ home })))
    })
  })
})
