/**
 * Errors a person can read (issue 12 item 5): every recipe, template, envelope and address
 * error shown to a user — through the built CLI (`recipes list/doctor/validate/register`,
 * `run`, `spawn`, `message`, `inspect recipes`) and through the library (Recipes, CommandGraph,
 * register_tool parameters, envelopes, addresses) — is one line naming the file or field and
 * what is wrong, never a Schema tree. Each case asserts the exact sentence, and `readable`
 * fails on anything that looks like a schema dump.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Effect, Either, Layer } from "effect"
import { execFile } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { parseAddress } from "../../src/domain/Address.js"
import { decodeEnvelopeInput } from "../../src/domain/Envelope.js"
import * as Config from "../../src/layers/Config.js"
import { CommandGraph } from "../../src/services/CommandGraph.js"
import { Recipes } from "../../src/services/Recipes.js"
import { decodeRegisterInput } from "../../src/services/Registry.js"
import { run } from "../support/exec.js"
import { graphLayer, scratch } from "../support/graph.js"

/** Fails on a multi-line text or anything a Schema formatter prints. */
const readable = (text: string): string => {
  const t = text.trim()
  expect(t, "an error message").not.toBe("")
  expect(t.split("\n"), `one line: ${t}`).toHaveLength(1)
  for (const dump of ["└─", "├─", "(troupe/", "Encoded side", "Type side", "<suspended schema>", "ReadonlyArray<", "readonly "]) {
    expect(t, `schema dump in: ${t}`).not.toContain(dump)
  }
  expect(t, `schema dump in: ${t}`).not.toMatch(/Expected .+, actual /)
  expect(t, `schema dump in: ${t}`).not.toMatch(/is unexpected, expected:/)
  return t
}

const bin = join(process.cwd(), "dist/bin/troupe.js")

/** The broken recipes, by file name, and the one sentence each must produce. */
const broken: ReadonlyArray<readonly [id: string, content: string, message: (root: string) => string]> = [
  ["unknown-field", `{"template":"echo","tmeout":5}`, () => `Recipe unknown-field: unknown field "tmeout"`],
  ["wrong-type", `{"template":"echo","async":"yes"}`, () => `Recipe wrong-type: field "async" must be a boolean (got "yes")`],
  ["wrong-template", `{"template":5}`, () => `Recipe wrong-template: field "template" must be a string, an array or an object (got 5)`],
  ["bad-node", `{"template":{"template":"echo","parallel":"yes"}}`, () => `Recipe bad-node: field "template.parallel" must be a boolean (got "yes")`],
  ["no-template", `{"description":"x"}`, () => `Recipe no-template: missing field "template"`],
  ["bad-arg", `{"args":["n:bogus"],"template":"echo {n}"}`, () => "Recipe bad-arg: Unknown argument type for n: bogus. Valid types: string, path, int, number, bool, array, enum."],
  ["bad-enum", `{"args":["mode:enum(a,b)"],"defaults":{"mode":"c"},"template":"echo {mode}"}`, () => "Recipe bad-enum: default of mode: Argument mode must be one of: a, b."],
  ["broken-json", `{"template": "echo",`, () => "Recipe broken-json is not valid JSON: "],
  ["not-object", `[1]`, () => `Recipe not-object must be a JSON object with a "template" field, not an array`],
  [
    "bad-import",
    `{"imports":{"helper":"missing.json"},"template":{"name":"helper"}}`,
    (root) => `Recipe bad-import: Unknown recipe import: helper (missing.json not found; looked at ${join(root, "missing.json")})`
  ],
  [
    "imports-broken",
    `{"imports":{"h":"bad-node.json"},"template":"echo"}`,
    (root) => `Recipe imports-broken imports h (${join(root, "bad-node.json")}): Recipe bad-node: field "template.parallel" must be a boolean (got "yes")`
  ]
]

const makeRoot = () => {
  const dir = scratch("troupe-errors-")
  const root = join(dir, "user")
  mkdirSync(root)
  for (const [id, content] of broken) writeFileSync(join(root, `${id}.json`), content)
  return { dir, root }
}

/** `broken-json`'s message ends with the JSON parser's own words (they differ across Node versions). */
const matches = (actual: string, expected: string) =>
  expected.endsWith(": ") ? expect(actual.startsWith(expected), actual).toBe(true) : expect(actual).toBe(expected)

