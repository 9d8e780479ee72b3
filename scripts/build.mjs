// Build: tsc emits dist/ (library + declarations); esbuild bundles the CLI so startup does not
// pay for resolving hundreds of modules. Code splitting keeps what only some commands need
// (the runtime for `daemon start --foreground`, the execution core for `run`) in chunks that
// are loaded on demand.
import { execFileSync } from "node:child_process"
import { chmodSync, rmSync } from "node:fs"
import { build } from "esbuild"

rmSync("dist", { recursive: true, force: true })
execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" })
await build({
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
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __troupeCreateRequire } from 'node:module'; const require = __troupeCreateRequire(import.meta.url);"
  },
  external: ["better-sqlite3", "ssh2", "cpu-features", "write-file-atomic", "proper-lockfile"]
})
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
