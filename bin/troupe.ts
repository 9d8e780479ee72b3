/**
 * CLI entry. `troupe --version` answers from here, before anything else loads (it is what
 * scripts call to probe for troupe, and starting Effect costs several times Node's own
 * startup). Everything else loads the command tree (`src/cli/Main.ts`) on demand; the
 * commands in turn load the runtime only when they run it (`run`, `daemon start`).
 */
import { version } from "../src/version.js"

const args = process.argv.slice(2)
if (args.length === 1 && args[0] === "--version") process.stdout.write(`${version}\n`)
else await import("../src/cli/Main.js")
