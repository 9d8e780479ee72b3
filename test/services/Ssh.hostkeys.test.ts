/**
 * Host key pinning against a real OpenSSH sshd: the first connection pins the key (the
 * fingerprint `ssh-keygen -l` prints), sshd restarted with another key is refused with
 * `SshHostKeyChanged` under `pin`, accepted and re-pinned under `accept-changed` or after
 * `forgetHostKey`; and the pins are files under TROUPE_HOME (`SshHostKeys.layerFile`).
 */
import { expect, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { VmId } from "../../src/domain/Vers.js"
import { Ssh, SshHostKeys, type SshHostKeysShape } from "../../src/services/Ssh.js"
import type { SshHostKeyPolicy } from "../../src/services/VersConfig.js"
import { type SshFixture, sshConfig, sshFixture, sshKeyOnlyApi } from "../support/sshd.js"

const vm = VmId.make("9e1d2c3b-4a59-4687-8776-655443322110")

/** The fingerprint OpenSSH itself prints for a host key file. */
const fingerprintOf = (publicKeyFile: string) => execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", publicKeyFile]).toString().split(" ")[1]

const runTrue = (fx: SshFixture, keys: SshHostKeysShape, policy: SshHostKeyPolicy = "pin") =>
  Effect.flatMap(Ssh, (ssh) => ssh.run(vm, "true")).pipe(
    Effect.provide(Ssh.layer.pipe(Layer.provide(Layer.mergeAll(sshKeyOnlyApi(fx.privateKey), sshConfig(fx, { sshHostKeyPolicy: policy }), Layer.succeed(SshHostKeys, keys)))))
  )

it.live("first connect pins; another host key is SshHostKeyChanged; accept-changed and forgetHostKey re-pin", () =>
  Effect.scoped(
    Effect.gen(function* () {
      const fx = yield* sshFixture
      const keys = yield* Effect.provide(SshHostKeys, SshHostKeys.layerMemory)
      expect(Option.isNone(yield* keys.get(vm))).toBe(true)
      yield* runTrue(fx, keys)
      const first = Option.getOrThrow(yield* keys.get(vm))
      expect(first.fingerprint).toBe(fingerprintOf(`${fx.sshd.hostKeyPath}.pub`))
      expect(first.algorithm).toBe("ssh-ed25519")

      // Same key again: fine. Then the "VM" comes back with another key.
      yield* runTrue(fx, keys)
      const other = yield* fx.startOther()
      fx.retarget(other.port)
      const changed = yield* Effect.flip(runTrue(fx, keys))
      expect(changed._tag).toBe("SshHostKeyChanged")
      if (changed._tag !== "SshHostKeyChanged") return
      const otherPrint = fingerprintOf(`${other.hostKeyPath}.pub`)
      expect(changed.expected).toBe(first.fingerprint)
      expect(changed.actual).toBe(otherPrint)
      expect(changed.message).toContain("VERS_SSH_HOST_KEY_POLICY=accept-changed")
      expect(Option.getOrThrow(yield* keys.get(vm)).fingerprint).toBe(first.fingerprint)

      // accept-changed connects and re-pins the new key.
      yield* runTrue(fx, keys, "accept-changed")
      expect(Option.getOrThrow(yield* keys.get(vm)).fingerprint).toBe(otherPrint)

      // Back to the first key: refused again under pin; forgetHostKey clears the way.
      fx.retarget(fx.sshd.port)
      expect((yield* Effect.flip(runTrue(fx, keys)))._tag).toBe("SshHostKeyChanged")
      const forgot = yield* Effect.flatMap(Ssh, (ssh) => ssh.forgetHostKey(vm)).pipe(
        Effect.provide(Ssh.layer.pipe(Layer.provide(Layer.mergeAll(sshKeyOnlyApi(fx.privateKey), sshConfig(fx), Layer.succeed(SshHostKeys, keys)))))
      )
      expect(forgot).toBe(true)
      yield* runTrue(fx, keys)
      expect(Option.getOrThrow(yield* keys.get(vm)).fingerprint).toBe(first.fingerprint)
    })
  ))

it.live("pins are files under TROUPE_HOME (0600), kept across layers and processes; a bad id or a corrupt file is an error, never 'no pin'", () =>
  Effect.scoped(
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "troupe-hostkeys-"))),
        (d) => Effect.sync(() => rmSync(d, { recursive: true, force: true }))
      )
      const keysDir = join(dir, "ssh", "host_keys")
      const fileKeys = SshHostKeys.layerFile(keysDir)
      yield* Effect.flatMap(SshHostKeys, (keys) => keys.pin({ vmId: vm, algorithm: "ssh-ed25519", fingerprint: "SHA256:abc", firstSeenMs: 5 })).pipe(Effect.provide(fileKeys))
      expect(statSync(join(keysDir, `${vm}.json`)).mode & 0o777).toBe(0o600)
      expect(statSync(keysDir).mode & 0o777).toBe(0o700)
      const again = yield* Effect.flatMap(SshHostKeys, (keys) => keys.get(vm)).pipe(Effect.provide(SshHostKeys.layerFile(keysDir)))
      expect(Option.getOrThrow(again)).toEqual({ vmId: vm, algorithm: "ssh-ed25519", fingerprint: "SHA256:abc", firstSeenMs: 5 })
      const forgot = yield* Effect.flatMap(SshHostKeys, (keys) => Effect.zip(keys.forget(vm), keys.forget(vm))).pipe(Effect.provide(fileKeys))
      expect(forgot).toEqual([true, false])
      expect(Option.isNone(yield* Effect.flatMap(SshHostKeys, (keys) => keys.get(vm)).pipe(Effect.provide(fileKeys)))).toBe(true)
      const bad = yield* Effect.flip(Effect.flatMap(SshHostKeys, (keys) => keys.get("../etc/passwd")).pipe(Effect.provide(fileKeys)))
      expect(bad.message).toContain("not a VM id")
      writeFileSync(join(keysDir, "corrupt.json"), "{")
      const corrupt = yield* Effect.flip(Effect.flatMap(SshHostKeys, (keys) => keys.get("corrupt")).pipe(Effect.provide(fileKeys)))
      expect(corrupt.message).toContain("is not a pinned host key")
    })
  ))
