/**
 * The CLI program (loaded by `bin/troupe.ts` for everything but `--version`): provide the
 * configuration and the platform, run the command tree, print errors as one line
 * (`error: <message>`), and exit with the command's code.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import { defaultTeardown } from "@effect/platform/Runtime"
import { Cause, Effect, Layer } from "effect"
import * as Config from "../layers/Config.js"
import { cli, commands } from "./Cli.js"
import { errorReport } from "./ErrorReport.js"
import { colourless, colourWanted } from "./PlainConsole.js"
import { topHelp, wantsTopHelp } from "./TopHelp.js"
import { commandNames, unknownCommand } from "./UnknownCommand.js"
import { version } from "../version.js"

const report = (cause: Cause.Cause<unknown>) =>
  Effect.sync(() => {
    const { exitCode, line } = errorReport(cause)
    process.exitCode = exitCode
    if (line !== undefined) process.stderr.write(`${line}\n`)
  })

const args = process.argv.slice(2)
const names = commandNames(commands)
const unknown = unknownCommand(args, names)

const program = wantsTopHelp(args)
  // Our grouped list: @effect/cli's top-level help lists every option of every command.
  ? Effect.sync(() => void process.stdout.write(topHelp(names.map((c) => c.name), version)))
  : unknown === undefined
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
