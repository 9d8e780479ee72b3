/**
 * The Vers configuration layer (`src/layers/VersConfig.ts`): defaults, the environment, the
 * API key lookup order (env → ~/.vers/keys.json → ~/.vers/config.json), a key rotated in the
 * environment or in a file used by the next lookup without rebuilding the layer, the no-key
 * message, and malformed values.
 */
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Cause, ConfigProvider, Effect, Exit, Option, Redacted } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach } from "vitest"
import { InvalidConfiguration } from "../../src/layers/Config.js"
import * as VersConfigLayer from "../../src/layers/VersConfig.js"
import { sshHost, VersConfig } from "../../src/services/VersConfig.js"

const dirs: Array<string> = []
const savedKey = process.env.VERS_API_KEY
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
  if (savedKey === undefined) delete process.env.VERS_API_KEY
  else process.env.VERS_API_KEY = savedKey
})
const versHome = () => {
  const d = mkdtempSync(join(tmpdir(), "troupe-vers-"))
  dirs.push(d)
  return d
}

/** Runs `f` on a VersConfig built from `env` (or the live process environment) and `home`. */
const withConfig = <A, E>(env: Map<string, string> | "process", home: string, f: (c: typeof VersConfig.Service) => Effect.Effect<A, E>) =>
  Effect.flatMap(VersConfig, f).pipe(
    Effect.provide(VersConfigLayer.layer({ versHome: home })),
    Effect.provide(NodeFileSystem.layer),
    Effect.withConfigProvider(env === "process" ? ConfigProvider.fromEnv() : ConfigProvider.fromMap(env))
  )

const setEnvKey = (value: string) => Effect.sync(() => {
  process.env.VERS_API_KEY = value
})

const key = (c: typeof VersConfig.Service) => Effect.map(c.apiKey, Redacted.value)

