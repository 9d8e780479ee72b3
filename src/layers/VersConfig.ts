/**
 * The layer that reads Vers' configuration (SPEC-vers §1) from the environment and
 * `~/.vers/*.json` into the `VersConfig` service (`src/services/VersConfig.ts`). Plain values
 * are read once when the layer is built; the API key is looked up anew on every request, in
 * this order, so a rotated key works without a restart:
 *
 * 1. `VERS_API_KEY`
 * 2. `~/.vers/keys.json` → `{"keys":{"VERS_API_KEY":"…"}}`
 * 3. `~/.vers/config.json` → `versApiKey`, else `api_key`
 *
 * An empty value counts as unset. A file that is missing is skipped; a file that exists but is
 * not valid JSON (or not the documented shape) is skipped too, and named in the no-key message.
 * pi-vers read the same three places.
 */
import { FileSystem } from "@effect/platform"
import { Config, ConfigProvider, Effect, Layer, Option, Redacted, Schema } from "effect"
import { homedir } from "node:os"
import { join } from "node:path"
import { CommitId } from "../domain/Vers.js"
import { VersAuthError, VersMessages } from "../domain/VersErrors.js"
import {
  defaultBaseUrl,
  defaultRequestTimeoutMs,
  defaultSshHostTemplate,
  defaultSshPort,
  make,
  type SshHostKeyPolicy,
  VersConfig,
  type VersConfigInput
} from "../services/VersConfig.js"
import { InvalidConfiguration } from "./Config.js"

export { VersConfig, type VersConfigShape } from "../services/VersConfig.js"

export interface VersConfigLayerOptions {
  /** The directory of `keys.json` and `config.json` (default `~/.vers`). */
  readonly versHome?: string | undefined
  /** Values that win over the environment (tests, embedders). */
  readonly overrides?: Partial<VersConfigInput> | undefined
}

const KeysFile = Schema.parseJson(Schema.Struct({
  keys: Schema.optional(Schema.Struct({ VERS_API_KEY: Schema.optional(Schema.String) }))
}))
const ConfigFile = Schema.parseJson(Schema.Struct({
  versApiKey: Schema.optional(Schema.String),
  api_key: Schema.optional(Schema.String)
}))

type Lookup = { readonly key: Option.Option<string>; readonly problem: Option.Option<string> }
const nothing: Lookup = { key: Option.none(), problem: Option.none() }

const nonEmpty = (s: string | undefined): Option.Option<string> => (s === undefined || s.trim() === "" ? Option.none() : Option.some(s.trim()))

/** Reads one key file: missing → nothing; unreadable or malformed → a problem naming the file (never its content). */
const fromFile = <A>(fs: FileSystem.FileSystem, path: string, shown: string, schema: Schema.Schema<A, string>, pick: (a: A) => string | undefined) =>
  fs.readFileString(path).pipe(
    Effect.flatMap((text) =>
      Schema.decode(schema)(text).pipe(
        Effect.map((a): Lookup => ({ key: nonEmpty(pick(a)), problem: Option.none() })),
        Effect.orElseSucceed((): Lookup => ({ key: Option.none(), problem: Option.some(`${shown} is not valid JSON of the expected shape`) }))
      )
    ),
    Effect.catchAll((e) =>
      Effect.succeed<Lookup>(e._tag === "SystemError" && e.reason === "NotFound" ? nothing : { key: Option.none(), problem: Option.some(`${shown} could not be read`) })
    )
  )

/**
 * The key lookup, as an effect run on every request (env through `provider`, then the two files).
 * @fails VersAuthError (no status) naming the three places, plus any file that was unusable.
 */
export const apiKeyLookup = (fs: FileSystem.FileSystem, provider: ConfigProvider.ConfigProvider, versHome: string): Effect.Effect<Redacted.Redacted<string>, VersAuthError> =>
  Effect.gen(function* () {
    const env = yield* Config.option(Config.string("VERS_API_KEY")).pipe(Effect.withConfigProvider(provider), Effect.orElseSucceed(() => Option.none<string>()))
    const fromEnv = Option.flatMap(env, (s) => nonEmpty(s))
    if (Option.isSome(fromEnv)) return Redacted.make(fromEnv.value)
    const keys = yield* fromFile(fs, join(versHome, "keys.json"), "~/.vers/keys.json", KeysFile, (f) => f.keys?.VERS_API_KEY)
    if (Option.isSome(keys.key)) return Redacted.make(keys.key.value)
    const config = yield* fromFile(fs, join(versHome, "config.json"), "~/.vers/config.json", ConfigFile, (f) => nonEmpty(f.versApiKey).pipe(Option.getOrElse(() => f.api_key)))
    if (Option.isSome(config.key)) return Redacted.make(config.key.value)
    const problems = [keys.problem, config.problem].flatMap(Option.toArray)
    return yield* new VersAuthError({ operation: "apiKey", message: VersMessages.noKey(problems) })
  })

const optionalString = (name: string) => Effect.orDie(Config.option(Config.nonEmptyString(name)))

const invalid = (message: string) => Effect.die(new InvalidConfiguration({ message }))

