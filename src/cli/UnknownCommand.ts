/**
 * Unknown commands, caught before `@effect/cli` parses: `troupe swarm --help` printed the
 * top-level help and exited 0, and `troupe spwan` listed every command without a hint. Now a
 * word in command position that names no command is one sentence with the closest names
 * (Levenshtein distance ≤ 2, `fastest-levenshtein`) and exit code 2, at the top level and one
 * level down (`troupe vm lss`).
 */
import { Command } from "@effect/cli"
import { HashMap } from "effect"
import { distance } from "fastest-levenshtein"

/** A command of the tree: its name and the names of its direct subcommands (empty for a leaf). */
export interface CommandNames {
  readonly name: string
  readonly subcommands: ReadonlyArray<string>
}

/** Names of `commands` and of their direct subcommands, read from the `@effect/cli` tree. */
export const commandNames = (commands: ReadonlyArray<Command.Command<any, any, any, any>>): ReadonlyArray<CommandNames> =>
  commands.map((command) => {
    const children = [...HashMap.keys(Command.getSubcommands(command))]
    // A leaf command reports itself as its only "subcommand".
    const name = nameOf(command)
    return { name, subcommands: children.length === 1 && children[0] === name ? [] : children }
  })

const nameOf = (command: Command.Command<any, any, any, any>): string => [...Command.getNames(command)][0] ?? ""

/** Up to three names within distance 2 of `word`, closest first. */
export const closest = (word: string, names: ReadonlyArray<string>): ReadonlyArray<string> =>
  names
    .map((name) => ({ name, d: distance(word, name) }))
    .filter((c) => c.d <= 2 || (word.length >= 3 && c.name.startsWith(word)))
    .sort((a, b) => a.d - b.d || a.name.localeCompare(b.name))
    .slice(0, 3)
    .map((c) => c.name)

const sentence = (path: string, word: string, names: ReadonlyArray<string>) => {
  const near = closest(word, names)
  const hint = near.length === 0 ? "" : `; did you mean ${near.map((n) => `"${path} ${n}"`).join(" or ")}?`
  return `unknown command "${path} ${word}"${hint} (${path} --help lists its commands)`
}

/**
 * The error sentence for `args` (the words after `troupe`), or undefined when its command
 * words are known. Only words before the first option are command words; the check stops at
 * a leaf command (whose own arguments follow).
 */
export const unknownCommand = (args: ReadonlyArray<string>, tree: ReadonlyArray<CommandNames>): string | undefined => {
  const [first, second] = args
  if (first === undefined || first.startsWith("-")) return undefined
  const command = tree.find((c) => c.name === first)
  if (command === undefined) return sentence("troupe", first, tree.map((c) => c.name))
  if (command.subcommands.length === 0 || second === undefined || second.startsWith("-")) return undefined
  return command.subcommands.includes(second) ? undefined : sentence(`troupe ${first}`, second, command.subcommands)
}
