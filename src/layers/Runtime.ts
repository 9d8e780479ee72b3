/**
 * troupe's layer graph, declared once: store (SQLite under `TROUPE_HOME`), events, mailbox,
 * rooms, supervisor, inspector and router over the execution part (`Live.ts`: CommandGraph,
 * Recipes, Registry, the host, configuration, Node platform). The daemon serves it over RPC,
 * `Troupe.layer` embeds it in any Effect program, and the tests build it with their
 * injections (`test/support/runtime.ts`: a fake host, a temporary home).
 */
import type { HttpClient } from "@effect/platform"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Cause, Effect, Layer } from "effect"
import { MessageIds } from "../services/MessageIds.js"
import { Events } from "../services/Events.js"
import { Inspector } from "../services/Inspector.js"
import { Mailbox } from "../services/Mailbox.js"
import { MessageKeys } from "../services/MessageKeys.js"
import { Rooms } from "../services/Rooms.js"
import { Router } from "../services/Router.js"
import { Store } from "../services/Store.js"
import { Supervisor } from "../services/Supervisor.js"
import { VersApi } from "../services/VersApi.js"
import { defaultBaseUrl, make as makeVersConfig, VersConfig } from "../services/VersConfig.js"
import { VersAuthError } from "../domain/VersErrors.js"
import { Vms } from "../services/Vms.js"
import { Worktrees } from "../services/Worktrees.js"
import * as VersConfigLayer from "./VersConfig.js"
import * as Config from "./Config.js"
import * as Home from "./Home.js"
import * as Live from "./Live.js"

/**
 * Creates `TROUPE_HOME` (mode 0700) if missing; refuses an existing one that is not a private
 * directory of this user, never chmodding it (`Home.prepareHome`).
 */
const homeDirectory = Layer.effectDiscard(Effect.flatMap(Config.TroupeConfig, (config) => Home.prepareHome(config.home)))

const store = Layer.unwrapEffect(Effect.map(Config.TroupeConfig, (c) => Store.sqlite(Config.homePaths(c.home).database)))

/**
 * Router + Supervisor + Inspector + Events + Mailbox + Rooms + MessageKeys + Store + the live services, for `TROUPE_HOME` (or
 * `overrides.home`), with `inject`'s pieces in place of the live ones. Building it migrates
 * the store and reaps runs left by a dead owner; releasing it kills every run's process groups.
 * @fails ActorsError `unavailable` when another owner holds the store, `internal` otherwise.
 */
export const layer = (overrides: Partial<Config.TroupeConfigShape> = {}, inject: Live.Injections = {}) => {
  const base = Live.layer(overrides, inject)
  const persistence = Layer.mergeAll(Events.Default, Mailbox.Default, Rooms.Default, MessageKeys.Default, MessageIds.Default).pipe(
    Layer.provideMerge(store),
    Layer.provideMerge(homeDirectory)
  )
  return Router.Default.pipe(
    Layer.provideMerge(Inspector.Default),
    Layer.provideMerge(inject.kinds === undefined ? Supervisor.Default : Supervisor.DefaultWithoutDependencies.pipe(Layer.provide(Layer.merge(inject.kinds, Worktrees.Default)))),
    Layer.provideMerge(persistence),
    Layer.provideMerge(base)
  )
}

/**
 * The environment's `VersConfig`, or — when a Vers variable is malformed (`VERS_SSH_PORT=x`) —
 * one whose every call fails with that sentence, so a bad Vers setting never stops the daemon
 * (everything but VMs still works). The problem is logged once.
 */
const tolerantVersConfig = VersConfigLayer.layer().pipe(
  Layer.catchAllCause((cause) => {
    const defect = Cause.squash(cause)
    const problem = defect instanceof Config.InvalidConfiguration ? defect.message : String(defect)
    const message = `The Vers configuration is invalid: ${problem}`
    return Layer.effect(
      VersConfig,
      Effect.as(
        Effect.logWarning(`${message}; VM operations fail until it is fixed and the daemon restarted`),
        makeVersConfig({ baseUrl: defaultBaseUrl, apiKey: Effect.fail(new VersAuthError({ operation: "apiKey", message })) })
      )
    )
  })
)

/** What {@link vms} may take instead of the live pieces (tests: a `VersConfig` for a fake fleet). */
export interface VmsInjections {
  readonly versConfig?: Layer.Layer<VersConfig> | undefined
  readonly httpClient?: Layer.Layer<HttpClient.HttpClient> | undefined
}

/**
 * `Vms` over the live `VersApi`: `VersConfig` from the environment and `~/.vers` (the API key
 * re-read per request, so a daemon started without a key works once one is set) and Node's
 * HTTP client (node:http with keep-alive, as `Vers.layer`). Needs the runtime of {@link layer} (store, events, configuration, platform);
 * the daemon builds it over that runtime. Releasing it deletes the VMs held for runs.
 */
export const vms = (inject: VmsInjections = {}) =>
  Vms.layer.pipe(
    Layer.provide(VersApi.layer),
    Layer.provide(inject.versConfig ?? tolerantVersConfig),
    Layer.provide(inject.httpClient ?? NodeHttpClient.layer)
  )
