/**
 * The `runs` and `processes` rows of the store as SQLite returns them, and their decoding into
 * the domain records (`RunInfo`, `ProcessRecord`). Used by `Store` only.
 */
import { Either, Schema } from "effect"
import { LeafIdentity, Progress, ProcessRecord, RestartPolicy, RunInfo, type RunState } from "../../domain/Run.js"

/** The columns a run record needs; `snapshot`, the output tails and the token stay out of lists. */
export const infoColumns =
  "id, generation, owner, parent, recipe, run_values, cwd, state_dir, state, code, error, restart, restarts, progress, created_at, updated_at, ended_at"

/** A `runs` row as read for a run record (`infoColumns`). */
export interface InfoRow {
  readonly id: string
  readonly generation: string
  readonly owner: string
  readonly parent: string | null
  readonly recipe: string
  readonly run_values: string
  readonly cwd: string
  readonly state_dir: string
  readonly state: RunState
  readonly code: number | null
  readonly error: string | null
  readonly restart: string
  readonly restarts: number
  readonly progress: string
  readonly created_at: number
  readonly updated_at: number
  readonly ended_at: number | null
}

/** A whole `runs` row (`getRun`). */
export interface RunRow extends InfoRow {
  readonly snapshot: string
  readonly stdout_tail: string
  readonly stderr_tail: string
}

/** The columns of a process row `processColumns` selects. */
export const processColumns = "generation, path, host, pid, pgid, start_time, marker, argv, identity"

export interface ProcessRow {
  readonly generation: string
  readonly path: string
  readonly host: string
  readonly pid: number
  readonly pgid: number
  readonly start_time: number
  readonly marker: string | null
  readonly argv: string
  /** JSON of the host's `ProcessIdentity` (migration 6). */
  readonly identity: string
}

const decodeRestart = Schema.decodeUnknownSync(Schema.parseJson(RestartPolicy))
const decodeProgress = Schema.decodeUnknownSync(Schema.parseJson(Progress))
const decodeIdentity = Schema.decodeUnknownEither(Schema.parseJson(LeafIdentity))

/** A JSON object column; anything else reads as `{}`. */
export const parseObject = (text: string): Record<string, unknown> => {
  const v: unknown = JSON.parse(text)
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {}
}

/**
 * The stored identity; a row whose JSON does not decode (written by hand, or damaged) falls back
 * to the identity its columns hold, so reaping still verifies by pid, start time and marker.
 */
const identityOf = (p: ProcessRow): LeafIdentity =>
  Either.getOrElse(decodeIdentity(p.identity), () => ({
    host: p.host,
    pid: p.pid,
    pgid: p.pgid,
    startTime: p.start_time,
    ...(p.marker === null ? {} : { marker: p.marker })
  }))

export const toProcess = (p: ProcessRow) =>
  new ProcessRecord({
    path: p.path,
    host: p.host,
    pid: p.pid,
    pgid: p.pgid,
    start_time: p.start_time,
    marker: p.marker ?? undefined,
    argv: JSON.parse(p.argv) as Array<string>,
    identity: identityOf(p)
  })

export const toInfo = (r: InfoRow, processes: ReadonlyArray<ProcessRow>): RunInfo =>
  new RunInfo({
    id: r.id,
    address: `run:${r.id}`,
    generation: r.generation,
    owner: r.owner,
    parent: r.parent ?? undefined,
    recipe: r.recipe,
    state: r.state,
    code: r.code,
    error: r.error ?? undefined,
    cwd: r.cwd,
    state_dir: r.state_dir,
    values: parseObject(r.run_values),
    restart: decodeRestart(r.restart),
    restarts: r.restarts,
    progress: decodeProgress(r.progress),
    processes: processes.map(toProcess),
    created_at: r.created_at,
    updated_at: r.updated_at,
    ended_at: r.ended_at
  })
