/**
 * The thin CLI (issue 13, item 6): `troupe --version`, `--help` and the commands that talk to
 * the daemon never load the runtime — no SQLite (`better-sqlite3`), no store, supervisor,
 * router, execution core or host. Only `run`, `recipes` and `daemon start --foreground` load
 * it, through dynamic `import()`s.
 *
 * Two checks over the built bundle (`npm test` builds first):
 * - static: in esbuild's metafile (`dist/bin/troupe.meta.json`), the chunks the entry and the
 *   command tree (`src/cli/Main.ts`) import statically contain no runtime source and import no
 *   `better-sqlite3`;
 * - dynamic: the built CLI runs under a preload that logs every module it loads; the chunks it
 *   loaded (mapped back to their sources through the metafile) hold no runtime source, and
 *   `better-sqlite3` was never resolved or required.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { run, troupeBinPath } from "../support/exec.js"

interface Metafile {
  readonly outputs: Record<string, {
    readonly entryPoint?: string
    readonly inputs: Record<string, unknown>
    readonly imports: ReadonlyArray<{ readonly path: string; readonly kind: string; readonly external?: boolean }>
  }>
}

const root = process.cwd()
const meta = JSON.parse(readFileSync(join(root, "dist/bin/troupe.meta.json"), "utf8")) as Metafile
const entry = "dist/bin/troupe.js"
const commandTree = Object.keys(meta.outputs).find((o) => meta.outputs[o]!.entryPoint === "src/cli/Main.ts")

/** Sources of the CLI's own code that may load at start: the CLI, the client, domain data, configuration. */
const allowedSource = (input: string) =>
  !input.startsWith("src/") ||
  /^src\/(cli|domain)\//.test(input) ||
  input === "src/daemon/Client.ts" ||
  input === "src/daemon/WriteBatching.ts" ||
  input === "src/layers/Config.ts" ||
  input === "src/services/TroupeConfig.ts" ||
  input === "src/version.ts"

/** Inputs that are the runtime: any other troupe source, or the SQLite driver. */
const runtimeInputs = (inputs: Iterable<string>) =>
  [...inputs].filter((i) => !allowedSource(i) || /better-sqlite3|@effect\/sql-sqlite-node/.test(i))

/** Output chunks reachable from `start` through static imports, and the externals they import. */
const staticClosure = (start: string) => {
  const chunks = new Set<string>()
  const externals = new Set<string>()
  const walk = (output: string) => {
    if (chunks.has(output)) return
    chunks.add(output)
    for (const i of meta.outputs[output]!.imports) {
      if (i.kind !== "import-statement") continue
      if (i.external === true) externals.add(i.path)
      else walk(i.path)
    }
  }
  walk(start)
  return { chunks, externals }
}

const inputsOf = (chunks: Iterable<string>) => new Set([...chunks].flatMap((c) => Object.keys(meta.outputs[c]?.inputs ?? {})))

describe("the bundled CLI's entry graph", () => {
  it("the entry statically loads only itself and the version; the command tree loads on demand", () => {
    const { chunks, externals } = staticClosure(entry)
    expect([...inputsOf(chunks)].filter((i) => i.startsWith("src/") || i.startsWith("bin/")).sort()).toEqual(["bin/troupe.ts", "src/version.ts"])
    expect([...externals]).toEqual([])
    expect(commandTree, "a chunk for src/cli/Main.ts").toBeDefined()
    expect(meta.outputs[entry]!.imports).toContainEqual(expect.objectContaining({ path: commandTree, kind: "dynamic-import" }))
  })

  it("the command tree reaches neither better-sqlite3 nor the runtime statically", () => {
    const { chunks, externals } = staticClosure(commandTree!)
    const inputs = inputsOf(chunks)
    // The check sees the CLI's own modules (it would see the runtime if it were there).
    expect(inputs).toContain("src/daemon/Client.ts")
    expect(inputs).toContain("src/domain/Protocol.ts")
    expect(runtimeInputs(inputs)).toEqual([])
    expect([...externals].filter((e) => e.includes("sqlite"))).toEqual([])
    // …while the daemon's chunk, loaded only by `daemon start --foreground`, does hold it.
    const server = Object.keys(meta.outputs).find((o) => meta.outputs[o]!.entryPoint === "src/daemon/Server.ts")
    expect(server).toBeDefined()
    const serverClosure = staticClosure(server!)
    expect(runtimeInputs(inputsOf(serverClosure.chunks))).toContain("src/services/Supervisor.ts")
    expect([...serverClosure.externals]).toContain("better-sqlite3")
  })
})

describe("modules the built CLI loads", () => {
  const home = mkdtempSync(join(tmpdir(), "troupe-cli-imports-"))
  const preload = join(root, "test/support/module-log.mjs")
  let n = 0

  /** Runs the built CLI with `args` under the module logger; the loaded chunks' sources and the raw log. */
  const loaded = async (args: ReadonlyArray<string>) => {
    const log = join(home, `modules-${n++}.log`)
    const r = await run(process.execPath, ["--import", preload, troupeBinPath, ...args], {
      env: { ...process.env, TROUPE_HOME: home, TROUPE_MODULE_LOG: log }
    })
    const lines = readFileSync(log, "utf8").trim().split("\n")
    const chunks = lines
      .filter((l) => l.startsWith("file:"))
      .map((l) => relative(root, fileURLToPath(l)))
      .filter((f) => f in meta.outputs)
    return { result: r, lines, chunks, inputs: inputsOf(chunks) }
  }

  afterAll(async () => {
    // `ps` auto-started a daemon for this home: stop it (it kills nothing: no runs), then clean up.
    await run(process.execPath, [troupeBinPath, "daemon", "stop"], { env: { ...process.env, TROUPE_HOME: home } })
    rmSync(home, { recursive: true, force: true })
  })

  it("--version loads the entry alone", async () => {
    const { result, chunks, lines } = await loaded(["--version"])
    expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/)
    expect(result.code).toBe(0)
    expect(chunks).toContain(entry)
    expect(runtimeInputs(inputsOf(chunks))).toEqual([])
    expect(chunks.filter((c) => c !== entry && !staticClosure(entry).chunks.has(c))).toEqual([])
    expect(lines.filter((l) => l.includes("better-sqlite3"))).toEqual([])
  })

  for (const args of [["--help"], ["ps"], ["daemon", "status"], ["inbox", "list", "run:nobody"]]) {
    it(`${args.join(" ")} loads the command tree but not the runtime`, async () => {
      const { result, inputs, lines } = await loaded(args)
      // It ran: `--help` prints usage, `ps` auto-starts the daemon and lists, `daemon status`
      // finds it running; `inbox list` of an unknown run fails in the daemon, not in the CLI.
      if (args[0] === "inbox") expect(result.stderr).toMatch(/^error: /)
      else expect(result.code, result.stderr).toBe(0)
      expect(inputs).toContain("src/cli/Main.ts")
      expect(runtimeInputs(inputs)).toEqual([])
      expect(lines.filter((l) => l.includes("better-sqlite3"))).toEqual([])
    })
  }
})
