/**
 * The fake fleet's TLS identity: a throwaway certificate authority and one server certificate
 * it signs for `*.vm.vers.sh` (what Vers' SSH proxy presents) plus the configured host
 * template's wildcard, so a client verifies the fake exactly as it verifies Vers — with the
 * CA's PEM as its trust root (`VERS_SSH_CA`) and the VM's name as SNI.
 */
import { generate } from "selfsigned"

/** PEM texts: the CA certificate clients trust, and the server's key and certificate. */
export interface FakeCertificates {
  readonly caPem: string
  readonly keyPem: string
  readonly certPem: string
}

/**
 * `{vm_id}.vm.vers.sh` → `*.vm.vers.sh`: the DNS name a host template stands for. A template
 * whose `{vm_id}` is not the whole first label has no wildcard form and is left out.
 */
export const wildcardOf = (template: string): string | undefined => {
  const m = /^\{vm_id\}(\..+)$/.exec(template)
  return m === null ? undefined : `*${m[1]}`
}

/**
 * Makes a CA and a server certificate (EC P-256, SHA-256, valid for a year from now) naming
 * `*.vm.vers.sh`, the wildcard of each template in `templates`, `localhost` and `127.0.0.1`.
 */
export const makeCertificates = async (templates: ReadonlyArray<string>): Promise<FakeCertificates> => {
  const ca = await generate([{ name: "commonName", value: "troupe fake Vers fleet CA" }], {
    keyType: "ec",
    algorithm: "sha256",
    extensions: [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true }
    ]
  })
  const names = [...new Set(["*.vm.vers.sh", ...templates.flatMap((t) => wildcardOf(t) ?? []), "localhost"])]
  const server = await generate([{ name: "commonName", value: "*.vm.vers.sh" }], {
    keyType: "ec",
    algorithm: "sha256",
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
      { name: "extKeyUsage", serverAuth: true },
      { name: "subjectAltName", altNames: [...names.map((value) => ({ type: 2 as const, value })), { type: 7, ip: "127.0.0.1" }] }
    ]
  })
  return { caPem: ca.cert, keyPem: server.private, certPem: server.cert }
}
