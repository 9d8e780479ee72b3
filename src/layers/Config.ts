/**
 * The layer that reads troupe's configuration from the environment (`TROUPE_*`), in one place
 * so business code never reads `process.env`. The service itself (`TroupeConfig`, its shape,
 * `homePaths`) lives in `src/services/TroupeConfig.ts` and is re-exported here.
 */
import { Config, Data, Effect, Layer, Option } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { homedir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { filterEnvironment, isBaseVariable, isDaemonVariable } from "../domain/Environment.js"
import { defaultRetentionMs, type LocalHostKind, TroupeConfig, type TroupeConfigShape } from "../services/TroupeConfig.js"

export {
  defaultRetentionMs,
  homePaths,
  type LocalHostKind,
  TroupeConfig,
  type TroupeConfigShape
} from "../services/TroupeConfig.js"

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
 * An environment variable holds a value troupe cannot use. Raised as a defect while the
 * configuration layer is built (the layer's type stays error-free); the CLI prints its
 * message as `error: <message>`.
 */
export class InvalidConfiguration extends Data.TaggedError("InvalidConfiguration")<{ readonly message: string }> {}

/** `TROUPE_LOCAL_HOST`: `local` when unset; a value other than `local` or `broker` is an {@link InvalidConfiguration} defect. */
const localHostKind = (value: Option.Option<string>): Effect.Effect<LocalHostKind> =>
  Option.match(value, {
    onNone: () => Effect.succeed<LocalHostKind>("local"),
    onSome: (v) =>
      v === "local" || v === "broker"
        ? Effect.succeed<LocalHostKind>(v)
        : Effect.die(new InvalidConfiguration({ message: `TROUPE_LOCAL_HOST must be local or broker, not ${JSON.stringify(v)}` }))
  })

/**
 * Reads `TROUPE_HOME`, `TROUPE_KILL_GRACE_MS` (SIGTERM → SIGKILL grace, default 5,000 ms;
 * a malformed value is ignored), `TROUPE_NODE` (the daemon's `node`), `TROUPE_LOCAL_HOST`
 * (`local` | `broker`, default `local`; any other value is an `InvalidConfiguration` defect),
 * `PI_PATH` (Pi's executable for agent runs, default `pi`) and
 * the user recipe root (`TROUPE_RECIPES`, `PI_CODING_AGENT_DIR`); everything else has fixed
 * defaults overridable by `overrides`.
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
      const localHostVar = yield* Effect.orDie(Config.option(Config.nonEmptyString("TROUPE_LOCAL_HOST")))
      const localHost = yield* localHostKind(localHostVar)
      const piPath = yield* Effect.orDie(Config.option(Config.nonEmptyString("PI_PATH")))
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
        daemonNode: overrides.daemonNode ?? Option.getOrElse(node, () => process.execPath),
        localHost: overrides.localHost ?? localHost,
        pi: overrides.pi ?? Option.getOrElse(piPath, () => "pi"),
        environment: overrides.environment ?? inheritedEnvironment()
      }
    })
  )

/**
 * The environment leaves inherit by default: a snapshot of this process's environment. Kept
 * here so services never read `process.env` themselves.
 */
export const inheritedEnvironment = (): Readonly<Record<string, string | undefined>> => ({ ...process.env })

/**
 * The daemon's minimal environment (`isDaemonVariable`: PATH, HOME, locale, `TROUPE_*`,
 * `VERS_*`, …) out of this process's: what an auto-started daemon is started with.
 */
export const daemonEnvironment = (): Record<string, string> => filterEnvironment(process.env, isDaemonVariable)

/**
 * The base environment of the daemon's leaves (`isBaseVariable`: PATH, HOME, the locale, …),
 * under each spawn's client environment. Never the daemon's `TROUPE_*` or `VERS_*` settings.
 */
export const daemonLeafEnvironment = (): Record<string, string> => filterEnvironment(process.env, isBaseVariable)

/** `file` resolved against `base` (absolute paths stay as they are). */
export const resolvePath = (base: string, file: string): string => resolve(base, file)
