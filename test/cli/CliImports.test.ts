/**
 * The thin CLI (issue 13, item 6): `troupe --version`, `--help` and the commands that talk to
 * the daemon never load the runtime — no SQLite (`better-sqlite3`), no store, supervisor,
 * router, execution core or host. Only `run`, `recipes` and `daemon start --foreground` load
 * it, through dynamic `import()`s.
 *
 * The CLI is built as a small ES-module entry (`dist/bin/troupe.js`) and the command tree as
 * one CommonJS bundle (`dist/bin/cli.cjs`, loaded with a V8 code cache). Inside that bundle
 * esbuild initialises a module when a statically importing module initialises, or when an
 * `import()` of it runs — so what a command initialises at start is the static-import closure
 * of `src/cli/Main.ts`. Two checks over the build (`npm test` builds first):
 * - static: in esbuild's metafiles (`dist/bin/troupe.meta.json`, `{entry, cli}`), the entry
 *   holds only itself, the code-cache loader and the version, and the static-import closure of
 *   the command tree holds no runtime source and no `better-sqlite3`;
 * - dynamic: the built CLI runs under a preload that logs every module it loads; it loads the
 *   entry and the bundle only, and never resolves or requires `better-sqlite3`.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { run, troupeBinPath } from "../support/exec.js"

interface Metafile {
  readonly inputs: Record<string, {
    readonly imports: ReadonlyArray<{ readonly path: string; readonly kind: string; readonly external?: boolean }>
  }>
}

const root = process.cwd()
const meta = JSON.parse(readFileSync(join(root, "dist/bin/troupe.meta.json"), "utf8")) as { readonly entry: Metafile; readonly cli: Metafile }
const entry = "dist/bin/troupe.js"

/** Sources of the CLI's own code that may load at start: the CLI, the client, domain data, configuration. */
const allowedSource = (input: string) =>
  !input.startsWith("src/") ||
  /^src\/(cli|domain)\//.test(input) ||
  input === "src/daemon/Client.ts" ||
  input === "src/daemon/WriteBatching.ts" ||
  input === "src/daemon/RpcFraming.ts" ||
  input === "src/layers/Config.ts" ||
  input === "src/layers/Home.ts" ||
  input === "src/services/TroupeConfig.ts" ||
  input === "src/version.ts"

/** Inputs that are the runtime: any other troupe source, or the SQLite driver. */
const runtimeInputs = (inputs: Iterable<string>) =>
  [...inputs].filter((i) => !allowedSource(i) || /better-sqlite3|@effect\/sql-sqlite-node/.test(i))

/** Inputs of `metafile` reachable from `start` through static imports, and the externals they import. */
const staticClosure = (metafile: Metafile, start: string) => {
  const inputs = new Set<string>()
  const externals = new Set<string>()
  const walk = (input: string) => {
    if (inputs.has(input)) return
    inputs.add(input)
    for (const i of metafile.inputs[input]?.imports ?? []) {
      if (i.kind !== "import-statement" && i.kind !== "require-call") continue
      if (i.external === true) externals.add(i.path)
      else walk(i.path)
    }
  }
  walk(start)
  return { inputs, externals }
}

describe("the bundled CLI's entry graph", () => {
  it("the entry holds only itself, the code-cache loader and the version", () => {
    expect(Object.keys(meta.entry.inputs).sort()).toEqual(["bin/codeCache.ts", "bin/troupe.ts", "src/version.ts"])
    const { externals } = staticClosure(meta.entry, "bin/troupe.ts")
    expect([...externals].filter((e) => !e.startsWith("node:"))).toEqual([])
  })

  it("the command tree reaches neither better-sqlite3 nor the runtime statically", () => {
    const { inputs, externals } = staticClosure(meta.cli, "src/cli/Main.ts")
    // The check sees the CLI's own modules (it would see the runtime if it were there).
    expect(inputs).toContain("src/daemon/Client.ts")
    expect(inputs).toContain("src/domain/Protocol.ts")
    expect(runtimeInputs(inputs)).toEqual([])
    expect([...externals].filter((e) => e.includes("sqlite"))).toEqual([])
    // …while the daemon, reached only through `import()` by `daemon start --foreground`, holds it.
    expect(meta.cli.inputs["src/cli/DaemonCommands.ts"]!.imports).toContainEqual(expect.objectContaining({ path: "src/daemon/Server.ts", kind: "dynamic-import" }))
    const server = staticClosure(meta.cli, "src/daemon/Server.ts")
    expect(runtimeInputs(server.inputs)).toContain("src/services/Supervisor.ts")
    expect([...server.externals]).toContain("better-sqlite3")
  })
})

