/**
 * The CLI program (loaded by `bin/troupe.ts` for everything but `--version`): provide the
 * configuration and the platform, run the command tree, print errors as one line
 * (`error: <message>`), and exit with the command's code.
 */
import { ValidationError } from "@effect/cli"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import { defaultTeardown } from "@effect/platform/Runtime"
import { Cause, Effect, Layer } from "effect"
import * as Config from "../layers/Config.js"
import { cli, commands } from "./Cli.js"
import { exitCodeOf } from "./Common.js"
import { colourless, colourWanted } from "./PlainConsole.js"
import { commandNames, unknownCommand } from "./UnknownCommand.js"

const report = (cause: Cause.Cause<unknown>) =>
  Effect.sync(() => {
    const failure = Cause.failureOption(cause)
    if (failure._tag === "Some") {
      const e = failure.value as { _tag?: string; message?: string }
      process.exitCode = exitCodeOf(e)
      if (e._tag === "CliExit") return
      // @effect/cli already printed validation errors with help.
      if (e._tag === "ValidationError" || (e as { _tag?: string })._tag?.startsWith("Validation")) return
      // Its errors carry a HelpDoc, not a message: printing one gave `error: [object Object]`.
      if (ValidationError.isValidationError(e)) return
      process.stderr.write(`error: ${e.message ?? String(e)}\n`)
      return
    }
    if (Cause.isInterruptedOnly(cause)) {
      process.exitCode = 130
      return
    }
    process.exitCode = 1
    const defect = Cause.squash(cause)
    if (defect instanceof Config.InvalidConfiguration) {
      process.stderr.write(`error: ${defect.message}\n`)
      return
    }
    const first = Cause.pretty(cause).split("\n").find((l) => l.trim() !== "") ?? "unknown"
    process.stderr.write(`error: internal error: ${first}\n`)
  })

const unknown = unknownCommand(process.argv.slice(2), commandNames(commands))

const program = unknown === undefined
  ? cli(process.argv)
  : Effect.sync(() => {
    process.stderr.write(`error: ${unknown}\n`)
    process.exitCode = 2
  })

program.pipe(
  // Help and errors in colour only on a terminal without NO_COLOR.
  (effect) => (colourWanted(process.stdout.isTTY, process.env.NO_COLOR) ? effect : Effect.flatMap(Effect.console, (c) => Effect.withConsole(effect, colourless(c)))),
  // Daemon connections opened by a command close when the command ends.
  Effect.scoped,
  // Only configuration and the platform services the command tree needs (@effect/cli: files,
  // paths, the terminal): each command loads what else it needs. Not all of NodeContext, whose
  // command executor and workers cost startup time on every command and no command uses.
  Effect.provide(Layer.mergeAll(Config.layer(), NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)),
  // After `provide`, so a configuration that cannot be read is reported too.
  Effect.catchAllCause(report),
  // After a signal, runMain exits with the teardown's code: keep one a command set while it was
  // interrupted (`vm exec` on Ctrl-C: 130) instead of 0.
  NodeRuntime.runMain({
    disableErrorReporting: true,
    teardown: (exit, onExit) => defaultTeardown(exit, (code) => onExit(code === 0 && typeof process.exitCode === "number" ? process.exitCode : code))
  })
)