describe("error messages through the built CLI", () => {
  const { dir, root } = makeRoot()
  const env = { ...process.env, TROUPE_RECIPES: root, TROUPE_HOME: join(dir, "home"), TROUPE_SESSION: "errors", NO_COLOR: "1" }
  // Asynchronous, so the test worker stays responsive while the CLI runs.
  const troupe = (...args: ReadonlyArray<string>) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [bin, ...args], { encoding: "utf8", env, cwd: dir }, (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : null, stdout, stderr })
      })
    })
  /** The one `error: …` line of a failed command. */
  const errorLine = (r: { code: number | null; stderr: string }) => {
    expect(r.code).not.toBe(0)
    return readable(r.stderr).replace(/^error: /, "")
  }
  afterAll(async () => {
    await troupe("daemon", "stop")
  })

  it("recipes list and validate show each broken recipe in one sentence", async () => {
    const list = JSON.parse((await troupe("recipes", "list", "--json")).stdout) as Array<{ id: string; status: string; diagnostics: ReadonlyArray<string> }>
    const text = (await troupe("recipes", "list")).stdout
    const validate = await troupe("recipes", "validate", ...broken.map(([id]) => id))
    expect(validate.code).toBe(1)
    const validated = validate.stdout.trim().split("\n")
    expect(validated).toHaveLength(broken.length)
    for (const [i, [id, , message]] of broken.entries()) {
      const entry = list.find((e) => e.id === id)!
      expect(entry.status, id).toBe("invalid")
      expect(entry.diagnostics).toHaveLength(1)
      matches(readable(entry.diagnostics[0]!), message(root))
      readable(text.split("\n").find((l) => l.startsWith(`${id} `))!)
      matches(readable(validated[i]!).replace(/^\S+ \S+: /, "").replace(` (${join(root, `${id}.json`)})`, ""), message(root))
    }
  })

  // One process per broken recipe and command: generous bounds for a saturated machine.
  it("recipes doctor names the deciding file and the one-sentence diagnostic", async () => {
    for (const [id, , message] of broken) {
      const doctor = await troupe("recipes", "doctor", id)
      expect(doctor.code).toBe(1)
      const rows = doctor.stdout.trim().split("\n")
      for (const row of rows) readable(row)
      matches(rows[rows.length - 1]!.trim(), message(root))
    }
  }, 300_000)

  it("run of a broken recipe fails with the sentence and the file", async () => {
    for (const [id, , message] of broken) {
      const run = errorLine(await troupe("run", id))
      expect(run.endsWith(` (${join(root, `${id}.json`)})`), run).toBe(true)
      matches(run.replace(` (${join(root, `${id}.json`)})`, ""), message(root))
    }
  }, 300_000)

  it("run and spawn with a broken inline template, register with broken parameters", async () => {
    expect(errorLine(await troupe("run", "--template", `{"tmeout":5,"template":"echo"}`))).toBe(`Command template: unknown field "tmeout"`)
    expect(errorLine(await troupe("run", "--template", `["echo",{"template":"x","parallel":"yes"}]`))).toBe(`Command template: field "[1].parallel" must be a boolean (got "yes")`)
    expect(errorLine(await troupe("run", "--template", `{"template":"echo {a:bogus}"}`))).toBe("Unknown argument type for a: bogus. Valid types: string, path, int, number, bool, array, enum.")
    expect(errorLine(await troupe("run", "--template", "echo {n:int}", "n=many"))).toBe("Argument n must be an integer.")
    expect(errorLine(await troupe("spawn", "--template", `{"tmeout":5,"template":"echo"}`))).toBe(`Command template: unknown field "tmeout"`)
    expect(errorLine(await troupe("spawn", "--template", "sleep 1", "--restart", "always", "--max-restarts", "-3"))).toBe(
      `Invalid restart policy: field "max_restarts" must be a number between 0 and 1000 (got -3)`
    )
    // Issue 18 item 8: --values nested 5,000 deep was an internal error for spawn.
    const deep = `{"x":${"[".repeat(5000)}${"]".repeat(5000)}}`
    expect(errorLine(await troupe("spawn", "--template", "echo {x}", "--values", deep))).toBe("--values: values are nested deeper than 64 levels")
    expect(errorLine(await troupe("spawn", "--template", `${"[".repeat(3000)}"echo"${"]".repeat(3000)}`))).toBe("Command template is nested deeper than 256 levels")
    expect(errorLine(await troupe("spawn", "--template", "sleep 1", "--max-log-bytes", "-5"))).toBe("max_log_bytes must be a positive whole number of bytes, not -5")
    expect(errorLine(await troupe("spawn", "--template", "sleep 1", "--as", "-rf"))).toBe("Invalid run id \"-rf\": run ids are 1–128 letters, digits, _ . or -, not starting with - or .")
    expect(errorLine(await troupe("spawn", "unknown-field"))).toBe(`Recipe unknown-field: unknown field "tmeout" (${join(root, "unknown-field.json")})`)
    const from = join(dir, "from.json")
    writeFileSync(from, `{"template":"echo","tmeout":3}`)
    expect(errorLine(await troupe("recipes", "register", "fresh", "--from", from))).toBe(`Invalid register_tool parameters: unknown field "tmeout"`)
    expect(errorLine(await troupe("recipes", "register", "fresh", "--template", `{"template":"echo","parallel":"yes"}`))).toBe(
      `Invalid register_tool parameters: field "template.parallel" must be a boolean (got "yes")`
    )
    writeFileSync(from, `{"template":"echo","failure":5}`)
    expect(errorLine(await troupe("recipes", "register", "fresh", "--from", from))).toBe(`Recipe fresh: field "failure" must be a string (got 5)`)
    // Issue 18 item 8: --from was a plain, unbounded read.
    const fifo = join(dir, "from.fifo")
    await run("mkfifo", [fifo])
    expect(errorLine(await troupe("recipes", "register", "fresh", "--from", fifo))).toBe(`Expected path '${fifo}' to be a regular file`)
    const huge = join(dir, "huge.json")
    writeFileSync(huge, `{"description":"${"x".repeat(2 * 1024 * 1024)}"}`)
    expect(errorLine(await troupe("recipes", "register", "fresh", "--from", huge))).toBe(`Cannot read --from ${huge}: ${huge} is larger than 1048576 bytes`)
    writeFileSync(from, `{"template":"echo","defaults":{"a":${"[".repeat(100)}${"]".repeat(100)}}}`)
    expect(errorLine(await troupe("recipes", "register", "fresh", "--from", from))).toBe(`--from ${from} is nested more than 64 levels deep`)
  }, 300_000)

  it("message: a bad envelope or address is one sentence", async () => {
    expect(errorLine(await troupe("message", "to=bogus:x", "type=note.x"))).toBe("Unsupported actor address kind: bogus")
    expect(errorLine(await troupe("message", "to=run:x", "type=bad type!"))).toBe("Invalid message type: bad type! (types match ^[A-Za-z][A-Za-z0-9_.:-]*$)")
    expect(errorLine(await troupe("message", "to=run:x", "type=note.x", `metadata={"a":`))).toBe("metadata must be a JSON object")
    expect(errorLine(await troupe("message", "to=run:x y", "type=note.x"))).toBe("Invalid run id in address run:x y: ids match ^[A-Za-z0-9_.-]+$")
    readable((await troupe("message", "to=room:a", "type=note.x", "from=zzz")).stderr)
  }, 300_000)

  it("inspect recipes: every problem row is one line", async () => {
    const r = await troupe("inspect", "recipes", "doctor")
    expect(r.code).toBe(0)
    for (const [id, , message] of broken) {
      const lines = r.stdout.split("\n")
      const at = lines.findIndex((l) => l.startsWith(`id=${id} `))
      expect(at, id).toBeGreaterThanOrEqual(0)
      matches(readable(lines[at + 1]!), message(root))
    }
  })
})