describe("modules the built CLI loads", () => {
  const home = mkdtempSync(join(tmpdir(), "troupe-cli-imports-"))
  const preload = join(root, "test/support/module-log.mjs")
  let n = 0

  /** Runs the built CLI with `args` under the module logger; the troupe files it loaded and the raw log. */
  const loaded = async (args: ReadonlyArray<string>) => {
    const log = join(home, `modules-${n++}.log`)
    const r = await run(process.execPath, ["--import", preload, troupeBinPath, ...args], {
      env: { ...process.env, TROUPE_HOME: home, TROUPE_MODULE_LOG: log }
    })
    const lines = readFileSync(log, "utf8").trim().split("\n")
    const files = lines
      .filter((l) => l.startsWith("file:"))
      .map((l) => relative(root, fileURLToPath(l)))
      .filter((f) => f.startsWith("dist/"))
    return { result: r, lines, files }
  }

  afterAll(async () => {
    // `ps` auto-started a daemon for this home: stop it (it kills nothing: no runs), then clean up.
    await run(process.execPath, [troupeBinPath, "daemon", "stop"], { env: { ...process.env, TROUPE_HOME: home } })
    rmSync(home, { recursive: true, force: true })
  })

  it("--version loads the entry alone", async () => {
    const { result, files, lines } = await loaded(["--version"])
    expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/)
    expect(result.code).toBe(0)
    expect(files).toEqual([entry])
    expect(lines.filter((l) => l.includes("cli.cjs") || l.includes("better-sqlite3"))).toEqual([])
  })

  for (const args of [["--help"], ["ps"], ["daemon", "status"], ["inbox", "list", "run:nobody"]]) {
    it(`${args.join(" ")} loads the command tree but not the runtime`, async () => {
      const { result, lines } = await loaded(args)
      // It ran: `--help` prints usage, `ps` auto-starts the daemon and lists, `daemon status`
      // finds it running; `inbox list` of an unknown run fails in the daemon, not in the CLI.
      if (args[0] === "inbox") expect(result.stderr).toMatch(/^error: /)
      else expect(result.code, result.stderr).toBe(0)
      // The bundle ran: its `require`s of Node's builtins are in the log.
      expect(lines).toContain("require:node:net")
      expect(lines.filter((l) => l.includes("better-sqlite3"))).toEqual([])
    })
  }

  it("the daemon, from the same bundle, does load better-sqlite3 (the check above can fail)", async () => {
    const daemonHome = mkdtempSync(join(tmpdir(), "troupe-cli-imports-daemon-"))
    const log = join(daemonHome, "modules.log")
    const env = { ...process.env, TROUPE_HOME: daemonHome, TROUPE_MODULE_LOG: log }
    const daemon = spawn(process.execPath, ["--import", preload, troupeBinPath, "daemon", "start", "--foreground"], { env, stdio: "ignore" })
    const exited = new Promise<number | null>((resolve) => daemon.once("exit", (code) => resolve(code)))
    try {
      // `daemon status` says "running" once the daemon listens, after it opened its store.
      const quiet = { ...env, TROUPE_MODULE_LOG: "" }
      let status = ""
      for (let i = 0; i < 600 && !/daemon running pid=/.test(status); i++) {
        status = (await run(process.execPath, [troupeBinPath, "daemon", "status"], { env: quiet })).stdout
      }
      expect(status).toMatch(/daemon running pid=/)
      expect(readFileSync(log, "utf8")).toMatch(/better-sqlite3/)
      expect(readFileSync(log, "utf8")).toContain(`file://${join(root, entry)}`)
    } finally {
      await run(process.execPath, [troupeBinPath, "daemon", "stop"], { env: { ...env, TROUPE_MODULE_LOG: "" } })
      if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill("SIGKILL")
      await exited
      rmSync(daemonHome, { recursive: true, force: true })
    }
  })
})
