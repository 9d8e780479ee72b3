/**
 * `VersConfig`: where Vers is and how to authenticate (SPEC-vers §1), as a service. The layer
 * that reads the environment and `~/.vers/*.json` is `src/layers/VersConfig.ts`; this module
 * reads nothing itself. `layerFrom` builds one from plain values (tests, embedders).
 *
 * The API key is an effect, not a value: the layer re-reads it on every request so a rotated
 * key works without a restart (pi-vers read it once per process).
 */
import { Context, Effect, Layer, Option, Redacted } from "effect"
import type { CommitId } from "../domain/Vers.js"
import { VersAuthError, VersMessages } from "../domain/VersErrors.js"

/** The default API base (`VERS_BASE_URL` overrides it; the value includes `/api/v1`). */
export const defaultBaseUrl = "https://api.vers.sh/api/v1"
/** The default SSH host of a VM (`VERS_SSH_HOST`); `{vm_id}` is replaced by the VM's id. */
export const defaultSshHostTemplate = "{vm_id}.vm.vers.sh"
/** The default SSH port (`VERS_SSH_PORT`): SSH over TLS on 443. */
export const defaultSshPort = 443
/** The default timeout of one Vers API call, ms. */
export const defaultRequestTimeoutMs = 60_000

/**
 * The Vers settings of whoever made the current request (a `troupe vm` command's or a Pi
 * session's own `VERS_BASE_URL` / `VERS_API_KEY`, sent over the daemon's 0600 socket): used
 * instead of the daemon's for that request and for what it starts (a run-owned VM's deletion),
 * so a daemon started before the variables were exported, or a rotated key, needs no restart.
 * Empty by default: the daemon's own configuration applies.
 */
export class VersCallerSettings extends Context.Reference<VersCallerSettings>()("troupe/VersCallerSettings", {
  defaultValue: (): { readonly baseUrl?: string | undefined; readonly apiKey?: Redacted.Redacted<string> | undefined } => ({})
}) {}

export interface VersConfigShape {
  /** API base URL including `/api/v1`, without a trailing slash (`VERS_BASE_URL`). */
  readonly baseUrl: string
  /**
   * The API key, looked up anew each time it runs (`VERS_API_KEY` → `~/.vers/keys.json`
   * `keys.VERS_API_KEY` → `~/.vers/config.json` `versApiKey` / `api_key`).
   * @fails VersAuthError (no `status`) when none is set, with a sentence naming the three places.
   */
  readonly apiKey: Effect.Effect<Redacted.Redacted<string>, VersAuthError>
  /** The timeout of one API call, ms (default 60,000). */
  readonly requestTimeoutMs: number
  /** Infra / VM registry URL (`VERS_INFRA_URL`, alias `VERS_VM_REGISTRY_URL`). */
  readonly infraUrl: Option.Option<string>
  /** Bearer token for the infra URL (`VERS_AUTH_TOKEN`). */
  readonly infraToken: Option.Option<Redacted.Redacted<string>>
  /** The golden image commit (`VERS_GOLDEN_COMMIT_ID` → `VERS_COMMIT_ID`). */
  readonly goldenCommitId: Option.Option<CommitId>
  /** The agent binary on VMs (`PI_PATH` → `PUNKIN_BIN` → `pi`). */
  readonly agentBinary: string
  /** The LLM proxy key given to agents on VMs (`LLM_PROXY_KEY`); never a tool parameter. */
  readonly llmProxyKey: Option.Option<Redacted.Redacted<string>>
  /** SSH host template (`VERS_SSH_HOST`, default `{vm_id}.vm.vers.sh`). */
  readonly sshHostTemplate: string
  /** SSH port (`VERS_SSH_PORT`, default 443). */
  readonly sshPort: number
  /**
   * The TCP address to dial instead of the templated host (`VERS_SSH_ADDRESS`); TLS SNI and
   * certificate checks still use the templated host. None: dial the host itself.
   */
  readonly sshAddress: Option.Option<string>
  /** A PEM file whose certificates are trusted in addition to the system roots for SSH's TLS (`VERS_SSH_CA`). */
  readonly sshCa: Option.Option<string>
  /** What a changed VM host key does (`VERS_SSH_HOST_KEY_POLICY`, default `pin`); see docs/ssh.md. */
  readonly sshHostKeyPolicy: SshHostKeyPolicy
}

