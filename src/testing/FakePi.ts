/**
 * FakePi (`troupe/testing`): a program speaking Pi's RPC shapes (src/testing/fakePi/program.ts,
 * built to `dist/testing/fake-pi.mjs`), and {@link spawnFakePi}, which runs it through
 * `PiRpc.spawnLocal` exactly as a real `pi --mode rpc` would be run. SPEC-vers §6; docs/agents.md.
 */
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { PiRpcClosed } from "../domain/PiRpc.js"
import { type LocalPiOptions, spawnLocal } from "../services/PiRpc.js"

/**
 * How FakePi behaves:
 * - `normal`: a prompt runs two turns (text deltas + one `echo` tool call, then `done: <prompt>`), then `agent_settled`.
 * - `slow`: the same with `FAKE_PI_DELAY_MS` (default 40 ms) between steps, so a run is observably streaming.
 * - `streaming-reject`: slow, and every prompt, steer or follow-up while streaming is rejected.
 * - `set-model-fail`: `set_model` fails with `Model not found: <provider>/<modelId>`.
 * - `dialog`: before its final answer the run asks a `confirm` dialog (after a `notify`) and waits for the answer.
 * - `crash`: a prompt makes it write `fake-pi: crashed on purpose` to stderr and exit with code 3.
 * - `hang`: a prompt starts a run that never ends; SIGTERM and stdin EOF are ignored.
 * - `chatty`: the first message streams `FAKE_PI_CHATTY_COUNT` (default 5,000) text deltas; after `agent_settled` it sends `{type: "fake_pi_emitted", count}` (events emitted so far). With `FAKE_PI_CHATTY_PAUSE_MS` it pauses that long after every 100 deltas (a turn that lasts while a reader reads it).
 * - `old`: like normal without `agent_settled` (Pi before 1.x).
 */
export type FakePiMode = "normal" | "slow" | "streaming-reject" | "set-model-fail" | "dialog" | "crash" | "hang" | "chatty" | "old"

/** Every {@link FakePiMode}. */
export const fakePiModes: ReadonlyArray<FakePiMode> = ["normal", "slow", "streaming-reject", "set-model-fail", "dialog", "crash", "hang", "chatty", "old"]

/** `dist/testing/fake-pi.mjs` from this module: compiled (`dist/src/testing`), bundled (`dist/bin`) or source (`src/testing`); undefined before a build. */
export const fakePiProgram = (): string | undefined =>
  ["../../testing/fake-pi.mjs", "../testing/fake-pi.mjs", "../../dist/testing/fake-pi.mjs"]
    .map((relative) => fileURLToPath(new URL(relative, import.meta.url)))
    .find((file) => fs.existsSync(file))

/** Options of {@link spawnFakePi}: those of `PiRpc.spawnLocal` without `pi`, plus the mode and its knobs. */
export interface FakePiOptions extends Omit<LocalPiOptions, "pi" | "node"> {
  readonly mode?: FakePiMode | undefined
  /** Text deltas of a `chatty` run's first message (default 5,000). */
  readonly chattyCount?: number | undefined
  /** Delay between steps in `slow` and `streaming-reject` (ms, default 40). */
  readonly delayMs?: number | undefined
}

/**
 * Starts FakePi (`node dist/testing/fake-pi.mjs --mode rpc --no-session --fake-mode <mode>`)
 * and connects a `PiRpc` session to it, valid for the scope.
 * @fails PiRpcClosed when the program is not built (`npm run build`) or cannot start.
 */
export const spawnFakePi = (options: FakePiOptions = {}) =>
  Effect.gen(function* () {
    const program = fakePiProgram()
    if (program === undefined) return yield* new PiRpcClosed({ message: "the FakePi program was not found (dist/testing/fake-pi.mjs); run npm run build" })
    const env = {
      ...(options.env ?? process.env),
      ...(options.chattyCount === undefined ? {} : { FAKE_PI_CHATTY_COUNT: String(options.chattyCount) }),
      ...(options.delayMs === undefined ? {} : { FAKE_PI_DELAY_MS: String(options.delayMs) })
    }
    return yield* spawnLocal({
      ...options,
      pi: program,
      node: process.execPath,
      args: [...(options.args ?? []), "--fake-mode", options.mode ?? "normal"],
      env
    })
  })
