// Loader hooks of module-log.mjs (they run on the loader thread): log each resolved URL.
import { appendFileSync } from "node:fs"

let log

export const initialize = (data) => {
  log = data.log
}

export const resolve = async (specifier, context, next) => {
  const resolved = await next(specifier, context)
  appendFileSync(log, `${resolved.url}\n`)
  return resolved
}
