/**
 * The live Vers client: `VersApi` over Node's HTTP client (`NodeHttpClient.layer`, node:http
 * with keep-alive) and the environment-reading `VersConfig` layer, with a `FileSystem` for the
 * key files. `Vers.layer()` is what a program (the daemon, a CLI command, an embedder)
 * provides to use Vers; tests build `VersApi.layer` over an in-memory `HttpClient` instead.
 */
import { NodeFileSystem, NodeHttpClient } from "@effect/platform-node"
import { join } from "node:path"
import { Layer } from "effect"
import { Ssh, SshHostKeys, type SshOptions } from "../services/Ssh.js"
import { VersApi } from "../services/VersApi.js"
import type { VersConfig } from "../services/VersConfig.js"
import * as VersConfigLayer from "./VersConfig.js"

/** `VersApi` and `VersConfig`, live (see {@link VersConfigLayer.layer} for the options). */
export const layer = (options: VersConfigLayer.VersConfigLayerOptions = {}): Layer.Layer<VersApi | VersConfig> =>
  Layer.provideMerge(VersApi.layer, Layer.merge(VersConfigLayer.layer(options).pipe(Layer.provide(NodeFileSystem.layer)), NodeHttpClient.layer))

/** Where `TROUPE_HOME`'s pinned SSH host keys live: `<home>/ssh/host_keys/` (one file per VM). */
export const hostKeysDir = (home: string): string => join(home, "ssh", "host_keys")

/**
 * `Ssh` (docs/ssh.md): host keys pinned in `hostKeysDir(home)` (`SshHostKeys.layerFile`,
 * shared by every troupe process of that home), keys and addresses from `VersApi` and
 * `VersConfig` (e.g. `Vers.layer()`), pool settings from `options`.
 */
export const sshLayer = (home: string, options: SshOptions = {}): Layer.Layer<Ssh, never, VersApi | VersConfig> =>
  Ssh.layerWith(options).pipe(Layer.provide(SshHostKeys.layerFile(hostKeysDir(home))))
