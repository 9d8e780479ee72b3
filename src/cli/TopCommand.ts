/**
 * `troupe top [--once]`: a live view of runs, branches (▶/▷ activity), rooms, inboxes and VMs
 * (docs/cli.md "troupe top"). The view and its renderer load only when the command runs, so
 * other commands start without the TUI library.
 */
import { Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import { all, parseDuration, session, withExamples } from "./Session.js"

export const top = Command.make(
  "top",
  {
    once: Options.boolean("once").pipe(Options.withDescription("Print one frame and exit (plain text)")),
    interval: Options.text("interval").pipe(
      Options.withDescription("How often CPU/RSS and inbox counts refresh when nothing changes (default 2s); changes redraw at once"),
      Options.optional
    ),
    session,
    all
  },
  (input) =>
    Effect.gen(function* () {
      const intervalMs = Option.isSome(input.interval) ? yield* parseDuration(input.interval.value) : undefined
      const top = yield* Effect.promise(() => import("./top/Top.js"))
      yield* top.runTop({ ...input, intervalMs })
    })
).pipe(
  Command.withDescription(
    withExamples(
      "Watch runs, branches, rooms, inboxes and VMs live: ↑↓/jk select, Enter inspect, l logs, K kill, / filter, q quit. Without a terminal: a plain table, printed again when it changes.",
      ["troupe top", "troupe top --all", "troupe top --once"]
    )
  )
)