describe("error messages through the library", () => {
  const { root } = makeRoot()
  const layer = Layer.mergeAll(
    Recipes.Default.pipe(Layer.provide(Config.layer({ userRecipes: root, packagedRecipes: join(root, "none") }))),
    graphLayer
  ).pipe(Layer.provide(NodeContext.layer))
  const run = <A, E>(e: Effect.Effect<A, E, Recipes | CommandGraph>) => Effect.runPromise(Effect.provide(e, layer))

  it("Recipes: list diagnostics and resolve errors", async () => {
    const list = await run(Effect.flatMap(Recipes, (r) => r.list))
    for (const [id, , message] of broken) {
      matches(readable(list.find((e) => e.id === id)!.diagnostics[0]!), message(root))
      const err = await run(Effect.flip(Effect.flatMap(Recipes, (r) => r.resolve(id))))
      matches(readable(err.message).replace(` (${join(root, `${id}.json`)})`, ""), message(root))
    }
  })

  it("CommandGraph: template errors", async () => {
    const planError = (template: unknown, values: Record<string, unknown> = {}) =>
      run(Effect.flip(Effect.flatMap(CommandGraph, (g) => g.plan(template, { values, cwd: root, home: root })))).then((e) => readable(e.message))
    expect(await planError({ tmeout: 5, template: "echo" })).toBe(`Command template: unknown field "tmeout"`)
    expect(await planError({ template: { template: "echo", retry: [1] } })).toBe(`Command template: field "template.retry" must be a number or a string (got [1])`)
    expect(await planError(5)).toBe("Command template: the value must be a string, an array or an object (got 5)")
    expect(await planError({ label: "x" })).toBe("Command template node needs a `template` (or an import `name`).")
    expect(await planError("echo {mode:enum(a,b)}", { mode: "c" })).toBe("Argument mode must be one of: a, b.")
  })

  it("register_tool parameters, envelopes and addresses", async () => {
    const reg = await Effect.runPromise(Effect.flip(decodeRegisterInput({ name: "x", template: "echo", tmeout: 1 })))
    expect(readable(reg.message)).toBe(`Invalid register_tool parameters: unknown field "tmeout"`)
    const reg2 = await Effect.runPromise(Effect.flip(decodeRegisterInput({ name: 5 })))
    expect(readable(reg2.message)).toBe(`Invalid register_tool parameters: field "name" must be a string (got 5)`)
    for (const bad of [{ to: "run:x" }, { to: "nowhere", type: "a.b" }, { to: "run:x", type: "a.b", tmeout: 1 }, { to: "run:x", type: "a.b", metadata: [1] }, "not json {"]) {
      const e = await Effect.runPromise(Effect.flip(decodeEnvelopeInput(bad)))
      readable(e.message)
    }
    for (const bad of ["", "bogus:x", "run:", "run:a b", "room:" + "x".repeat(300)]) {
      const e = parseAddress(bad)
      expect(Either.isLeft(e), bad).toBe(true)
      if (Either.isLeft(e)) readable(e.left.message)
    }
  })
})
