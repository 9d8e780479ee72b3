/**
 * Configuration read from the environment (`TROUPE_*`), in one place so business code never
 * reads `process.env`.
 */
import { Config, Context, Effect, Layer, Option } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { homedir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

export interface TroupeConfigShape {
  /** State root (`TROUPE_HOME`, default `~/.troupe`). */
  readonly home: string
  /** The packaged standard recipe library (`recipes/` of the installed package). */
  readonly packagedRecipes: string
  /** The user's home directory (for `~` in command position). */
  readonly userHome: string
  /** Grace between SIGTERM and SIGKILL when killing a process group, ms (default 5,000). */
  readonly killGraceMs: number
}

export class TroupeConfig extends Context.Tag("troupe/TroupeConfig")<TroupeConfig, TroupeConfigShape>() {}

/** Finds the package root (the nearest `package.json` named `troupe`) above this module. */
export const packageRoot = (): string => {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const pkg = join(dir, "package.json")
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "troupe") return dir
      } catch {
        // keep walking up
      }
    }
    const up = dirname(dir)
    if (up === dir) return process.cwd()
    dir = up
  }
}

/** Reads `TROUPE_HOME`; everything else has fixed defaults overridable by `overrides`. */
export const layer = (overrides: Partial<TroupeConfigShape> = {}) =>
  Layer.effect(
    TroupeConfig,
    Effect.gen(function* () {
      const userHome = homedir()
      const home = yield* Config.option(Config.string("TROUPE_HOME"))
      return {
        home: overrides.home ?? Option.getOrElse(home, () => join(userHome, ".troupe")),
        packagedRecipes: overrides.packagedRecipes ?? join(packageRoot(), "recipes"),
        userHome: overrides.userHome ?? userHome,
        killGraceMs: overrides.killGraceMs ?? 5000
      }
    })
  )

/**
 * The environment leaves inherit by default: a snapshot of this process's environment. Kept
 * here so services never read `process.env` themselves.
 */
export const inheritedEnvironment = (): Readonly<Record<string, string | undefined>> => ({ ...process.env })
