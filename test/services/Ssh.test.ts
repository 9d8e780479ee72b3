/**
 * `Ssh` commands against a real OpenSSH sshd on loopback, through a TLS proxy (the Vers front):
 * output, exit codes and signals, stdin, env/cwd, the transport/exit distinction, interruption,
 * pooling (counted at the proxy) and reconnection, and the BrokerChannel-shaped `channel`.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Chunk, Context, Effect, Exit, Fiber, Layer, Option, Stream } from "effect"
import { execFileSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import * as net from "node:net"
import { VmId } from "../../src/domain/Vers.js"
import { shellQuote, Ssh, SshHostKeys } from "../../src/services/Ssh.js"
import { type SshFixture, sshConfig, sshFixture, sshKeyOnlyApi } from "../support/sshd.js"

class Fixture extends Context.Tag("test/SshFixture")<Fixture, SshFixture>() {}

const vm = VmId.make("0b5e8a52-3f57-4e5b-9d0c-7a1f2e3d4c5b")
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

/** The service over the fixture; `counter` counts key fetches. */
const sshLayer = (fx: SshFixture, counter?: { fetches: number }) =>
  Ssh.layerWith({ readyTimeoutMs: 10_000 }).pipe(Layer.provide(Layer.mergeAll(sshKeyOnlyApi(fx.privateKey, counter), sshConfig(fx), SshHostKeys.layerMemory)))

const withSsh = <A, E>(f: (ssh: typeof Ssh.Service, fx: SshFixture) => Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const fx = yield* Fixture
    return yield* Effect.flatMap(Ssh, (ssh) => f(ssh, fx)).pipe(Effect.provide(sshLayer(fx)))
  })

/** Polls `check` every 20 ms for at most 10 s (a positive signal with a bound). */
const eventually = (check: () => boolean, what: string) =>
  Effect.gen(function* () {
    for (let i = 0; i < 500; i++) {
      if (check()) return
      yield* Effect.sleep("20 millis")
    }
    return yield* Effect.dieMessage(`timed out waiting for ${what}`)
  })

