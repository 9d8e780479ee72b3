/**
 * Fake leaves for fake hosts: a {@link LeafProcess} whose streams are given bytes and whose exit
 * is any effect (e.g. a sleep on the `Clock`, so TestClock drives it).
 */
import { Effect, type Scope, Sink, Stream } from "effect"
import type { HostShape, LeafExit, LeafProcess, ProcessIdentity, StartSpec } from "../../src/services/Host.js"

export const fakeLeaf = (options: {
  readonly identity: ProcessIdentity
  readonly stdout?: Uint8Array | undefined
  readonly stderr?: Uint8Array | undefined
  readonly exit: Effect.Effect<LeafExit>
}): LeafProcess => ({
  identity: options.identity,
  stdout: options.stdout === undefined ? Stream.empty : Stream.succeed(options.stdout),
  stderr: options.stderr === undefined ? Stream.empty : Stream.succeed(options.stderr),
  stdin: Sink.drain,
  exit: options.exit,
  signal: () => Effect.void
})

/** A host named `local` whose leaves `start` makes; argv resolves to itself, nothing to reap. */
export const fakeHost = (start: (spec: StartSpec) => Effect.Effect<LeafProcess, never, Scope.Scope>): HostShape => ({
  name: "local",
  start,
  resolve: (argv) => Effect.succeed(argv),
  reap: () => Effect.succeed(0)
})
