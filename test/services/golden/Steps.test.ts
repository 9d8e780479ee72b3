/**
 * The golden provisioning steps as data: report lines, the secret scan's stdin (secrets never in
 * a script), and each script as POSIX sh that parses.
 */
import { describe, expect, it } from "@effect/vitest"
import { execFileSync, spawnSync } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseReport, piPackage, provisionSteps, secretsStep } from "../../../src/services/golden/Steps.js"

describe("golden steps", () => {
  it("the report line is the last troupe-golden: line; `-` is no version", () => {
    expect(parseReport("noise\ntroupe-golden: present 20.1.0\n")).toEqual({ action: "present", version: "20.1.0" })
    expect(parseReport("troupe-golden: installed 1\ntroupe-golden: configured -\n")).toEqual({ action: "configured", version: null })
    expect(parseReport("nothing here\n")).toBeUndefined()
  })

  it("secrets go on stdin, one a line, blank or multi-line ones dropped; never into the script", () => {
    const step = secretsStep(["sk-one-123456", "", "  ", "two\nlines", "sk-two-654321"])
    expect(step.stdin).toBe("sk-one-123456\nsk-two-654321\n")
    expect(step.script).not.toContain("sk-one")
  })

  it("node, git, pi, workspace in order; the Pi package defaults to the supported one; every script parses as sh", () => {
    const steps = provisionSteps({ npmPrefix: "$HOME/.npm-global" })
    expect(steps.map((s) => s.name)).toEqual(["node", "git", "pi", "workspace"])
    expect(steps[2]!.script).toContain(piPackage)
    for (const step of [...steps, secretsStep([])]) execFileSync("sh", ["-n", "-c", step.script])
  })

  it("where HOME is not the user's home (a fake VM), nothing is installed system-wide: Pi without --npm-prefix refuses", () => {
    const home = mkdtempSync(join(tmpdir(), "troupe-golden-home-"))
    const pi = provisionSteps({ piPackage: "/nonexistent/pi.tgz" })[2]!
    const r = spawnSync("sh", ["-c", pi.script], { env: { HOME: home, PATH: "/usr/bin:/bin" }, encoding: "utf8" })
    expect(r.status).toBe(6)
    expect(r.stderr).toContain("is not this user's home directory (a fake VM?): pass --npm-prefix")
  })
})
