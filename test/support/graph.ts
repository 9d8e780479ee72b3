import * as NodeContext from "@effect/platform-node/NodeContext"
import { Duration, Effect, Layer } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { GraphEvent } from "../../src/domain/Plan.js"
import { CommandGraph, type PlanOptions } from "../../src/services/CommandGraph.js"
import type { Hosts } from "../../src/services/Hosts.js"
import { PipeCloseGrace } from "../../src/services/LeafCapture.js"
import { testHosts } from "./hosts.js"

/** CommandGraph on `hosts`, with a 500 ms pipe-close grace (tests only). */
export const graphLayerOn = (hosts: Layer.Layer<Hosts>) =>
  CommandGraph.Default.pipe(
    Layer.provideMerge(hosts),
    Layer.provideMerge(Layer.succeed(PipeCloseGrace, Duration.millis(500))),
    Layer.provideMerge(NodeContext.layer)
  )

/** CommandGraph on a real LocalHost with a short kill grace (tests only). */
export const graphLayer = graphLayerOn(testHosts[0]!.hosts({ graceMs: 300 }))

export const scratch = (prefix = "troupe-test-") => mkdtempSync(join(tmpdir(), prefix))

/** Plans and executes a template for real; returns the result and the events. */
export const runTemplate = (
  template: unknown,
  options: Partial<PlanOptions> & { readonly env?: Record<string, string> } = {}
) =>
  Effect.gen(function* () {
    const graph = yield* CommandGraph
    const plan = yield* graph.plan(template, { cwd: process.cwd(), ...options })
    const events: Array<GraphEvent> = []
    const result = yield* graph.execute(plan, {
      outputDir: scratch("troupe-out-"),
      env: options.env,
      onEvent: (e) => Effect.sync(() => void events.push(e))
    })
    const stdout = new TextDecoder().decode(yield* graph.readAll(result.stdout))
    return { plan, result, stdout, events }
  })
