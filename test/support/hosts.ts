/**
 * The hosts the shared behaviour suite (test/support/hostSuite.ts) runs against. Each entry is
 * a name and a `Hosts` layer whose `local` is that host, built with a SIGTERM → SIGKILL grace
 * and a base environment. Adding a host is one line here.
 */
import { Layer } from "effect"
import { BrokerHost } from "../../src/services/BrokerHost.js"
import { Host } from "../../src/services/Host.js"
import { Hosts } from "../../src/services/Hosts.js"
import { LocalHost } from "../../src/services/LocalHost.js"

/** How the suite builds a host: SIGTERM → SIGKILL grace (ms), and optionally the base environment of every leaf. */
export interface TestHostOptions {
  readonly graceMs: number
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
}

export interface TestHost {
  readonly name: string
  /** The `host` its identities carry, when not `name` (e.g. `vm:<id>`). */
  readonly identityHost?: (() => string) | undefined
  /** Leaf-suite tests skipped on this host (by title), each with its reason where the entry is defined. */
  readonly skips?: ReadonlyArray<string> | undefined
  /** `Hosts` whose `local` runs on this host, built with `options`. */
  readonly hosts: (options: TestHostOptions) => Layer.Layer<Hosts>
}

/** `Hosts` serving one `Host` layer as `local`. */
export const hostsOf = (host: Layer.Layer<Host>): Layer.Layer<Hosts> => Hosts.layer().pipe(Layer.provide(host))

export const testHosts: ReadonlyArray<TestHost> = [
  { name: "local", hosts: (options) => hostsOf(LocalHost.layer({ graceMs: options.graceMs, env: options.env ?? process.env })) },
  // The exec broker as a child process of the test (dist/broker/exec-broker.mjs: npm test builds it first).
  { name: "broker", hosts: (options) => hostsOf(Layer.orDie(BrokerHost.layerAs(Host, options))) }
]
