/**
 * The top-level help is a short list of commands grouped by purpose (issue 19 item 5), with
 * details one `--help` deeper: every top-level command has a purpose (a new command without one
 * fails here), and the built CLI prints the list for `troupe`, `--help` and `-h`.
 */
import { describe, expect, it } from "vitest"
import { commands } from "../../src/cli/Cli.js"
import { groups, purposes, topHelp, wantsTopHelp } from "../../src/cli/TopHelp.js"
import { commandNames } from "../../src/cli/UnknownCommand.js"
import { troupeBin } from "../support/exec.js"

const names = commandNames(commands).map((c) => c.name)

describe("top-level help (unit)", () => {
  it("every top-level command has a purpose, and every purpose a command", () => {
    expect(names).toContain("spawn")
    expect(names.filter((n) => purposes[n] === undefined), "commands without a purpose in src/cli/TopHelp.ts").toEqual([])
    expect(Object.keys(purposes).filter((n) => !names.includes(n)), "purposes of commands that no longer exist").toEqual([])
  })

  it("lists each command once, one line each, under its group, in a short text", () => {
    const text = topHelp(names, "9.9.9")
    const lines = text.split("\n")
    for (const n of names) expect(lines.filter((l) => l.startsWith(`  ${n} `)), n).toHaveLength(1)
    for (const g of groups) expect(lines, g).toContain(g)
    expect(lines.indexOf("Actors")).toBeLessThan(lines.findIndex((l) => l.startsWith("  spawn ")))
    expect(lines.indexOf("Agents")).toBeLessThan(lines.findIndex((l) => l.startsWith("  swarm ")))
    expect(lines.length).toBeLessThan(50)
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(100)
    expect(text).not.toContain("Other")
    expect(topHelp([...names, "zap"], "9.9.9")).toContain("Other\n  zap")
  })

  it("only no words, --help or -h ask for it", () => {
    expect([[], ["--help"], ["-h"]].every(wantsTopHelp)).toBe(true)
    expect([["vm", "--help"], ["--help", "x"], ["ps"]].some(wantsTopHelp)).toBe(false)
  })
})

describe("top-level help (built CLI)", () => {
  it("troupe, --help and -h print the grouped list (exit 0); a subcommand's --help is still its full help", async () => {
    const expected = topHelp(names, (await troupeBin(["--version"])).stdout.trim())
    for (const args of [[], ["--help"], ["-h"]]) {
      const r = await troupeBin(args)
      expect(r.code, args.join(" ")).toBe(0)
      expect(r.stdout).toBe(expected)
    }
    const vm = await troupeBin(["vm", "--help"])
    expect(vm.code).toBe(0)
    expect(vm.stdout).toContain("USAGE")
    expect(vm.stdout).toContain("vm create")
  }, 120_000)
})
