/**
 * The top-level help (`troupe`, `troupe --help`, `troupe -h`): a short list of the commands
 * grouped by purpose, one line each, with details one `--help` deeper. `@effect/cli`'s own
 * top-level help lists every subcommand with all its options and examples (a few hundred
 * lines) and has no grouping, so `src/cli/Main.ts` prints this instead; `troupe <command>
 * --help` is still `@effect/cli`'s. The text has no ANSI escapes.
 */

/** The purpose groups, in print order. */
export const groups = ["Actors", "Messaging", "Recipes", "VMs", "Agents", "Daemon", "Views"] as const
export type Group = (typeof groups)[number]

/**
 * Every top-level command's group and one-line summary. A command missing here fails
 * test/cli/TopHelp.test.ts (and is listed under "Other" rather than hidden).
 */
export const purposes: Readonly<Record<string, { readonly group: Group; readonly summary: string }>> = {
  run: { group: "Actors", summary: "run a recipe or template in the foreground and exit with its code" },
  spawn: { group: "Actors", summary: "start a run (an actor) owned by the daemon; returns at once" },
  ps: { group: "Actors", summary: "list this session's runs" },
  inspect: { group: "Actors", summary: "read one view of a run, branch, room, tool or session" },
  logs: { group: "Actors", summary: "print (or follow) a run's stdout.log or stderr.log" },
  wait: { group: "Actors", summary: "wait for a run to finish; exits with its code" },
  kill: { group: "Actors", summary: "stop a run: SIGTERM to its process group, then SIGKILL" },
  events: { group: "Actors", summary: "print the session's event stream (runs ending, steps failing)" },
  archive: { group: "Actors", summary: "move ended runs to TROUPE_HOME/archive/, out of the list" },
  prune: { group: "Actors", summary: "delete ended runs and their state directories" },
  message: { group: "Messaging", summary: "send one typed message to an address (run:, branch:, room:, …)" },
  inbox: { group: "Messaging", summary: "read and settle the messages queued for a run or branch" },
  room: { group: "Messaging", summary: "post to a run's room or follow what is said in it" },
  recipes: { group: "Recipes", summary: "list, show, validate, register and diagnose recipes" },
  vm: { group: "VMs", summary: "Vers VMs: create, branch, commit, restore, exec, cp, delete…" },
  fleet: { group: "VMs", summary: "a local fake Vers fleet for trying VM commands without an account" },
  swarm: { group: "Agents", summary: "groups of Pi workers: spawn, task, wait, read, teardown" },
  lt: { group: "Agents", summary: "lieutenants: long-lived named Pi agents you send work to" },
  daemon: { group: "Daemon", summary: "start, stop or check the daemon that owns the runs" },
  top: { group: "Views", summary: "a live view of runs, rooms, inboxes, VMs and agents" }
}

/**
 * The help text for the top-level command `names` (in command order), ending in a newline:
 * a title line, usage, one block per group with one `name  summary` line per command, and the
 * global options.
 */
export const topHelp = (names: ReadonlyArray<string>, version: string): string => {
  const width = Math.max(...names.map((n) => n.length)) + 2
  const line = (name: string, summary: string) => `  ${name.padEnd(width)}${summary}`
  const blocks = [...groups, "Other" as const].flatMap((group) => {
    const members = names.filter((n) => (purposes[n]?.group ?? "Other") === group)
    return members.length === 0 ? [] : [[group, ...members.map((n) => line(n, purposes[n]?.summary ?? ""))].join("\n")]
  })
  return [
    `troupe ${version}: an actor runtime for coding agents`,
    "",
    "Usage: troupe <command> [options]",
    "",
    ...blocks.flatMap((b) => [b, ""]),
    "Details, options and examples: troupe <command> --help (e.g. troupe spawn --help).",
    "Global options: --help, --version, --log-level <level>, --completions <shell>.",
    ""
  ].join("\n")
}

/** Whether `args` (the words after `troupe`) ask for the top-level help: none, `--help` or `-h`. */
export const wantsTopHelp = (args: ReadonlyArray<string>): boolean =>
  args.length === 0 || (args.length === 1 && (args[0] === "--help" || args[0] === "-h"))
