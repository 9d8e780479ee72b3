/**
 * Whose environment a run gets (docs/daemon.md "Environment"). A run spawned through the
 * daemon gets the environment of the client that spawned it (sent with the spawn request
 * over the 0600 socket), minus {@link isDeniedVariable}; the daemon fills in only what the
 * client did not send from its own minimal environment ({@link isDaemonVariable}, without
 * the Vers keys it keeps for itself). So one caller's secrets never reach another caller's
 * actors, whichever command auto-started the daemon.
 */

/**
 * Never sent with a spawn request: the variables that describe the sending process's own run
 * (`TROUPE_RUN`, `TROUPE_ADDRESS`, `TROUPE_TOKEN`, `TROUPE_SOCKET`, `TROUPE_LEAF_ID` — the
 * daemon sets the new run's own) and troupe's internal `TROUPE_DAEMON_*` variables.
 */
export const isDeniedVariable = (name: string): boolean =>
  name === "TROUPE_RUN" ||
  name === "TROUPE_ADDRESS" ||
  name === "TROUPE_TOKEN" ||
  name === "TROUPE_SOCKET" ||
  name === "TROUPE_LEAF_ID" ||
  name.startsWith("TROUPE_DAEMON_")

/** What a process needs to run anything: the user, the shell, the locale, the temp dir. */
const basics = new Set(["PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM", "XDG_RUNTIME_DIR", "SSH_AUTH_SOCK"])

/** A variable the leaves of a run may get from the daemon when their client did not send it. */
export const isBaseVariable = (name: string): boolean => basics.has(name) || name.startsWith("LC_")

/**
 * The daemon's own (minimal) environment: {@link isBaseVariable}, troupe's configuration
 * (`TROUPE_*` but {@link isDeniedVariable}), `PI_CODING_AGENT_DIR`, `PI_PATH`, `NODE_EXTRA_CA_CERTS` and the Vers
 * settings (`VERS_*`, used by its VM operations when a request carries none).
 */
export const isDaemonVariable = (name: string): boolean =>
  isBaseVariable(name) ||
  (name.startsWith("TROUPE_") && !isDeniedVariable(name)) ||
  name === "PI_CODING_AGENT_DIR" ||
  name === "PI_PATH" ||
  name === "NODE_EXTRA_CA_CERTS" ||
  name.startsWith("VERS_")

/** The defined entries of `env` whose names pass `keep`. */
export const filterEnvironment = (
  env: Readonly<Record<string, string | undefined>>,
  keep: (name: string) => boolean
): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && keep(name)) out[name] = value
  }
  return out
}

/** What a client sends with a spawn request: `env` minus {@link isDeniedVariable}. */
export const spawnEnvironment = (env: Readonly<Record<string, string | undefined>>): Record<string, string> =>
  filterEnvironment(env, (name) => !isDeniedVariable(name))
