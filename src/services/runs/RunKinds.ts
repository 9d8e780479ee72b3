/**
 * The run kinds this runtime offers, by name: the Supervisor picks one per spawn (`kind`,
 * default `template`). A new kind is added to {@link layer} here; the Supervisor does not change.
 */
import { FileSystem, Path } from "@effect/platform"
import { Context, Effect, Layer, Option } from "effect"
import { CommandGraph } from "../CommandGraph.js"
import { TroupeConfig } from "../TroupeConfig.js"
import { Worktrees } from "../Worktrees.js"
import * as AgentRun from "./AgentRun.js"
import * as GroupRun from "./GroupRun.js"
import { AgentVms } from "./AgentVms.js"
import type { RunKind } from "./RunKind.js"
import * as TemplateRun from "./TemplateRun.js"

export class RunKinds extends Context.Tag("troupe/RunKinds")<RunKinds, ReadonlyMap<string, RunKind>>() {}

/** The kind a spawn request without `kind` gets. */
export const defaultRunKind = "template"

/**
 * Every kind this runtime offers: `template` (over `CommandGraph`) and `agent` (a Pi session
 * in RPC mode, AgentRun.ts: Pi from `TroupeConfig.pi`, its base environment from
 * `TroupeConfig.environment`, the kill grace from `TroupeConfig.killGraceMs`; on VMs through
 * `AgentVms` when the context has it).
 */
export const layer: Layer.Layer<RunKinds, never, CommandGraph | TroupeConfig | FileSystem.FileSystem | Path.Path | Worktrees> = Layer.effect(
  RunKinds,
  Effect.gen(function* () {
    const graph = yield* CommandGraph
    const config = yield* TroupeConfig
    const worktrees = yield* Worktrees
    const vms = Option.getOrUndefined(yield* Effect.serviceOption(AgentVms))
    const agent = AgentRun.make(
      { pi: config.pi ?? "pi", environment: config.environment ?? {}, graceMs: config.killGraceMs, diff: worktrees.diff, vms },
      yield* FileSystem.FileSystem,
      yield* Path.Path
    )
    return new Map<string, RunKind>([["template", TemplateRun.make(graph)], ["agent", agent], ["group", GroupRun.make()]])
  })
)
