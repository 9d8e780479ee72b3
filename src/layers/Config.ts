/**
 * Configuration read from the environment (`TROUPE_*`), in one place so business code never
 * reads `process.env`.
 */
import { Config, Context, Effect, Layer, Option } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { homedir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

export interface TroupeConfigShape {
  /** State root (`TROUPE_HOME`, default `~/.troupe`). */
  readonly home: string
  /** The packaged standard recipe library (`recipes/` of the installed package). */
  readonly packagedRecipes: string
  /**
   * The user recipe root: `TROUPE_RECIPES`, else `$PI_CODING_AGENT_DIR/recipes`, else
   * `~/.pi/agent/recipes` (pi-actors' root, so existing recipe folders just work).
   */
  readonly userRecipes: string
  /** The user's home directory (for `~` in command position). */
  readonly userHome: string
  /** Grace between SIGTERM and SIGKILL when killing a process group, ms (default 5,000). */
  readonly killGraceMs: number
  /** Terminal runs older than this are pruned with their state directories, ms (default 7 days). */
  readonly retentionMs: number
  /**
   * The Node.js executable that auto-started daemons run on (`TROUPE_NODE`, default this
   * process's `process.execPath`). Pi runs on Node 22; when troupe's native modules were built
   * for another Node (say Node 20), point this at that `node`.
   */
  readonly daemonNode: string
}

/** Default retention of terminal runs: 7 days, in ms. */
export const defaultRetentionMs = 7 * 24 * 60 * 60 * 1000

/** Paths under `TROUPE_HOME`. */
export const homePaths = (home: string) => ({
  /** The store. */
  database: join(home, "troupe.db"),
  /** The daemon's Unix socket (0600). */
  socket: join(home, "troupe.sock"),
  /** The daemon's log (stdout/stderr of a detached daemon). */
  daemonLog: join(home, "daemon.log"),
  /** The daemon's pid file. */
  daemonPid: join(home, "daemon.pid"),
  /** Run state directories: `runs/<id>/`. */
  runs: join(home, "runs"),
  /** Archived run state directories. */
  archive: join(home, "archive")
})

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

/**
 * Reads `TROUPE_HOME`, `TROUPE_KILL_GRACE_MS` (SIGTERM → SIGKILL grace, default 5,000 ms;
 * a malformed value is ignored), `TROUPE_NODE` (the daemon's `node`) and the user recipe root (`TROUPE_RECIPES`,
 * `PI_CODING_AGENT_DIR`); everything else has fixed defaults overridable by `overrides`.
 */
export const layer = (overrides: Partial<TroupeConfigShape> = {}) =>
  Layer.effect(
    TroupeConfig,
    Effect.gen(function* () {
      const userHome = homedir()
      // A missing variable is None; a string variable cannot be malformed.
      const home = yield* Effect.orDie(Config.option(Config.string("TROUPE_HOME")))
      const grace = yield* Config.option(Config.integer("TROUPE_KILL_GRACE_MS")).pipe(Effect.orElseSucceed(() => Option.none<number>()))
      const recipesVar = yield* Effect.orDie(Config.option(Config.nonEmptyString("TROUPE_RECIPES")))
      const piDir = yield* Effect.orDie(Config.option(Config.nonEmptyString("PI_CODING_AGENT_DIR")))
      const node = yield* Effect.orDie(Config.option(Config.nonEmptyString("TROUPE_NODE")))
      const userRecipes = Option.getOrElse(
        Option.orElse(recipesVar, () => Option.map(piDir, (d) => join(d, "recipes"))),
        () => join(userHome, ".pi", "agent", "recipes")
      )
      return {
        home: overrides.home ?? Option.getOrElse(home, () => join(userHome, ".troupe")),
        packagedRecipes: overrides.packagedRecipes ?? join(packageRoot(), "recipes"),
        userRecipes: overrides.userRecipes ?? userRecipes,
        userHome: overrides.userHome ?? userHome,
        killGraceMs: overrides.killGraceMs ?? Option.getOrElse(grace, () => 5000),
        retentionMs: overrides.retentionMs ?? defaultRetentionMs,
        daemonNode: overrides.daemonNode ?? Option.getOrElse(node, () => process.execPath)
      }
    })
  )

/**
 * The environment leaves inherit by default: a snapshot of this process's environment. Kept
 * here so services never read `process.env` themselves.
 */
export const inheritedEnvironment = (): Readonly<Record<string, string | undefined>> => ({ ...process.env })

/** `file` resolved against `base` (absolute paths stay as they are). */
export const resolvePath = (base: string, file: string): string => resolve(base, file)