layer(Layer.scoped(Fixture, sshFixture), { timeout: 60_000, excludeTestServices: true })("Ssh against OpenSSH sshd", (it) => {
  describe("exec", () => {
    it.effect("streams stdout and stderr apart and reports the exit code; TLS carries the templated SNI", () =>
      withSsh((ssh, fx) =>
        Effect.gen(function* () {
          const result = yield* ssh.run(vm, "printf out; printf err >&2; exit 3", { check: false })
          expect(text(result.stdout)).toBe("out")
          expect(text(result.stderr)).toBe("err")
          expect(result.exit).toEqual({ code: 3, signal: null })
          expect(fx.servernames()).toContain(`${vm}.vm.test`)
        })
      ))

    it.effect("a non-zero exit is RemoteCommandFailed with the stderr tail, not a transport error", () =>
      withSsh((ssh) =>
        Effect.gen(function* () {
          const error = yield* Effect.flip(ssh.run(vm, "echo nope >&2; exit 7"))
          expect(error._tag).toBe("RemoteCommandFailed")
          if (error._tag !== "RemoteCommandFailed") return
          expect(error.code).toBe(7)
          expect(error.stderrTail).toBe("nope\n")
          expect(error.message).toContain("exited with code 7")
        })
      ))

    it.effect("a command killed by a signal reports the signal", () =>
      withSsh((ssh) =>
        Effect.gen(function* () {
          const result = yield* ssh.run(vm, "kill -KILL $$", { check: false })
          expect(result.exit).toEqual({ code: null, signal: "SIGKILL" })
        })
      ))

    it.effect("stdin reaches the command byte-exactly, env and cwd apply, argv is quoted", () =>
      withSsh((ssh) =>
        Effect.gen(function* () {
          const bytes = new Uint8Array([0, 1, 255, 10, 13, 0x80])
          const echoed = yield* ssh.run(vm, "cat", { stdin: bytes })
          expect([...echoed.stdout]).toEqual([...bytes])
          const env = yield* ssh.run(vm, `printf '%s|%s' "$GREETING" "$(pwd)"`, { env: { GREETING: "it's a \"test\" $HOME" }, cwd: "/tmp" })
          expect(text(env.stdout)).toBe(`it's a "test" $HOME|/tmp`)
          const argv = yield* ssh.run(vm, shellQuote(["printf", "%s\\n", "a b", "it's", "$(x)", ""]))
          expect(text(argv.stdout)).toBe("a b\nit's\n$(x)\n\n")
          const missing = yield* Effect.flip(ssh.run(vm, "true", { cwd: "/no/such/dir" }))
          expect(missing._tag).toBe("RemoteCommandFailed")
        })
      ))

    it.effect("write/end drive stdin of a running command", () =>
      withSsh((ssh) =>
        Effect.scoped(
          Effect.gen(function* () {
            const proc = yield* ssh.exec(vm, "tr a-z A-Z")
            const out = yield* Effect.fork(Stream.runCollect(proc.stdout))
            yield* proc.write(new TextEncoder().encode("hello "))
            yield* proc.write(new TextEncoder().encode("vm"))
            yield* proc.end
            const chunks = yield* Fiber.join(out)
            expect(text(Buffer.concat(Chunk.toArray(chunks)))).toBe("HELLO VM")
            expect(yield* proc.exit).toEqual({ code: 0, signal: null })
          })
        )
      ))

    it.effect("closing the scope of a running command stops it and closes its channel", () =>
      withSsh((ssh) =>
        Effect.gen(function* () {
          const pid = yield* Effect.scoped(
            Effect.gen(function* () {
              const proc = yield* ssh.exec(vm, "echo $$; exec sleep 300")
              const first = yield* proc.stdout.pipe(Stream.decodeText(), Stream.splitLines, Stream.runHead)
              const pid = Number(Option.getOrThrow(first))
              expect(existsSync(`/proc/${pid}`)).toBe(true)
              return pid
            })
          )
          yield* eventually(() => !existsSync(`/proc/${pid}`), `sleep ${pid} to end`)
        })
      ))

    it.effect("interrupting a fiber waiting on exit stops the remote command", () =>
      withSsh((ssh) =>
        Effect.gen(function* () {
          const pids: Array<number> = []
          const fiber = yield* Effect.fork(
            Effect.scoped(
              Effect.gen(function* () {
                const proc = yield* ssh.exec(vm, "echo $$; exec sleep 300")
                yield* proc.stdout.pipe(Stream.decodeText(), Stream.splitLines, Stream.take(1), Stream.runForEach((l) => Effect.sync(() => pids.push(Number(l)))))
                return yield* proc.exit
              })
            )
          )
          yield* eventually(() => pids.length === 1, "the remote pid")
          yield* Fiber.interrupt(fiber)
          yield* eventually(() => !existsSync(`/proc/${pids[0]}`), "sleep to end")
        })
      ))
  })

  describe("pool", () => {
    it.effect("20 commands share one connection (counted at the TLS front) and one key fetch", () =>
      Effect.gen(function* () {
        const fx = yield* Fixture
        const counter = { fetches: 0 }
        const before = fx.connections()
        yield* Effect.gen(function* () {
          const ssh = yield* Ssh
          for (let i = 0; i < 20; i++) {
            const r = yield* ssh.run(vm, `echo ${i}`)
            expect(text(r.stdout)).toBe(`${i}\n`)
          }
          const parallel = yield* Effect.all(Array.from({ length: 5 }, (_, i) => ssh.run(vm, `echo p${i}`)), { concurrency: 5 })
          expect(parallel.map((r) => text(r.stdout))).toEqual(["p0\n", "p1\n", "p2\n", "p3\n", "p4\n"])
        }).pipe(Effect.provide(sshLayer(fx, counter)))
        expect(fx.connections() - before).toBe(1)
        expect(counter.fetches).toBe(1)
      }))

    it.effect("a dropped connection fails the running command as a transport error, and the next call reconnects", () =>
      Effect.gen(function* () {
        const fx = yield* Fixture
        yield* Effect.gen(function* () {
          const ssh = yield* Ssh
          yield* ssh.run(vm, "true")
          const before = fx.connections()
          let pid = 0
          const exit = yield* Effect.scoped(
            Effect.gen(function* () {
              const proc = yield* ssh.exec(vm, "echo $$; exec sleep 300")
              pid = Number(Option.getOrThrow(yield* proc.stdout.pipe(Stream.decodeText(), Stream.splitLines, Stream.runHead)))
              fx.dropAll()
              return yield* Effect.exit(proc.exit)
            })
          )
          // Reaping what a dropped connection left running is VmHost's job (setsid groups); here
          // the test cleans up its own sleep, which this machine plays the VM for.
          yield* Effect.sync(() => process.kill(pid, "SIGKILL"))
          expect(Exit.isFailure(exit)).toBe(true)
          if (Exit.isFailure(exit)) expect(String(exit.cause)).toContain("SshDisconnected")
          const again = yield* ssh.run(vm, "echo back")
          expect(text(again.stdout)).toBe("back\n")
          expect(fx.connections() - before).toBe(1)
        }).pipe(Effect.provide(sshLayer(fx)))
      }))

    it.effect("an unreachable front is SshConnectError naming the VM", () =>
      Effect.gen(function* () {
        const fx = yield* Fixture
        const error = yield* Effect.flip(
          Effect.flatMap(Ssh, (ssh) => ssh.run(vm, "true")).pipe(
            Effect.provide(
              Ssh.layer.pipe(Layer.provide(Layer.mergeAll(sshKeyOnlyApi(fx.privateKey), sshConfig(fx, { sshPort: 1 }), SshHostKeys.layerMemory)))
            )
          )
        )
        expect(error._tag).toBe("SshConnectError")
        expect(error.message).toContain("VM 0b5e8a52…")
      }))

    it.effect("a front that never speaks SSH is SshTimeout after readyTimeoutMs", () =>
      Effect.gen(function* () {
        const fx = yield* Fixture
        const silent = yield* Effect.acquireRelease(
          Effect.async<net.Server>((resume) => {
            const server = net.createServer(() => {})
            server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
          }),
          (server) => Effect.sync(() => void server.close())
        )
        fx.retarget((silent.address() as net.AddressInfo).port)
        const error = yield* Effect.flip(
          Effect.flatMap(Ssh, (ssh) => ssh.run(vm, "true")).pipe(
            Effect.provide(Ssh.layerWith({ readyTimeoutMs: 300 }).pipe(Layer.provide(Layer.mergeAll(sshKeyOnlyApi(fx.privateKey), sshConfig(fx), SshHostKeys.layerMemory))))
          )
        ).pipe(Effect.ensuring(Effect.sync(() => fx.retarget(fx.sshd.port))))
        expect(error._tag).toBe("SshTimeout")
        expect(error.message).toContain("300 ms")
      }).pipe(Effect.scoped))

    it.effect("a key the VM does not accept is SshAuthError", () =>
      Effect.gen(function* () {
        const fx = yield* Fixture
        const other = yield* Effect.sync(() => {
          const path = `${fx.dir}/stranger`
          execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path], { stdio: "ignore" })
          return readFileSync(path, "utf8")
        })
        const error = yield* Effect.flip(
          Effect.flatMap(Ssh, (ssh) => ssh.run(vm, "true")).pipe(
            Effect.provide(Ssh.layer.pipe(Layer.provide(Layer.mergeAll(sshKeyOnlyApi(other), sshConfig(fx), SshHostKeys.layerMemory))))
          )
        )
        expect(error._tag).toBe("SshAuthError")
        expect(error.message).not.toContain("PRIVATE KEY")
      }))
  })

  describe("channel", () => {
    it.effect("is a BrokerChannel-shaped duplex: ordered writes, input until end, stderr tail", () =>
      withSsh((ssh) =>
        Effect.scoped(
          Effect.gen(function* () {
            const ch = yield* ssh.channel(vm, "cat; echo gone >&2")
            const collected = yield* Effect.fork(Stream.runCollect(ch.input))
            for (let i = 0; i < 100; i++) ch.write(new TextEncoder().encode(`${i},`))
            ch.end()
            const out = text(Buffer.concat(Chunk.toArray(yield* Fiber.join(collected))))
            expect(out).toBe(Array.from({ length: 100 }, (_, i) => `${i},`).join(""))
            expect(yield* ch.exit).toEqual({ code: 0, signal: null })
            yield* eventually(() => Effect.runSync(ch.stderrTail) === "gone\n", "the stderr tail")
          })
        )
      ))
  })
})
