/**
 * `troupe top [--once]`: a live view of runs, branches (▶/▷ activity), rooms, inboxes and VMs
 * (docs/cli.md "troupe top"). The view and its renderer load only when the command runs, so
 * other commands start without the TUI library.
 */
import { Command, Options } from "@effect/cli"
import { Effect } from "effect"
import { all, session, withExamples } from "./Session.js"

export const top = Command.make(
  "top",
  {
    once: Options.boolean("once").pipe(Options.withDescription("Print one frame and exit (plain text)")),
    session,
    all
  },
  (input) => Effect.flatMap(Effect.promise(() => import("./top/Top.js")), (m) => m.runTop(input))
).pipe(
  Command.withDescription(
    withExamples(
      "Watch runs, branches, rooms, inboxes and VMs live: ↑↓/jk select, Enter inspect, l logs, K kill, / filter, q quit. Without a terminal: a plain table, printed again when it changes.",
      ["troupe top", "troupe top --all", "troupe top --once"]
    )
  )
)
