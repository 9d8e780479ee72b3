/**
 * `troupe vm exec` and `troupe vm cp` (docs/cli.md): commands and files on a VM over SSH,
 * in-process (not through the daemon). Pure definitions: the bodies (`./VmExec.ts`, with ssh2
 * and the Vers client) load with `import()` when one of them runs, so the CLI's start stays thin.
 */
import { Args, Command, Options } from "@effect/cli"
import { Effect } from "effect"
import { withExamples } from "./Session.js"

const body = Effect.promise(() => import("./VmExec.js"))

const exec = Command.make(
  "exec",
  {
    vm: Args.text({ name: "vm" }).pipe(Args.withDescription("A VM id (see: troupe vm ls)")),
    argv: Args.text({ name: "command" }).pipe(Args.withDescription("The command and its arguments (after --), run on the VM as argv"), Args.repeated)
  },
  (input) => Effect.flatMap(body, (m) => m.vmExec(input.vm, input.argv))
).pipe(Command.withDescription(withExamples(
  "Run a command on a VM over SSH: its stdout/stderr stream here, stdin is passed when not a terminal, and troupe exits with its code (128+n for signal n). Ctrl-C stops it.",
  ["troupe vm exec $VM -- uname -a", "echo hi | troupe vm exec $VM -- cat", "troupe vm exec $VM -- sh -c 'cd /root && make test'"]
)))

const cp = Command.make(
  "cp",
  {
    recursive: Options.boolean("recursive").pipe(Options.withAlias("r"), Options.withDescription("Copy a directory and everything under it")),
    src: Args.text({ name: "src" }).pipe(Args.withDescription("A local path or vm:<id>:<path>")),
    dst: Args.text({ name: "dst" }).pipe(Args.withDescription("A local path or vm:<id>:<path>; an existing directory receives the source under its own name"))
  },
  (input) => Effect.flatMap(body, (m) => m.vmCp(input.src, input.dst, input.recursive))
).pipe(Command.withDescription(withExamples(
  "Copy files between this machine and a VM, or between two VMs (streamed; exact bytes and modes). Paths on a VM are vm:<id>:<path>.",
  ["troupe vm cp ./build.sh vm:$VM:/root/build.sh", "troupe vm cp -r vm:$VM:/root/out ./out", "troupe vm cp vm:$A:/root/data.bin vm:$B:/root/data.bin"]
)))

/** The SSH subcommands of `troupe vm`. */
export const vmSshCommands = [exec, cp] as const