/**
 * Reads `VERS_BASE_URL`, `VERS_REQUEST_TIMEOUT_MS`, `VERS_INFRA_URL` / `VERS_VM_REGISTRY_URL`,
 * `VERS_AUTH_TOKEN`, `VERS_GOLDEN_COMMIT_ID` / `VERS_COMMIT_ID`, `PI_PATH` / `PUNKIN_BIN`,
 * `LLM_PROXY_KEY`, `VERS_SSH_HOST`, `VERS_SSH_PORT`, `VERS_SSH_ADDRESS`, `VERS_SSH_CA`,
 * `VERS_SSH_HOST_KEY_POLICY` once, and builds the per-request key lookup. A malformed
 * `VERS_SSH_PORT`, `VERS_SSH_HOST_KEY_POLICY`, `VERS_REQUEST_TIMEOUT_MS` or golden commit id is an
 * `InvalidConfiguration` defect (one sentence naming the variable). Needs a `FileSystem`.
 */
export const layer = (options: VersConfigLayerOptions = {}): Layer.Layer<VersConfig, never, FileSystem.FileSystem> =>
  Layer.effect(
    VersConfig,
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const provider = yield* Effect.configProviderWith(Effect.succeed)
      const o = options.overrides ?? {}
      const baseUrl = yield* optionalString("VERS_BASE_URL")
      const infraUrl = yield* optionalString("VERS_INFRA_URL")
      const registryUrl = yield* optionalString("VERS_VM_REGISTRY_URL")
      const infraToken = yield* optionalString("VERS_AUTH_TOKEN")
      const golden = yield* optionalString("VERS_GOLDEN_COMMIT_ID")
      const commitVar = yield* optionalString("VERS_COMMIT_ID")
      const goldenText = Option.orElse(golden, () => commitVar)
      const goldenCommitId = yield* Option.match(goldenText, {
        onNone: () => Effect.succeed(Option.none<CommitId>()),
        onSome: (text) =>
          Schema.decodeUnknown(CommitId)(text).pipe(
            Effect.map(Option.some),
            Effect.orElse(() => invalid(`VERS_GOLDEN_COMMIT_ID must be a commit id (a UUID), not ${JSON.stringify(text)}`))
          )
      })
      const piPath = yield* optionalString("PI_PATH")
      const punkin = yield* optionalString("PUNKIN_BIN")
      const llmProxyKey = yield* optionalString("LLM_PROXY_KEY")
      const sshHostTemplate = yield* optionalString("VERS_SSH_HOST")
      const sshPort = yield* integer("VERS_SSH_PORT", 1, 65535)
      const sshAddress = yield* optionalString("VERS_SSH_ADDRESS")
      const sshCa = yield* optionalString("VERS_SSH_CA")
      const policyText = yield* optionalString("VERS_SSH_HOST_KEY_POLICY")
      const sshHostKeyPolicy = yield* Option.match(policyText, {
        onNone: () => Effect.succeed<SshHostKeyPolicy | undefined>(undefined),
        onSome: (text) =>
          text === "pin" || text === "accept-changed"
            ? Effect.succeed<SshHostKeyPolicy | undefined>(text)
            : invalid(`VERS_SSH_HOST_KEY_POLICY must be "pin" or "accept-changed", not ${JSON.stringify(text)}`)
      })
      const timeout = yield* integer("VERS_REQUEST_TIMEOUT_MS", 1, Number.MAX_SAFE_INTEGER)
      const versHome = options.versHome ?? join(homedir(), ".vers")
      return make({
        baseUrl: o.baseUrl ?? Option.getOrElse(baseUrl, () => defaultBaseUrl),
        apiKey: o.apiKey ?? apiKeyLookup(fs, provider, versHome),
        requestTimeoutMs: o.requestTimeoutMs ?? Option.getOrElse(timeout, () => defaultRequestTimeoutMs),
        infraUrl: o.infraUrl ?? Option.getOrUndefined(Option.orElse(infraUrl, () => registryUrl)),
        infraToken: o.infraToken ?? Option.getOrUndefined(infraToken),
        goldenCommitId: o.goldenCommitId ?? Option.getOrUndefined(goldenCommitId),
        agentBinary: o.agentBinary ?? Option.getOrElse(Option.orElse(piPath, () => punkin), () => "pi"),
        llmProxyKey: o.llmProxyKey ?? Option.getOrUndefined(llmProxyKey),
        sshHostTemplate: o.sshHostTemplate ?? Option.getOrElse(sshHostTemplate, () => defaultSshHostTemplate),
        sshPort: o.sshPort ?? Option.getOrElse(sshPort, () => defaultSshPort),
        sshAddress: o.sshAddress ?? Option.getOrUndefined(sshAddress),
        sshCa: o.sshCa ?? Option.getOrUndefined(sshCa),
        sshHostKeyPolicy: o.sshHostKeyPolicy ?? sshHostKeyPolicy
      })
    })
  )

/** An optional integer variable in `[min, max]`; anything else is an `InvalidConfiguration` defect. */
const integer = (name: string, min: number, max: number) =>
  Effect.flatMap(optionalString(name), (value) =>
    Option.match(value, {
      onNone: () => Effect.succeed(Option.none<number>()),
      onSome: (text) => {
        const n = Number(text)
        return Number.isInteger(n) && n >= min && n <= max
          ? Effect.succeed(Option.some(n))
          : invalid(`${name} must be an integer from ${min} to ${max}, not ${JSON.stringify(text)}`)
      }
    })
  )