describe("VersConfig layer", () => {
  it.effect("defaults without any variable", () =>
    withConfig(new Map(), versHome(), (c) =>
      Effect.sync(() => {
        expect(c.baseUrl).toBe("https://api.vers.sh/api/v1")
        expect(c.requestTimeoutMs).toBe(60_000)
        expect(c.sshHostTemplate).toBe("{vm_id}.vm.vers.sh")
        expect(c.sshPort).toBe(443)
        expect(c.agentBinary).toBe("pi")
        expect(Option.isNone(c.infraUrl) && Option.isNone(c.goldenCommitId) && Option.isNone(c.llmProxyKey)).toBe(true)
        expect(sshHost(c, "abc")).toBe("abc.vm.vers.sh")
        expect(Option.isNone(c.sshAddress) && Option.isNone(c.sshCa)).toBe(true)
        expect(c.sshHostKeyPolicy).toBe("pin")
      })
    )
  )

  it.effect("reads the documented variables and their aliases", () =>
    withConfig(
      new Map([
        ["VERS_BASE_URL", "http://127.0.0.1:9999/api/v1/"],
        ["VERS_VM_REGISTRY_URL", "http://registry"],
        ["VERS_AUTH_TOKEN", "infra-token"],
        ["VERS_COMMIT_ID", "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"],
        ["PUNKIN_BIN", "/opt/punkin"],
        ["LLM_PROXY_KEY", "llm-key"],
        ["VERS_SSH_HOST", "{vm_id}.localhost"],
        ["VERS_SSH_PORT", "2222"],
        ["VERS_SSH_ADDRESS", "127.0.0.1"],
        ["VERS_SSH_CA", "/etc/fleet-ca.pem"],
        ["VERS_SSH_HOST_KEY_POLICY", "accept-changed"],
        ["VERS_REQUEST_TIMEOUT_MS", "5000"]
      ]),
      versHome(),
      (c) =>
        Effect.sync(() => {
          expect(c.baseUrl).toBe("http://127.0.0.1:9999/api/v1")
          expect(Option.getOrThrow(c.infraUrl)).toBe("http://registry")
          expect(Redacted.value(Option.getOrThrow(c.infraToken))).toBe("infra-token")
          expect(Option.getOrThrow(c.goldenCommitId)).toBe("5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d")
          expect(c.agentBinary).toBe("/opt/punkin")
          expect(String(Option.getOrThrow(c.llmProxyKey))).not.toContain("llm-key")
          expect(sshHost(c, "v1")).toBe("v1.localhost")
          expect(c.sshPort).toBe(2222)
          expect(Option.getOrThrow(c.sshAddress)).toBe("127.0.0.1")
          expect(Option.getOrThrow(c.sshCa)).toBe("/etc/fleet-ca.pem")
          expect(c.sshHostKeyPolicy).toBe("accept-changed")
          expect(c.requestTimeoutMs).toBe(5000)
        })
    )
  )

  it.effect("a malformed port, timeout or golden commit is an InvalidConfiguration naming the variable", () =>
    Effect.gen(function* () {
      for (const [name, value, text] of [
        ["VERS_SSH_PORT", "ssh", 'VERS_SSH_PORT must be an integer from 1 to 65535, not "ssh"'],
        ["VERS_SSH_HOST_KEY_POLICY", "trust", 'VERS_SSH_HOST_KEY_POLICY must be "pin" or "accept-changed", not "trust"'],
        ["VERS_REQUEST_TIMEOUT_MS", "0", 'VERS_REQUEST_TIMEOUT_MS must be an integer from 1 to 9007199254740991, not "0"'],
        ["VERS_GOLDEN_COMMIT_ID", "golden", 'VERS_GOLDEN_COMMIT_ID must be a commit id (a UUID), not "golden"']
      ] as const) {
        const exit = yield* Effect.exit(withConfig(new Map([[name, value]]), versHome(), () => Effect.void))
        expect(Exit.isFailure(exit) && Cause.squash(exit.cause)).toEqual(new InvalidConfiguration({ message: text }))
      }
    })
  )

  it.effect("the key: VERS_API_KEY, then keys.json, then config.json versApiKey, then api_key; empty values fall through", () =>
    Effect.gen(function* () {
      const home = versHome()
      process.env.VERS_API_KEY = "from-env"
      writeFileSync(join(home, "keys.json"), JSON.stringify({ keys: { VERS_API_KEY: "from-keys" } }))
      writeFileSync(join(home, "config.json"), JSON.stringify({ versApiKey: "from-config", api_key: "from-api-key" }))
      yield* withConfig("process", home, (c) =>
        Effect.gen(function* () {
          expect(yield* key(c)).toBe("from-env")
          yield* setEnvKey("")
          expect(yield* key(c)).toBe("from-keys")
          writeFileSync(join(home, "keys.json"), JSON.stringify({ keys: {} }))
          expect(yield* key(c)).toBe("from-config")
          writeFileSync(join(home, "config.json"), JSON.stringify({ api_key: "from-api-key" }))
          expect(yield* key(c)).toBe("from-api-key")
        })
      )
    })
  )

  it.effect("a rotated key (environment or file) is used by the next lookup, without rebuilding the layer", () =>
    Effect.gen(function* () {
      const home = versHome()
      delete process.env.VERS_API_KEY
      writeFileSync(join(home, "keys.json"), JSON.stringify({ keys: { VERS_API_KEY: "file-one" } }))
      yield* withConfig("process", home, (c) =>
        Effect.gen(function* () {
          expect(yield* key(c)).toBe("file-one")
          writeFileSync(join(home, "keys.json"), JSON.stringify({ keys: { VERS_API_KEY: "file-two" } }))
          expect(yield* key(c)).toBe("file-two")
          yield* setEnvKey("env-one")
          expect(yield* key(c)).toBe("env-one")
          yield* setEnvKey("env-two")
          expect(yield* key(c)).toBe("env-two")
        })
      )
    })
  )

  it.effect("no key: VersAuthError naming the three places; an unusable file is named, its content never shown", () =>
    Effect.gen(function* () {
      const home = versHome()
      const none = yield* Effect.flip(withConfig(new Map(), home, (c) => c.apiKey))
      expect(none._tag).toBe("VersAuthError")
      expect(none.message).toBe(
        'No Vers API key is set: set VERS_API_KEY, or put {"keys":{"VERS_API_KEY":"…"}} in ~/.vers/keys.json, or versApiKey in ~/.vers/config.json'
      )
      writeFileSync(join(home, "keys.json"), '{"keys": {"VERS_API_KEY": "half-written-secret"')
      const broken = yield* Effect.flip(withConfig(new Map(), home, (c) => c.apiKey))
      expect(broken.message).toMatch(/\(~\/\.vers\/keys\.json is not valid JSON of the expected shape\)$/)
      expect(broken.message).not.toContain("half-written-secret")
    })
  )
})
