/**
 * Unknown commands are one sentence with a suggestion and exit 2 (issue 19 item 5: `troupe
 * swarm --help` printed the top-level help and exited 0); help has no ANSI escapes when stdout
 * is not a terminal or NO_COLOR is set (`troupe --help | less` showed raw codes).
 */
import { describe, expect, it } from "vitest"
import { commands } from "../../src/cli/Cli.js"
import { colourWanted } from "../../src/cli/PlainConsole.js"
import { closest, commandNames, unknownCommand } from "../../src/cli/UnknownCommand.js"
import { existsSync } from "node:fs"
import { run, troupeBinPath, troupeBin } from "../support/exec.js"

const tree = commandNames(commands)
const esc = "\u001b["

describe("unknown commands (unit)", () => {
  it("reads the tree: top-level names and direct subcommands; leaves have none", () => {
    const byName = new Map(tree.map((c) => [c.name, c.subcommands]))
    expect(byName.get("spawn")).toEqual([])
    expect(byName.get("vm")).toContain("ls")
    expect(byName.get("daemon")).toEqual(expect.arrayContaining(["start", "stop", "status"]))
  })

  it("known words pass; an unknown word in command position is a sentence with the closest names", () => {
    expect(unknownCommand([], tree)).toBeUndefined()
    expect(unknownCommand(["--help"], tree)).toBeUndefined()
    expect(unknownCommand(["spawn", "anything", "--as", "x"], tree)).toBeUndefined()
    expect(unknownCommand(["vm", "ls", "--json"], tree)).toBeUndefined()
    expect(unknownCommand(["spwan"], tree)).toBe(`unknown command "troupe spwan"; did you mean "troupe spawn"? (troupe --help lists its commands)`)
    expect(unknownCommand(["vm", "lss"], tree)).toBe(`unknown command "troupe vm lss"; did you mean "troupe vm ls"? (troupe vm --help lists its commands)`)
    expect(unknownCommand(["zzzzzz"], tree)).toBe(`unknown command "troupe zzzzzz" (troupe --help lists its commands)`)
    expect(closest("insp", ["inspect", "inbox", "kill"])).toEqual(["inspect"])
  })

  it("colour only on a TTY without a non-empty NO_COLOR", () => {
    expect(colourWanted(true, undefined)).toBe(true)
    expect(colourWanted(true, "")).toBe(true)
    expect(colourWanted(true, "1")).toBe(false)
    expect(colourWanted(false, undefined)).toBe(false)
    expect(colourWanted(undefined, undefined)).toBe(false)
  })
})

describe("unknown commands and plain help (built CLI)", () => {
  it("an unknown command with --help fails with one sentence (exit 2); a typo gets a suggestion", async () => {
    // `troupe swarm` was the unknown command of issue 19; it exists now, so another word stands in.
    const flock = await troupeBin(["flock", "--help"])
    expect(flock.code).toBe(2)
    expect(flock.stdout).toBe("")
    expect(flock.stderr).toBe(`error: unknown command "troupe flock" (troupe --help lists its commands)\n`)
    const swarm = await troupeBin(["swarm", "--help"])
    expect(swarm.code).toBe(0)
    expect(swarm.stdout).toContain("teardown")
    const typo = await troupeBin(["vm", "lss"])
    expect(typo.code).toBe(2)
    expect(typo.stderr).toContain(`did you mean "troupe vm ls"?`)
  })

  it("help through a pipe carries no escape codes; the text is still there", async () => {
    const help = await troupeBin(["--help"])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain("Usage: troupe <command>")
    expect(help.stdout).toContain("spawn")
    expect(help.stdout.includes(esc)).toBe(false)
    const sub = await troupeBin(["vm", "--help"])
    expect(sub.stdout).toContain("ls")
    expect(sub.stdout.includes(esc)).toBe(false)
  })

  // A subcommand's help: the top-level help is troupe's own plain list (test/cli/TopHelp.test.ts).
  it.runIf(existsSync("/usr/bin/script"))("on a terminal help is in colour (so the check above can fail), and NO_COLOR=1 turns it off", async () => {
    const onTty = (env: Record<string, string | undefined>) =>
      run("/usr/bin/script", ["-qec", `${process.execPath} ${troupeBinPath} vm --help`, "/dev/null"], { env: { ...process.env, ...env }, timeout: 60_000 })
    const coloured = await onTty({ NO_COLOR: "" })
    expect(coloured.code).toBe(0)
    expect(coloured.stdout.includes(esc)).toBe(true)
    const plain = await onTty({ NO_COLOR: "1" })
    expect(plain.stdout).toContain("USAGE")
    expect(plain.stdout.includes(esc)).toBe(false)
  })
})
