// Preload (`node --import`) that records every module a Node process loads, one per line, in
// the file named by TROUPE_MODULE_LOG: ESM modules by resolved URL (a loader hook), CommonJS
// `require()`s by request (`require:<id>`). Used by test/cli/CliImports.test.ts.
import { appendFileSync } from "node:fs"
import Module, { register } from "node:module"

const log = process.env.TROUPE_MODULE_LOG
if (log !== undefined && log !== "") {
  register("./module-log-hooks.mjs", import.meta.url, { data: { log } })
  const load = Module._load
  Module._load = function (request, ...rest) {
    appendFileSync(log, `require:${request}\n`)
    return load.call(this, request, ...rest)
  }
}
