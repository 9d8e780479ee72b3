/**
 * `Ssh` files over SFTP against a real OpenSSH sshd (internal-sftp) behind the TLS front:
 * byte-exact round trips (0 B, 1 B, 10 MB random, non-UTF-8), modes, atomic writes that leave
 * no temp file behind on failure, directory operations, and a missing file named in the error.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Chunk, Context, Effect, Layer, Stream } from "effect"
import { randomBytes } from "node:crypto"
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { VmId } from "../../src/domain/Vers.js"
import { Ssh, SshHostKeys } from "../../src/services/Ssh.js"
import { type SshFixture, sshConfig, sshFixture, sshKeyOnlyApi } from "../support/sshd.js"

class Fixture extends Context.Tag("test/SshSftpFixture")<Fixture, SshFixture>() {}

const vm = VmId.make("5c0ffee0-1111-4222-8333-944455556666")

const withSsh = <A, E>(f: (ssh: typeof Ssh.Service, dir: string) => Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const fx = yield* Fixture
    const layer = Ssh.layer.pipe(Layer.provide(Layer.mergeAll(sshKeyOnlyApi(fx.privateKey), sshConfig(fx), SshHostKeys.layerMemory)))
    return yield* Effect.flatMap(Ssh, (ssh) => f(ssh, fx.dir)).pipe(Effect.provide(layer))
  })

const readAll = (stream: Stream.Stream<Uint8Array, unknown>) =>
  Effect.map(Stream.runCollect(stream), (chunks) => Buffer.concat(Chunk.toArray(chunks)))

/** A stream of `bytes` in uneven pieces (so chunk boundaries are exercised). */
const pieces = (bytes: Uint8Array, size = 7919) =>
  Stream.fromIterable(Array.from({ length: Math.ceil(bytes.byteLength / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size)))

layer(Layer.scoped(Fixture, sshFixture), { timeout: 60_000, excludeTestServices: true })("Ssh SFTP against OpenSSH sshd", (it) => {
  describe("round trips", () => {
    const cases: ReadonlyArray<readonly [string, Uint8Array]> = [
      ["0 bytes", new Uint8Array(0)],
      ["1 byte", new Uint8Array([0x41])],
      ["non-UTF-8 bytes without a trailing newline", new Uint8Array([0xff, 0xfe, 0x00, 0xc3, 0x28, 0x0d, 0x0a, 0x80])],
      ["10 MB of random bytes", new Uint8Array(randomBytes(10 * 1000 * 1000))]
    ]
    for (const [name, bytes] of cases) {
      it.effect(`${name} are written and read back byte-exactly`, () =>
        withSsh((ssh, dir) =>
          Effect.gen(function* () {
            const path = join(dir, `file-${name.replace(/\W+/g, "-")}`)
            yield* ssh.writeFile(vm, path, pieces(bytes))
            // What landed on disk (the "VM" is this machine) is exactly the bytes…
            expect(Buffer.compare(readFileSync(path), Buffer.from(bytes))).toBe(0)
            // …and reading it back over SFTP gives them again.
            const back = yield* readAll(ssh.readFile(vm, path))
            expect(back.byteLength).toBe(bytes.byteLength)
            expect(Buffer.compare(back, Buffer.from(bytes))).toBe(0)
          })
        ))
    }
  })

  it.effect("modes: given ones are exact, an existing file's is kept, new files get 0644", () =>
    withSsh((ssh, dir) =>
      Effect.gen(function* () {
        const script = join(dir, "run.sh")
        yield* ssh.writeFile(vm, script, Stream.make(new TextEncoder().encode("#!/bin/sh\necho hi")), { mode: 0o750 })
        expect(statSync(script).mode & 0o7777).toBe(0o750)
        expect((yield* ssh.stat(vm, script)).mode).toBe(0o750)
        yield* ssh.writeFile(vm, script, Stream.make(new TextEncoder().encode("#!/bin/sh\necho bye")))
        expect(statSync(script).mode & 0o7777).toBe(0o750)
        const plain = join(dir, "plain.txt")
        yield* ssh.writeFile(vm, plain, Stream.make(new Uint8Array([1])))
        expect(statSync(plain).mode & 0o7777).toBe(0o644)
        yield* ssh.chmod(vm, plain, 0o600)
        expect(statSync(plain).mode & 0o7777).toBe(0o600)
      })
    ))

  it.effect("a failing write leaves the old content and no temp file", () =>
    withSsh((ssh, dir) =>
      Effect.gen(function* () {
        const sub = join(dir, "atomic")
        yield* ssh.mkdir(vm, sub)
        const path = join(sub, "kept.txt")
        writeFileSync(path, "old")
        const failing = Stream.concat(pieces(new Uint8Array(200_000).fill(7)), Stream.fail("source broke" as const))
        const error = yield* Effect.flip(ssh.writeFile(vm, path, failing))
        expect(error).toBe("source broke")
        expect(readFileSync(path, "utf8")).toBe("old")
        expect(readdirSync(sub)).toEqual(["kept.txt"])
        // A write into a missing directory fails with the temp's path, nothing created.
        const missing = yield* Effect.flip(ssh.writeFile(vm, join(sub, "no", "file"), Stream.make(new Uint8Array([1]))))
        expect(missing._tag).toBe("SftpError")
        expect(readdirSync(sub)).toEqual(["kept.txt"])
      })
    ))

  it.effect("after a dropped connection, file calls fail as SshDisconnected (never SftpError) until one reconnects", () =>
    Effect.gen(function* () {
      const fx = yield* Fixture
      yield* withSsh((ssh, dir) =>
        Effect.gen(function* () {
          const path = join(dir, "survives.txt")
          yield* ssh.writeFile(vm, path, Stream.make(new Uint8Array([1, 2])))
          fx.dropAll()
          for (let attempt = 0; attempt < 50; attempt++) {
            const result = yield* Effect.either(readAll(ssh.readFile(vm, path)))
            if (result._tag === "Right") {
              expect([...result.right]).toEqual([1, 2])
              return
            }
            expect((result.left as { _tag: string })._tag).toBe("SshDisconnected")
            yield* Effect.sleep("20 millis")
          }
          return yield* Effect.dieMessage("files never worked again after the drop")
        })
      )
    }))

  it.effect("reading a missing file is SftpError not-found naming the path", () =>
    withSsh((ssh, dir) =>
      Effect.gen(function* () {
        const path = join(dir, "does-not-exist")
        const error = yield* Effect.flip(readAll(ssh.readFile(vm, path)))
        expect(error).toMatchObject({ _tag: "SftpError", reason: "not-found", path })
        expect((error as Error).message).toContain(path)
        expect((error as Error).message).toContain("VM 5c0ffee0…")
      })
    ))

  it.effect("mkdir (recursive), readDir, stat and remove (recursive)", () =>
    withSsh((ssh, dir) =>
      Effect.gen(function* () {
        const root = join(dir, "tree")
        yield* ssh.mkdir(vm, join(root, "a", "b"), { recursive: true })
        yield* ssh.mkdir(vm, join(root, "a", "b"), { recursive: true })
        yield* ssh.writeFile(vm, join(root, "a", "b", "f"), Stream.make(new Uint8Array([1, 2, 3])))
        yield* ssh.writeFile(vm, join(root, "a", "g"), Stream.make(new Uint8Array([])))
        const entries = yield* ssh.readDir(vm, join(root, "a"))
        expect(entries.map((e) => [e.name, e.type])).toEqual([["b", "directory"], ["g", "file"]])
        expect((yield* ssh.stat(vm, join(root, "a", "b", "f"))).size).toBe(3)
        const notEmpty = yield* Effect.flip(ssh.remove(vm, join(root, "a")))
        expect(notEmpty._tag).toBe("SftpError")
        yield* ssh.remove(vm, root, { recursive: true })
        const gone = yield* Effect.flip(ssh.stat(vm, root))
        expect(gone).toMatchObject({ _tag: "SftpError", reason: "not-found" })
      })
    ))
})
