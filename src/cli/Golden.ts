/**
 * The bodies of `troupe vm golden build` and `troupe vm golden ls` (docs/vers.md "Golden
 * images"). Loaded with `import()` by `./GoldenCommands.ts`, so ssh2 and the Vers client stay
 * out of the CLI's start. The build VM is created, committed and deleted through the daemon
 * (its ledger records it, with owner labels); provisioning talks SSH in-process, as
 * `troupe vm exec` does. Progress lines go to stderr, the result to stdout.
 */
import { NodeFileSystem } from "@effect/platform-node"
import { Effect, Layer, Option, Redacted } from "effect"
import type { GoldenImage } from "../domain/Golden.js"
import * as Config from "../layers/Config.js"
import * as VersLive from "../layers/Vers.js"
import { build, listGoldens } from "../services/GoldenImages.js"
import { Ssh } from "../services/Ssh.js"
import { VersConfig } from "../services/VersConfig.js"
import { connect, type Identity, print, printJson } from "./Session.js"

/** `Ssh` and `VersConfig` for this CLI process: Vers settings from the environment, pins under `TROUPE_HOME`. */
const versLive = Layer.unwrapEffect(
  Effect.map(Config.TroupeConfig, (config) => Layer.provideMerge(VersLive.sshLayer(config.home), VersLive.layer()))
)

/**
 * Values that must not end up in an image: this shell's variables named like a credential
 * (`*_KEY`, `*_TOKEN`, `*_SECRET`, `*_PASSWORD`; e.g. `VERS_API_KEY`, `LLM_PROXY_KEY`,
 * `VERS_AUTH_TOKEN`) of 8 characters or more, and the Vers API key wherever it comes from.
 */
const configuredSecrets = Effect.gen(function* () {
  const fromEnv = Object.entries(process.env)
    .filter(([name, value]) => /(KEY|TOKEN|SECRET|PASSWORD)$/i.test(name) && value !== undefined && value.length >= 8)
    .map(([, value]) => Redacted.make(value!))
  const config = yield* VersConfig
  const apiKey = yield* Effect.option(config.apiKey)
  return Option.match(apiKey, { onNone: () => fromEnv, onSome: (k) => [...fromEnv, k] })
})

/** One line per component: `node present 20.20.2, pi installed 1.6.0, …`. */
export const componentsText = (g: GoldenImage) =>
  g.components.map((c) => `${c.name} ${c.action}${c.version === null ? "" : ` ${c.version}`}`).join(", ")

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z")

/** One compact line of a recorded golden image. */
export const goldenLine = (g: GoldenImage) =>
  `commit=${g.commit_id} name=${g.name} created=${iso(g.created_at)}${g.from === null ? "" : ` from=${g.from}`} troupe=${g.troupe_version} (${componentsText(g)})`

export interface BuildInput extends Identity {
  readonly json: boolean
  readonly from: Option.Option<string>
  readonly name: Option.Option<string>
  readonly keepVm: boolean
  readonly piPackage: Option.Option<string>
  readonly npmPrefix: Option.Option<string>
}

/**
 * `troupe vm golden build`: builds, commits keep-paused and records a golden image, printing
 * progress on stderr, then the commit id and how to use it (`--json`: the record).
 * @fails GoldenError (one sentence naming the step and the VM), VmCommandError, ActorsError
 */
export const goldenBuild = (input: BuildInput) =>
  Effect.gen(function* () {
    const config = yield* Config.TroupeConfig
    const remote = yield* connect(input)
    const ssh = yield* Ssh
    const secrets = yield* configuredSecrets
    const image = yield* build(
      { vms: remote.vms, ssh, progress: (line) => Effect.sync(() => void process.stderr.write(`${line}\n`)) },
      {
        home: config.home,
        from: Option.getOrUndefined(input.from),
        name: Option.getOrUndefined(input.name),
        keepVm: input.keepVm,
        piPackage: Option.getOrUndefined(input.piPackage),
        npmPrefix: Option.getOrUndefined(input.npmPrefix),
        secrets
      }
    )
    if (input.json) return yield* printJson(image)
    yield* print(
      [
        `golden image ${image.name}: commit=${image.commit_id}`,
        `  ${componentsText(image)}`,
        `use it: export VERS_GOLDEN_COMMIT_ID=${image.commit_id}   (on: golden, swarms and lieutenants restore from it)`
      ].join("\n")
    )
  }).pipe(
    // Ctrl-C interrupts (NodeRuntime.runMain): the build deleted its VM; exit as a shell would.
    Effect.onInterrupt(() => Effect.sync(() => void (process.exitCode = 130))),
    Effect.provide(Layer.mergeAll(versLive, NodeFileSystem.layer))
  )

/**
 * `troupe vm golden ls`: the recorded golden images of `TROUPE_HOME`, oldest first (`--json`:
 * the records; `-q`: the newest commit id only, for `VERS_GOLDEN_COMMIT_ID=$(…)`).
 * @fails GoldenError `records`
 */
export const goldenLs = (input: { readonly json: boolean; readonly quiet: boolean }) =>
  Effect.gen(function* () {
    const config = yield* Config.TroupeConfig
    const goldens = yield* listGoldens(config.home)
    if (input.quiet) return goldens.length === 0 ? undefined : yield* print(goldens[goldens.length - 1]!.commit_id)
    if (input.json) return yield* printJson(goldens)
    yield* print(goldens.length === 0 ? "no golden images recorded (build one with: troupe vm golden build)" : goldens.map(goldenLine).join("\n"))
  }).pipe(Effect.provide(NodeFileSystem.layer))
