/**
 * The packaged library as a whole: every recipe in recipes/ validates through the built binary,
 * is listed as packaged and active, has a one-sentence description, and has a row in the
 * docs/recipes.md table.
 */
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { troupe } from "./support.js"

const ids = readdirSync(join(process.cwd(), "recipes"))
  .filter((f) => f.endsWith(".json"))
  .map((f) => f.slice(0, -".json".length))
  .sort()

describe("packaged recipe library", () => {
  it("has the standard recipes", async () => {
    expect(ids).toEqual([
      "artifact-bundle",
      "artifact-write",
      "coordinator-locker",
      "docs-maintenance",
      "release-summary",
      "repo-health",
      "review-lens",
      "review-quorum",
      "room-swarm",
      "subagent-prompt",
      "subagent-prompts",
      "subagent-tools"
    ])
  })

  it("every recipe validates and is listed as packaged and active", async () => {
    const validate = await troupe(["recipes", "validate", ...ids])
    expect(validate.code).toBe(0)
    expect(validate.stdout.trim().split("\n").map((l) => l.split(" ").slice(0, 2).join(" "))).toEqual(ids.map((id) => `ok ${id}`))
    const list = JSON.parse((await troupe(["recipes", "list", "--json"])).stdout) as Array<{ id: string; source: string; status: string; description: string }>
    for (const id of ids) {
      expect(list.filter((e) => e.id === id)).toEqual([expect.objectContaining({ source: "packaged", status: "active" })])
    }
  })

  it("every recipe has a one-sentence description and a row in docs/recipes.md", async () => {
    const docs = readFileSync(join(process.cwd(), "docs/recipes.md"), "utf8")
    for (const id of ids) {
      const recipe = JSON.parse(readFileSync(join(process.cwd(), "recipes", `${id}.json`), "utf8")) as { description: string }
      expect(recipe.description, id).toMatch(/^[A-Z][^\n]*[^.]$/)
      expect(recipe.description.split(/\.\s/), id).toHaveLength(1)
      expect(docs, id).toMatch(new RegExp(`^\\| \`${id}\` \\| .+ \\|$`, "m"))
    }
  })
})
