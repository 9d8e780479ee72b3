/**
 * Embedding troupe in an Effect program: an in-process runtime on a temporary TROUPE_HOME,
 * one actor that counts this repository's files, one long-running actor that is killed.
 *
 *   npm run build && node dist/examples/actors.js
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Actors, Troupe } from "../src/index.js"

const program = Effect.gen(function* () {
  const actors = yield* Actors
  const count = yield* actors.spawn({ template: ["git ls-files", "wc -l"], as: "count" })
  const ticker = yield* actors.spawn({ template: "sleep 60", as: "ticker" })
  yield* Console.log(`spawned ${count.address} and ${ticker.address}`)

  const result = yield* actors.wait(count.address)
  yield* Console.log(`${result.run.address} ${result.run.state}: ${result.stdout.trim()} tracked files`)

  const killed = yield* actors.kill(ticker.address)
  yield* Console.log(`${killed.run} ${killed.state}`)

  const view = yield* actors.inspect("coordinator", "runs")
  yield* Console.log(view.text.trim())
})

const home = mkdtempSync(join(tmpdir(), "troupe-example-"))
program.pipe(Effect.provide(Troupe.layer({ home })), NodeRuntime.runMain)
