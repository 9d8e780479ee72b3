/**
 * A one-line progress indicator on stderr for long CLI operations (VM create/branch/restore
 * while the VM boots, `swarm spawn`, `prune`): on a terminal a spinner line
 * (`⠋ creating VM (booting) 3s`) that is rewritten in place and erased when the work ends
 * (success, failure or Ctrl-C), so stdout (ids, JSON) stays clean.
 *
 * The line is drawn by `log-update` (sindresorhus; rewrites its last output in place, handles
 * wrapping and terminal width), loaded only when a line is drawn. Not `nanospinner`: it decides
 * "terminal" from stdout, so `VM=$(troupe vm create -q)` would print one spinner line per frame
 * on stderr, and it exits the process on SIGINT, skipping the finalizers that delete a
 * half-booted VM. Not pi-tui's Loader: it needs pi-tui's full-screen TUI, which a one-shot
 * command does not start. The cursor is left visible (no signal hooks to restore it).
 *
 * Off a terminal — stderr not a TTY, `NO_COLOR` set (non-empty), `CI` set, or `TERM=dumb` —
 * nothing is drawn and no escape code is written; callers print one plain line per step there
 * when they have steps to report (`swarm spawn` does).
 */
import { Clock, Duration, Effect, Exit, Scope, Schedule } from "effect"

/** Whether a progress line may be drawn: stderr is a TTY, no non-empty `NO_COLOR`, no `CI`, `TERM` not `dumb`. */
export const progressWanted = (env: {
  readonly isTTY: boolean | undefined
  readonly noColor?: string | undefined
  readonly ci?: string | undefined
  readonly term?: string | undefined
}): boolean => env.isTTY === true && (env.noColor === undefined || env.noColor === "") && env.ci === undefined && env.term !== "dumb"

/** This process's answer to {@link progressWanted}. */
export const progressOnStderr = (): boolean =>
  progressWanted({ isTTY: process.stderr.isTTY, noColor: process.env.NO_COLOR, ci: process.env.CI, term: process.env.TERM })

const frames = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

/** The line for frame `tick`: a spinner frame, what is happening, and the elapsed whole seconds. */
export const progressLine = (what: string, tick: number, elapsedMs: number): string =>
  `${frames[tick % frames.length]} ${what} ${Math.floor(elapsedMs / 1000)}s`

/** How often the line is redrawn (the spinner's frame rate). */
const frameRate = Schedule.spaced(Duration.millis(100))

/**
 * stderr as log-update sees it: a terminal that reports 0 columns or rows (a pseudo-terminal
 * nobody sized, as `script` makes) counts as 80×24 — log-update draws nothing at height 0.
 */
const terminal = (stream: NodeJS.WriteStream) => ({
  isTTY: true,
  get columns() {
    return stream.columns || 80
  },
  get rows() {
    return stream.rows || 24
  },
  write: (chunk: string) => stream.write(chunk)
})

/** A running progress line: `set` changes what it says (a no-op when nothing is drawn). */
export interface Progress {
  readonly set: (what: string) => Effect.Effect<void>
}

const silent: Progress = { set: () => Effect.void }

/**
 * Runs `work` with a progress line saying `what` (then what `work` `set`s) while it takes, when
 * `show` and {@link progressOnStderr}; otherwise runs it as is with a {@link Progress} that
 * draws nothing. The line is erased however `work` ends (success, failure, interruption).
 */
export const withProgress = <A, E, R>(what: string, show: boolean, work: (progress: Progress) => Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  if (!show || !progressOnStderr()) return work(silent)
  return Effect.acquireUseRelease(
    Effect.gen(function* () {
      const { createLogUpdate } = yield* Effect.promise(() => import("log-update"))
      const log = createLogUpdate(terminal(process.stderr) as NodeJS.WriteStream, { showCursor: true })
      const scope = yield* Scope.make()
      const start = yield* Clock.currentTimeMillis
      let current = what
      let tick = 0
      const draw = Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => log(progressLine(current, tick++, now - start))))
      // Forked inside the uninterruptible acquire: made interruptible, or closing the scope hangs.
      yield* Effect.forkIn(Effect.interruptible(Effect.repeat(draw, frameRate)), scope)
      const progress: Progress = { set: (text) => Effect.zipRight(Effect.sync(() => void (current = text)), draw) }
      return { log, scope, progress }
    }),
    ({ progress }) => work(progress),
    ({ log, scope }) => Effect.zipRight(Scope.close(scope, Exit.void), Effect.sync(() => {
      log.clear()
      log.done()
    }))
  )
}
