/**
 * The bodies of `troupe vm exec` and `troupe vm cp` (docs/cli.md "vm exec", "vm cp"). Loaded
 * with `import()` by `./VmExecCommands.ts` when one of them runs, so ssh2 and the Vers client
 * stay out of the CLI's start. They talk SSH in-process (`Ssh`, not the daemon); host keys
 * are shared with the daemon and Pi through `TROUPE_HOME/ssh/host_keys` (`VersLive.sshLayer`).
 */
import { NodeStream } from "@effect/platform-node"
import { Effect, Layer, Schema, Stream } from "effect"
import type { Writable } from "node:stream"
import { VmId } from "../domain/Vers.js"
import * as Config from "../layers/Config.js"
import * as VersLive from "../layers/Vers.js"
import { shellQuote, Ssh } from "../services/Ssh.js"
import { exitCodeOf } from "../services/ssh/ExitCode.js"
import { copy, describeLocation, parseLocation } from "../services/VmCopy.js"
import { CliExit, UsageError } from "./Common.js"

/** `Ssh` for this CLI process: Vers settings from the environment, pins under `TROUPE_HOME`. */
const sshLive = Layer.unwrapEffect(
  Effect.map(Config.TroupeConfig, (config) => VersLive.sshLayer(config.home).pipe(Layer.provide(VersLive.layer())))
)

/** Writes one chunk and waits until the stream took it (backpressure to the SSH window). */
const writeTo = (out: Writable, bytes: Uint8Array) =>
  Effect.async<void>((resume) => {
    out.write(bytes, () => resume(Effect.void))
  })

/**
 * `troupe vm exec <vm> -- argv…`: runs argv (shell-quoted) on the VM, streams its stdout and
 * stderr as they come, feeds this process's stdin when it is not a terminal, and ends the CLI
 * with the remote code (128+n for signal n). Ctrl-C interrupts: the remote command gets TERM.
 * @fails UsageError (no command), SshError (one sentence), CliExit (the remote code)
 */
export const vmExec = (vm: string, argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    if (argv.length === 0) return yield* new UsageError({ message: "troupe vm exec needs a command after the VM id (troupe vm exec <vm> -- <command> [args…])" })
    const vmId = yield* Schema.decodeUnknown(VmId)(vm).pipe(Effect.mapError(() => new UsageError({ message: `Not a VM id: ${JSON.stringify(vm)}` })))
    const ssh = yield* Ssh
    const stdin = process.stdin.isTTY === true
      ? Stream.empty
      : NodeStream.fromReadable<Error, Uint8Array>(() => process.stdin, (e) => e as Error).pipe(Stream.orElse(() => Stream.empty))
    const exit = yield* Effect.scoped(
      Effect.gen(function* () {
        const proc = yield* ssh.exec(vmId, shellQuote(argv), { stdin })
        yield* Effect.all([
          Stream.runForEach(proc.stdout, (b) => writeTo(process.stdout, b)),
          Stream.runForEach(proc.stderr, (b) => writeTo(process.stderr, b))
        ], { concurrency: 2, discard: true })
        return yield* proc.exit
      })
    ).pipe(
      // Ctrl-C interrupts (NodeRuntime.runMain); the scope above stopped the remote command.
      Effect.onInterrupt(() => Effect.sync(() => void (process.exitCode = 130))),
      // A stdin pipe still open (the writer's stream stopped) would keep the process alive.
      Effect.ensuring(Effect.sync(() => process.stdin.destroy()))
    )
    const code = exitCodeOf(exit)
    if (code !== 0) return yield* new CliExit({ code })
  }).pipe(Effect.provide(sshLive))

/**
 * `troupe vm cp SRC DST`: `vm:<id>:<path>` on either side or both (see `VmCopy.copy`).
 * Prints one line: what was copied.
 * @fails CopyError, SftpError, SshError (each one sentence)
 */
export const vmCp = (src: string, dst: string, recursive: boolean) =>
  Effect.gen(function* () {
    const from = yield* parseLocation(src)
    const to = yield* parseLocation(dst)
    if (from.vm === null && to.vm === null) return yield* new UsageError({ message: "troupe vm cp copies to or from a VM: give one side as vm:<id>:<path>" })
    const ssh = yield* Ssh
    const summary = yield* copy(ssh, from, to, { recursive })
    yield* Effect.sync(() =>
      process.stdout.write(`copied ${describeLocation(from)} → ${describeLocation(to)}: ${summary.files} file(s), ${summary.directories} director${summary.directories === 1 ? "y" : "ies"}, ${summary.bytes} bytes\n`)
    )
  }).pipe(Effect.provide(sshLive))

