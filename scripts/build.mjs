// Build: tsc emits dist/ (library + declarations); esbuild bundles the CLI into one file
// so `troupe --version` does not pay for resolving hundreds of modules at startup.
import { execFileSync } from "node:child_process"
import { chmodSync, rmSync } from "node:fs"
import { build } from "esbuild"

rmSync("dist", { recursive: true, force: true })
execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" })
await build({
  entryPoints: ["bin/troupe.ts"],
  outfile: "dist/bin/troupe.js",
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
  external: ["better-sqlite3", "ssh2", "cpu-features"]
})
chmodSync("dist/bin/troupe.js", 0o755)
