// Build: tsc emits dist/ (library + declarations); esbuild bundles the CLI so startup does not
// pay for resolving hundreds of modules. Code splitting keeps what only some commands need in
// chunks that are loaded on demand: the command tree (everything but `--version`), the runtime
// (`daemon start --foreground`) and the execution core (`run`, `recipes`).
//
// The metafile (`dist/bin/troupe.meta.json`: which sources went into which chunk, and which
// chunk imports which) is what test/cli/CliImports.test.ts checks the entry graph against.
import { execFileSync } from "node:child_process"
import { chmodSync, rmSync, writeFileSync } from "node:fs"
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
const result = await build({
  entryPoints: ["bin/troupe.ts"],
  outdir: "dist/bin",
  entryNames: "[name]",
  chunkNames: "chunks/[name]-[hash]",
  splitting: true,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: false,
  minify: true,
  legalComments: "none",
  metafile: true,
  plugins: [unusedFormats],
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __troupeCreateRequire } from 'node:module'; const require = __troupeCreateRequire(import.meta.url);"
  },
  external: ["better-sqlite3", "ssh2", "cpu-features", "write-file-atomic", "proper-lockfile"]
})
writeFileSync("dist/bin/troupe.meta.json", JSON.stringify(result.metafile))
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
