/**
 * The golden image records file: appends in order, survives a missing home, and a damaged file
 * is one sentence naming it.
 */
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { GoldenComponent, GoldenImage } from "../../../src/domain/Golden.js"
import { addGolden, listGoldens, recordsPath } from "../../../src/services/golden/Records.js"

const image = (n: number) =>
  new GoldenImage({
    commit_id: `00000000-0000-4000-8000-00000000000${n}`,
    name: `g${n}`,
    created_at: n,
    vm_id: "vm",
    from: null,
    troupe_version: "0.1.0",
    components: [new GoldenComponent({ name: "node", action: "present", version: "20.0.0" })],
    vm_kept: false
  })

describe("golden records", () => {
  it.effect("none before the first build; appended oldest first; written as JSON", () =>
    Effect.gen(function* () {
      const home = join(fs.mkdtempSync(join(tmpdir(), "troupe-golden-rec-")), "home")
      expect(yield* listGoldens(home)).toEqual([])
      yield* addGolden(home, image(1))
      yield* addGolden(home, image(2))
      expect((yield* listGoldens(home)).map((g) => g.name)).toEqual(["g1", "g2"])
      expect(JSON.parse(fs.readFileSync(recordsPath(home), "utf8")).goldens[1].commit_id).toBe(image(2).commit_id)
      expect(fs.readdirSync(home)).toEqual(["goldens.json"])
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.effect("a damaged file is a GoldenError records naming it, in one sentence", () =>
    Effect.gen(function* () {
      const home = fs.mkdtempSync(join(tmpdir(), "troupe-golden-rec-"))
      fs.writeFileSync(recordsPath(home), "{not json")
      const notJson = yield* Effect.flip(listGoldens(home))
      expect(notJson).toMatchObject({ _tag: "GoldenError", reason: "records" })
      expect(notJson.message).toContain(`${recordsPath(home)} are not JSON`)
      fs.writeFileSync(recordsPath(home), JSON.stringify({ goldens: [{ commit_id: 1 }] }))
      const wrong = yield* Effect.flip(listGoldens(home))
      expect(wrong.message).toContain(`${recordsPath(home)} are not valid`)
      expect(wrong.message.split("\n")).toHaveLength(1)
    }).pipe(Effect.provide(NodeFileSystem.layer)))
})
