// Build: tsc emits dist/ (library + declarations); esbuild bundles the CLI so startup does not
// pay for resolving hundreds of modules: a small ES-module entry (`dist/bin/troupe.js`, which
// answers `--version` itself) and the command tree as one CommonJS file (`dist/bin/cli.cjs`),
// which the entry loads with a V8 code cache (bin/codeCache.ts).
//
// The metafiles (`dist/bin/troupe.meta.json`, `{entry, cli}`: which sources went into which
// output, and which source imports which, statically or through `import()`) are what
// test/cli/CliImports.test.ts checks the entry graph against.
import { execFileSync } from "node:child_process"
import { chmodSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { build } from "esbuild"

/**
 * Parsers and codecs the bundled CLI never calls, which its libraries import at the top of a
 * module and use only inside functions: @effect/cli's `Options.fileParse` (YAML, TOML),
 * @effect/rpc's and @effect/platform's MessagePack (msgpackr: the daemon speaks NDJSON) and
 * @effect/platform-node's WebSocket (ws: the daemon's socket is a Unix socket). In the bundle
 * they are replaced by modules whose functions throw, which keeps ~190 KB of code out of
 * every CLI start. esbuild fails the build if a library starts importing a name not listed here.
 */
const unused = {
  yaml: ["parse"],
  toml: ["parse"],
  msgpackr: ["Packr", "Unpackr", "decode", "encode"],
  ws: ["WebSocket", "WebSocketServer"]
}
const unusedFormats = {
  name: "troupe-unused-formats",
  setup(b) {
    b.onResolve({ filter: new RegExp(`^(${Object.keys(unused).join("|")})$`) }, (args) => ({ path: args.path, namespace: "troupe-unused" }))
    b.onLoad({ filter: /.*/, namespace: "troupe-unused" }, (args) => ({
      loader: "js",
      contents: [
        `const unavailable = () => { throw new Error("${args.path} is not bundled into the troupe CLI") }`,
        ...unused[args.path].map((n) => `export function ${n}() { unavailable() }`)
      ].join("\n")
    }))
  }
}

rmSync("dist", { recursive: true, force: true })
execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" })
const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  sourcemap: false,
  minify: true,
  legalComments: "none",
  metafile: true
}
// The entry: `--version`, and the loader of the command tree.
const entry = await build({
  ...common,
  entryPoints: ["bin/troupe.ts"],
  outfile: "dist/bin/troupe.js",
  format: "esm",
  banner: { js: "#!/usr/bin/env node" }
})
// The command tree and everything it may load, as one CommonJS file: bin/codeCache.ts compiles
// it with a V8 code cache (Node 20 has none for ES modules). Without code splitting, esbuild
// turns an `import()` of a bundled module into a lazy initialisation of that module, so what
// only `run`, `recipes` or `daemon start` need is in the file but never runs for other commands.
const cli = await build({
  ...common,
  entryPoints: ["src/cli/Main.ts"],
  outfile: "dist/bin/cli.cjs",
  format: "cjs",
  plugins: [unusedFormats],
  // `import.meta.url` of the bundled sources (package root, the broker's path) is the bundle's.
  define: { "import.meta.url": "__troupeModuleUrl" },
  banner: { js: "const __troupeModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
  // Native addons stay outside. Everything else is bundled, so no `import()` is left in the
  // bundle (vm.Script would need Node's experimental dynamic-import hook for one). selfsigned
  // (only `fleet fake` makes certificates) stays outside too: its X.509 stack would add ~380 KB
  // to every CLI start; a static import of it becomes a lazy `require` in this CommonJS file.
  external: ["better-sqlite3", "ssh2", "cpu-features", "selfsigned"]
})
if (/\bimport\(/.test(readFileSync("dist/bin/cli.cjs", "utf8"))) {
  throw new Error("dist/bin/cli.cjs contains an import() of an external module: bundle it, or require() it")
}
writeFileSync("dist/bin/troupe.meta.json", JSON.stringify({ entry: entry.metafile, cli: cli.metafile }))
chmodSync("dist/bin/troupe.js", 0o755)
// The exec broker: one self-contained file importing only node: builtins (docs/broker.md), so it
// can be copied to a machine where only Node exists.
await build({
  entryPoints: ["src/broker/exec-broker.ts"],
  outfile: "dist/broker/exec-broker.mjs",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: false,
  legalComments: "none",
  banner: { js: "#!/usr/bin/env node" }
})
chmodSync("dist/broker/exec-broker.mjs", 0o755)
// FakePi (troupe/testing, docs/agents.md): like the broker, one file importing only node: builtins.
await build({
  entryPoints: ["src/testing/fakePi/program.ts"],
  outfile: "dist/testing/fake-pi.mjs",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: false,
  legalComments: "none",
  banner: { js: "#!/usr/bin/env node" }
})
chmodSync("dist/testing/fake-pi.mjs", 0o755)
