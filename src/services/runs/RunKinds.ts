/**
 * The run kinds this runtime offers, by name: the Supervisor picks one per spawn (`kind`,
 * default `template`). A new kind (`agent`: a Pi session in RPC mode, SPEC-vers §5) is added
 * to {@link layer} here; the Supervisor does not change.
 */
import { Context, Effect, Layer } from "effect"
import { CommandGraph } from "../CommandGraph.js"
import type { RunKind } from "./RunKind.js"
import * as TemplateRun from "./TemplateRun.js"

export class RunKinds extends Context.Tag("troupe/RunKinds")<RunKinds, ReadonlyMap<string, RunKind>>() {}

/** The kind a spawn request without `kind` gets. */
export const defaultRunKind = "template"

/** Every kind this runtime offers: `template` (over `CommandGraph`). */
export const layer: Layer.Layer<RunKinds, never, CommandGraph> = Layer.effect(
  RunKinds,
  Effect.map(CommandGraph, (graph) => new Map([["template", TemplateRun.make(graph)]]))
)
