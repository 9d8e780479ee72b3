/**
 * `troupe vm golden build | ls` (docs/vers.md "Golden images"): pure definitions; the bodies
 * (`./Golden.ts`, with ssh2 and the Vers client) load with `import()` when one of them runs.
 */
import { Command, Options } from "@effect/cli"
import { Effect } from "effect"
import { callerOptions, json, optText, withExamples } from "./Session.js"

const body = Effect.promise(() => import("./Golden.js"))

const build = Command.make(
  "build",
  {
    from: optText("from", "Restore the build VM from this commit (e.g. an older golden image) instead of a new root VM"),
    name: optText("name", "The record's name (default golden-<UTC time>)"),
    keepVm: Options.boolean("keep-vm").pipe(Options.withDescription("Keep the build VM (paused) after a successful build; a failed build deletes it anyway")),
    piPackage: optText("pi-package", "Pi's npm spec or a tarball path (default @earendil-works/pi-coding-agent@1.6.0), installed only when pi is missing or older than 0.82"),
    npmPrefix: optText("npm-prefix", "Install Pi under this npm prefix on the VM (e.g. '$HOME/.npm-global'); default npm's global prefix"),
    ...callerOptions
  },
  (input) => Effect.flatMap(body, (m) => m.goldenBuild(input))
).pipe(Command.withDescription(withExamples(
  "Build a golden image: a VM with Node, Pi, troupe's exec broker, non-interactive git and ~/workspace, checked for secrets, committed keep-paused and recorded. Progress goes to stderr; the build VM is deleted at the end (and always on a failure or Ctrl-C).",
  ["troupe vm golden build", "troupe vm golden build --name base-2026 --json", "troupe vm golden build --from $VERS_GOLDEN_COMMIT_ID --keep-vm"]
)))

const ls = Command.make(
  "ls",
  {
    json,
    quiet: Options.boolean("quiet").pipe(Options.withAlias("q"), Options.withDescription("Print only the newest golden image's commit id"))
  },
  (input) => Effect.flatMap(body, (m) => m.goldenLs(input))
).pipe(Command.withDescription(withExamples(
  "List the golden images recorded in TROUPE_HOME (goldens.json): commit id, name, time, what was installed and its versions.",
  ["troupe vm golden ls", "export VERS_GOLDEN_COMMIT_ID=$(troupe vm golden ls -q)", "troupe vm golden ls --json"]
)))

/** `troupe vm golden …`. */
export const golden = Command.make("golden").pipe(
  Command.withDescription(withExamples("Golden images: VMs prepared for agents, committed and recorded (build, ls).", ["troupe vm golden build", "troupe vm golden ls"])),
  Command.withSubcommands([build, ls])
)