/**
 * `pin`: a host key other than the one recorded on first connect fails with `SshHostKeyChanged`.
 * `accept-changed`: the new key is accepted and pinned instead (restored VMs get new keys).
 */
export type SshHostKeyPolicy = "pin" | "accept-changed"


/** Plain values for {@link VersConfig.layerFrom}; every field but `baseUrl` optional. */
export interface VersConfigInput {
  readonly baseUrl: string
  /** A fixed key, or an effect that looks one up per request; absent → every call fails `VersAuthError`. */
  readonly apiKey?: string | Redacted.Redacted<string> | Effect.Effect<Redacted.Redacted<string>, VersAuthError> | undefined
  readonly requestTimeoutMs?: number | undefined
  readonly infraUrl?: string | undefined
  readonly infraToken?: string | Redacted.Redacted<string> | undefined
  readonly goldenCommitId?: CommitId | undefined
  readonly agentBinary?: string | undefined
  readonly llmProxyKey?: string | Redacted.Redacted<string> | undefined
  readonly sshHostTemplate?: string | undefined
  readonly sshPort?: number | undefined
  readonly sshAddress?: string | undefined
  readonly sshCa?: string | undefined
  readonly sshHostKeyPolicy?: SshHostKeyPolicy | undefined
}

const redact = (v: string | Redacted.Redacted<string>): Redacted.Redacted<string> => (Redacted.isRedacted(v) ? v : Redacted.make(v))

/** The failure of a lookup that found no key (operation `apiKey`). */
export const noApiKey = (): VersAuthError => new VersAuthError({ operation: "apiKey", message: VersMessages.noKey() })

/** Builds a {@link VersConfigShape} from plain values (defaults as the environment layer's). */
export const make = (input: VersConfigInput): VersConfigShape => {
  const key = input.apiKey
  return {
    baseUrl: input.baseUrl.replace(/\/+$/, ""),
    apiKey: key === undefined
      ? Effect.fail(noApiKey())
      : Effect.isEffect(key)
      ? key
      : Effect.succeed(redact(key)),
    requestTimeoutMs: input.requestTimeoutMs ?? defaultRequestTimeoutMs,
    infraUrl: Option.fromNullable(input.infraUrl),
    infraToken: Option.map(Option.fromNullable(input.infraToken), redact),
    goldenCommitId: Option.fromNullable(input.goldenCommitId),
    agentBinary: input.agentBinary ?? "pi",
    llmProxyKey: Option.map(Option.fromNullable(input.llmProxyKey), redact),
    sshHostTemplate: input.sshHostTemplate ?? defaultSshHostTemplate,
    sshPort: input.sshPort ?? defaultSshPort,
    sshAddress: Option.fromNullable(input.sshAddress),
    sshCa: Option.fromNullable(input.sshCa),
    sshHostKeyPolicy: input.sshHostKeyPolicy ?? "pin"
  }
}

/** The SSH host of a VM: the template with `{vm_id}` replaced (`1234….vm.vers.sh`). */
export const sshHost = (config: Pick<VersConfigShape, "sshHostTemplate">, vmId: string): string =>
  config.sshHostTemplate.split("{vm_id}").join(vmId)

export class VersConfig extends Context.Tag("troupe/VersConfig")<VersConfig, VersConfigShape>() {
  /** A layer from plain values (tests, embedders): `VersConfig.layerFrom({ baseUrl, apiKey })`. */
  static readonly layerFrom = (input: VersConfigInput): Layer.Layer<VersConfig> => Layer.succeed(VersConfig, make(input))
}
