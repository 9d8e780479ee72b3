/**
 * The `troupe` command tree (pure definitions; `bin/troupe.ts` provides the platform).
 */
import { Args, Command, Options } from "@effect/cli"
import { Effect } from "effect"
import { version } from "../version.js"
import { actorCommands } from "./ActorCommands.js"
import { fleet } from "./FleetCommands.js"
import { recipesCommand } from "./RecipeCommands.js"
import { top } from "./TopCommand.js"
import type { RunInput } from "./RunCommand.js"
import { vm } from "./VmCommands.js"
import { swarm } from "./SwarmCommands.js"
import { lt } from "./LieutenantCommands.js"

/**
 * `troupe run` loads the execution core (CommandGraph, LocalHost, Recipes) only when it runs,
 * so the commands that only talk to the daemon start fast.
 */
const runCommand = (input: RunInput) =>
  Effect.flatMap(
    Effect.promise(() => Promise.all([import("./RunCommand.js"), import("../layers/Live.js")])),
    ([run, live]) => run.runCommand(input).pipe(Effect.provide(live.layer()))
  )

const run = Command.make(
  "run",
  {
    positionals: Args.text({ name: "recipe | k=v" }).pipe(
      Args.withDescription("A recipe id or recipe file (.json), then key=value pairs (a JSON array/object value is used as such)"),
      Args.repeated
    ),
    template: Options.text("template").pipe(
      Options.withDescription("An inline command template (a leaf command, or JSON for a sequence/node) instead of a recipe"),
      Options.optional
    ),
    values: Options.text("values").pipe(Options.withDescription("A JSON object of values; wins over key=value pairs"), Options.optional),
    cwd: Options.text("cwd").pipe(Options.withDescription("Working directory of every leaf (default: the current directory)"), Options.optional),
    on: Options.text("on").pipe(Options.withDescription("Where leaves without their own `on` run: local (default), vm:<id>, commit:<id> or golden"), Options.optional),
    json: Options.boolean("json").pipe(Options.withDescription("Print one JSON result object {status, code, stdout, stderr_tail, duration_ms, failures, soft_quorum?}")),
    dryRun: Options.boolean("dry-run").pipe(Options.withDescription("Print the plan as a tree without running anything (with --json: the planned leaves as JSON: argv, cwd, stdin_from, …)"))
  },
  runCommand
).pipe(
  Command.withDescription(
    "Run a recipe or template in the foreground and exit with its code.\n" +
      "Examples:\n" +
      "  troupe run repo-health\n" +
      "  troupe run --template 'printf [%s] {a} {b=two}' a='x y'\n" +
      "  troupe run ./my-recipe.json scope=README.md --json\n" +
      "  troupe run repo-health --dry-run"
  )
)

/** The top-level commands, in help order. */
export const commands = [run, ...actorCommands, recipesCommand, fleet, vm, top, swarm, lt] as const

export const troupe = Command.make("troupe").pipe(
  Command.withDescription("Effect-native actor runtime for coding agents"),
  Command.withSubcommands(commands)
)

export const cli = Command.run(troupe, { name: "troupe", version })
