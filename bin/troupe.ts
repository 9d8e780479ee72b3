/**
 * CLI entry. `troupe --version` answers from here, before anything else loads (it is what
 * scripts call to probe for troupe, and starting Effect costs several times Node's own
 * startup). Everything else runs the command tree (`src/cli/Main.ts`), bundled as one CommonJS
 * file (`cli.cjs` beside this one) and loaded with a V8 code cache (`./codeCache.ts`). The
 * commands load the runtime only when they run it (`run`, `recipes`, `daemon start`): inside
 * the bundle, a module reached only through `import()` is initialised when that `import()` runs.
 */
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { version } from "../src/version.js"
import { requireWithCodeCache } from "./codeCache.js"

const args = process.argv.slice(2)
if (args.length === 1 && args[0] === "--version") process.stdout.write(`${version}\n`)
else requireWithCodeCache(join(dirname(fileURLToPath(import.meta.url)), "cli.cjs"))
