/**
 * `TroupeConfig`: troupe's configuration as a service — state root, recipe roots, kill grace,
 * retention, the daemon's `node`, which host runs local leaves. Services read it from the
 * context; `src/layers/Config.ts` builds it from the environment (`TROUPE_*`), and tests and
 * embedders override fields there. Nothing here reads the environment.
 */
import { Context } from "effect"
import { join } from "node:path"

/** Which host runs the leaves whose `on` is local: `local` (forked by this process) or `broker` (through an exec broker child). */
export type LocalHostKind = "local" | "broker"

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
  /**
   * The host of every local leaf (`TROUPE_LOCAL_HOST`, default `local`): `local` forks leaves
   * from this process (the daemon, or `troupe run`); `broker` runs them through a small exec
   * broker child process instead (docs/broker.md), so the daemon never forks itself.
   */
  readonly localHost: LocalHostKind
  /** Pi's executable for agent runs without their own `pi` (`PI_PATH`, default `pi` on PATH). */
  readonly pi?: string | undefined
  /**
   * Base environment of processes troupe starts itself rather than through a host (an agent
   * run's Pi); the run's `TROUPE_*` variables are added to it. The configuration layer passes
   * this process's environment; absent = empty.
   */
  readonly environment?: Readonly<Record<string, string | undefined>> | undefined
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

/**
 * Mode of every file troupe creates under `TROUPE_HOME` (the store and its WAL, run logs,
 * spills, output files, archives): 0600, owner only, whatever the umask (issue 18 item 8).
 * Directories are 0700.
 */
export const privateFileMode = 0o600
