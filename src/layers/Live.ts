/**
 * The execution part of troupe's one layer graph (the rest is in `Runtime.ts`): Node platform +
 * configuration + `Hosts` (the local host as `local`, the exec broker as `broker`) +
 * CommandGraph, Recipes and Registry. `troupe run` and the `recipes` commands use it alone; the
 * daemon, `Troupe.layer` and the tests get it through `Runtime.layer`.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Config as EffectConfig, Context, Effect, Layer, type Scope } from "effect"
import { BrokerHost } from "../services/BrokerHost.js"
import { CommandGraph } from "../services/CommandGraph.js"
import { Host } from "../services/Host.js"
import type { HostError, HostShape } from "../services/Host.js"
import { type HostFamily, Hosts } from "../services/Hosts.js"
import { LocalHost } from "../services/LocalHost.js"
import { defaultEnvFile } from "../services/pirpc/RemoteSupervisor.js"
import { AgentVms } from "../services/runs/AgentVms.js"
import type { SshShape } from "../services/Ssh.js"
import { Recipes } from "../services/Recipes.js"
import { Registry } from "../services/Registry.js"
import type { RunKinds } from "../services/runs/RunKinds.js"
import type { TroupeConfig } from "../services/TroupeConfig.js"
import * as Config from "./Config.js"

/**
 * What a caller (a test, an embedder) may put in place of the live pieces of the graph. The
 * `Clock` needs no injection point: TestClock replaces it in the fiber's context.
 */
export interface Injections {
  /**
   * The configuration service instead of reading the environment (tests: a temporary home
   * created and removed by the layer). `overrides` apply only when this is absent.
   */
  readonly config?: Layer.Layer<TroupeConfig> | undefined
  /**
   * The host `local` leaves run on, instead of `LocalHost` with the configured kill grace
   * (tests: a fake host whose leaves run on the `Clock`, or a BrokerHost).
   */
  readonly host?: Layer.Layer<Host> | undefined
  /** `Hosts` over that host instead of the live one (tests: hosts that record or refuse). */
  readonly hosts?: Layer.Layer<Hosts, never, Host> | undefined
  /** The run kinds the Supervisor knows instead of `RunKinds.layer` (`template`). Used by `Runtime.layer`. */
  readonly kinds?: Layer.Layer<RunKinds, never, CommandGraph> | undefined
  /**
   * The base environment of every leaf (local and broker) instead of this process's whole
   * environment (`Config.inheritedEnvironment()`). The daemon passes its minimal one
   * (`Config.daemonLeafEnvironment()`): its runs get their client's environment over it.
   */
  readonly leafEnvironment?: Readonly<Record<string, string | undefined>> | undefined
}

/** `LocalHost` with `TroupeConfig.killGraceMs` and `env` (default: this process's environment) as the leaves' base environment. */
const localHost = (env: Readonly<Record<string, string | undefined>>) =>
  Layer.unwrapEffect(Effect.map(Config.TroupeConfig, (c) => LocalHost.layer({ graceMs: c.killGraceMs, env })))

/**
 * The VM families (`vm:<id>`, `commit:<id>`, `golden`; docs/vmhost.md), built on first use in
 * `scope`: Vers and SSH (ssh2) load only when a leaf asks for a VM, so start-up and local runs
 * never import them. Without Vers configuration a VM leaf fails with VersAuthError's sentence
 * (no key) when the SSH key is fetched.
 */
const vmFamilies = (scope: Scope.Scope, graceMs: number, home: string) =>
  Effect.gen(function* () {
    const built = yield* Effect.cached(
      Effect.gen(function* () {
        const [{ VmHosts }, Vers, { Ssh }] = yield* Effect.promise(() =>
          Promise.all([import("../services/VmHosts.js"), import("./Vers.js"), import("../services/Ssh.js")])
        )
        const { homeLabel } = yield* Effect.promise(() => import("../services/Vms.js"))
        const layer = VmHosts.layer({ graceMs, homeLabel: homeLabel(home) }).pipe(Layer.provideMerge(Vers.sshLayer(home)), Layer.provide(Vers.layer()))
        const context = yield* Layer.buildWithScope(layer, scope)
        return { families: Context.get(context, VmHosts).families, ssh: Context.get(context, Ssh) as SshShape }
      })
    )
    const family = (kind: string): HostFamily => (name) =>
      Effect.flatMap(built, (all) => all.families[kind]!(name)) as Effect.Effect<HostShape, HostError, Scope.Scope>
    return { families: { vm: family("vm"), commit: family("commit"), golden: family("golden") }, ssh: Effect.map(built, (b) => b.ssh) }
  })

/** Where an agent's environment goes on a VM: `TROUPE_AGENT_ENV_FILE`, default `/etc/profile.d/troupe-agent.sh`. */
const agentEnvFile = EffectConfig.string("TROUPE_AGENT_ENV_FILE").pipe(EffectConfig.withDefault(defaultEnvFile))

/**
 * The live `Hosts`: `Host` as `local`, `vm:<id>` / `commit:<id>` / `golden` on Vers VMs, and `broker` — one exec-broker child of this process,
 * started on first use and kept while it lives; after it died or failed to start, the next
 * leaf starts a new one (`docs/broker.md`). With `TROUPE_LOCAL_HOST=broker` every `on: local`
 * leaf runs through that broker.
 */
const liveHosts = (env: Readonly<Record<string, string | undefined>>): Layer.Layer<Hosts | AgentVms, never, Host | TroupeConfig> => Layer.scopedContext(
  Effect.gen(function* () {
    const config = yield* Config.TroupeConfig
    const local = yield* Host
    const broker = yield* BrokerHost.makeRestartingChild({ graceMs: config.killGraceMs, env })
    const vms = yield* vmFamilies(yield* Effect.scope, config.killGraceMs, config.home)
    const envFile = yield* Effect.orDie(agentEnvFile)
    return Context.make(Hosts, Hosts.make(local, { local: config.localHost, hosts: { broker }, families: vms.families })).pipe(
      // Agents on VMs share the VM hosts' SSH pool.
      Context.add(AgentVms, { ssh: vms.ssh, envFile })
    )
  })
)

/** CommandGraph + Recipes + Registry on `Hosts`, with the configuration and the Node platform. */
export const layer = (overrides: Partial<Config.TroupeConfigShape> = {}, inject: Injections = {}) => {
  const env = inject.leafEnvironment ?? Config.inheritedEnvironment()
  return Layer.mergeAll(CommandGraph.Default, Recipes.Default, Registry.Default).pipe(
    Layer.provideMerge(inject.hosts ?? liveHosts(env)),
    Layer.provideMerge(inject.host ?? localHost(env)),
    Layer.provideMerge(inject.config ?? Config.layer(overrides)),
    Layer.provideMerge(NodeContext.layer)
  )
}
