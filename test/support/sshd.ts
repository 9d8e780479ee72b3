/**
 * The `Ssh` interop fixture: a real OpenSSH sshd behind a TLS front (`OpenSshd` in
 * src/testing), plus the VersApi / VersConfig layers that point the service at it.
 */
import { Effect, Layer, Redacted } from "effect"
import { type OpenSshd, sshDomain } from "../../src/testing/OpenSshd.js"
import { VersApi, type VersApiShape } from "../../src/services/VersApi.js"
import { VersConfig, type VersConfigInput } from "../../src/services/VersConfig.js"

export { make as sshFixture, type OpenSshd as SshFixture, sshDomain, startSshd, type Sshd } from "../../src/testing/OpenSshd.js"

/** A VersApi whose only working operation is `sshKey` (every VM gets `privateKey`); `keyFetches` counts calls. */
export const sshKeyOnlyApi = (privateKey: string, counter?: { fetches: number }): Layer.Layer<VersApi> =>
  Layer.succeed(
    VersApi,
    new Proxy({} as VersApiShape, {
      get: (_, name) =>
        name === "sshKey"
          ? () =>
            Effect.sync(() => {
              if (counter !== undefined) counter.fetches++
              return { sshPort: 22, sshPrivateKey: Redacted.make(privateKey) }
            })
          : () => Effect.dieMessage(`VersApi.${String(name)} is not part of the Ssh tests`)
    })
  )

/** VersConfig pointing SSH at the fixture's proxy. */
export const sshConfig = (fx: OpenSshd, extra: Partial<VersConfigInput> = {}): Layer.Layer<VersConfig> =>
  VersConfig.layerFrom({
    baseUrl: "http://127.0.0.1:1/api/v1",
    sshHostTemplate: `{vm_id}.${sshDomain}`,
    sshPort: fx.proxyPort,
    sshAddress: "127.0.0.1",
    sshCa: fx.caFile,
    ...extra
  })
