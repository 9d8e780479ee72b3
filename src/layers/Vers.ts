/**
 * The live Vers client: `VersApi` over Node's HTTP client (`NodeHttpClient.layer`, node:http
 * with keep-alive) and the environment-reading `VersConfig` layer, with a `FileSystem` for the
 * key files. `Vers.layer()` is what a program (the daemon, a CLI command, an embedder)
 * provides to use Vers; tests build `VersApi.layer` over an in-memory `HttpClient` instead.
 */
import { NodeFileSystem, NodeHttpClient } from "@effect/platform-node"
import { Layer } from "effect"
import { VersApi } from "../services/VersApi.js"
import type { VersConfig } from "../services/VersConfig.js"
import * as VersConfigLayer from "./VersConfig.js"

/** `VersApi` and `VersConfig`, live (see {@link VersConfigLayer.layer} for the options). */
export const layer = (options: VersConfigLayer.VersConfigLayerOptions = {}): Layer.Layer<VersApi | VersConfig> =>
  Layer.provideMerge(VersApi.layer, Layer.merge(VersConfigLayer.layer(options).pipe(Layer.provide(NodeFileSystem.layer)), NodeHttpClient.layer))
