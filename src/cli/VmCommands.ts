/**
 * `troupe vm ls | create | delete | branch | commit | restore | pause | resume | status`
 * (SPEC-adapters §2, docs/cli.md "vm"): VM operations through the daemon, so its ledger
 * records every VM troupe creates. Compact text by default (`vm=<id> state=… …`), `-q` prints
 * only the id (for `VM=$(troupe vm create -q)`), `--json` the documented JSON. While a VM
 * boots, a progress line is shown on stderr when it is a terminal. Errors are one line naming
 * what failed and which VM, with what to do. Free of the runtime, like the whole CLI start.
 */
import { Args, Command, Options } from "@effect/cli"
import { Data, Effect, Option } from "effect"
import { compact } from "../domain/Inspect.js"
import type { VmTargetState } from "../domain/Vers.js"
import type { VmCreateHow, VmEntry, VmRecord, VmsError } from "../domain/Vms.js"
import { UsageError } from "./Common.js"
import { withProgress as progressWhile } from "./Progress.js"
import { callerOptions, connect, type Identity, print, printJson, withExamples } from "./Session.js"
import { vmSshCommands } from "./VmExecCommands.js"
import { golden } from "./GoldenCommands.js"

/** A VM command's failure: the error's sentence plus what to do (one line). */
export class VmCommandError extends Data.TaggedError("VmCommandError")<{ readonly message: string }> {}

const restartHint = "each troupe vm command sends its VERS_API_KEY and VERS_BASE_URL to the daemon, which otherwise uses its own environment or ~/.vers: export them and retry"

/** The sentence of a VM error with a hint of what to do next. */
export const withHint = (e: VmsError): VmCommandError => {
  const hint = (() => {
    switch (e._tag) {
      case "VmNotFound":
        return "list VMs with: troupe vm ls"
      case "VersAuthError":
        return e.status === undefined ? restartHint : "check VERS_API_KEY (this shell's, else the daemon's environment or ~/.vers)"
      case "VersUnavailable":
      case "VersTimeout":
      case "VersRateLimited":
        return "check VERS_BASE_URL and retry"
      case "VmConflict":
      case "VmDead":
        return e.vmId === undefined ? "see: troupe vm ls" : `see its state with: troupe vm status ${e.vmId}`
      case "VersDecodeError":
        return "the Vers API answered in a shape this troupe does not know; check VERS_BASE_URL"
      default:
        return undefined
    }
  })()
  const text = e.message.replace(/[.\s]+$/, "")
  return new VmCommandError({ message: hint === undefined ? text : `${text} (${hint})` })
}

const vmArg = Args.text({ name: "vm" }).pipe(Args.withDescription("A VM id (see: troupe vm ls)"))
const quiet = Options.boolean("quiet").pipe(Options.withAlias("q"), Options.withDescription("Print only the id"))

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z")

const ownerText = (r: VmRecord | null) =>
  r === null ? "owner=-" : `session=${compact(r.session)}${r.run === null ? "" : ` run=${compact(r.run)}`}${r.kept ? " kept" : ""}`

/** One compact line of a VM. */
export const vmLine = (e: VmEntry) =>
  `vm=${e.vm_id} state=${e.state} created=${iso(e.created_at)} ${ownerText(e.ledger)}${e.ledger === null || e.ledger.parent === null ? "" : ` ${e.ledger.source}-of=${e.ledger.parent}`}`

const recordLine = (r: VmRecord) =>
  `vm=${r.vm_id} source=${r.source}${r.parent === null ? "" : ` parent=${r.parent}`} ${ownerText(r)}`

/**
 * Runs `work` with a progress line (`⠋ <what> 3s`, src/cli/Progress.ts) on stderr while it
 * takes, when stderr is a terminal and the output is not JSON; the line is erased at the end.
 */
const withProgress = <A, E, R>(what: string, show: boolean, work: Effect.Effect<A, E, R>) => progressWhile(what, show, () => work)

/** Connects as the caller and runs a VM operation, its errors as one line with a hint. */
const withVms = <A>(id: Identity, f: (vms: Effect.Effect.Success<ReturnType<typeof connect>>["vms"]) => Effect.Effect<A, VmsError>) =>
  Effect.flatMap(connect(id), (remote) => f(remote.vms).pipe(Effect.mapError((e) => (e._tag === "ActorsError" ? e : withHint(e)))))

/** Prints a new VM: its id with `-q`, JSON with `--json`, else its line. */
const printNew = (input: { readonly json: boolean; readonly quiet: boolean }, r: VmRecord, state: string) =>
  input.json ? printJson(r) : input.quiet ? print(r.vm_id) : print(`${recordLine(r).replace(/^vm=\S+/, `vm=${r.vm_id} state=${state}`)}`)

// ---------------------------------------------------------------------------------------------

const ls = Command.make(
  "ls",
  { owned: Options.boolean("owned").pipe(Options.withDescription("Only the VMs troupe created for this session (every session's with --all)")), ...callerOptions },
  (input) =>
    withVms(input, (vms) => vms.list({ owned: input.owned })).pipe(
      Effect.flatMap((list) => (input.json ? printJson(list) : print(list.length === 0 ? "no VMs" : list.map(vmLine).join("\n"))))
    )
).pipe(Command.withDescription(withExamples("List the VMs the Vers API key sees, oldest first; --owned: only this session's troupe VMs.", [
  "troupe vm ls",
  "troupe vm ls --owned",
  "troupe vm ls --owned --all --json"
])))

const size = (name: string, description: string) => Options.integer(name).pipe(Options.withDescription(description), Options.optional)

const create = Command.make(
  "create",
  {
    vcpu: size("vcpu", "Virtual CPUs (default: the server's)"),
    mem: size("mem", "Memory in MiB (default: the server's)"),
    disk: size("disk", "Disk size in MiB (default: the server's)"),
    run: Options.text("run").pipe(Options.withDescription("The run that owns it (run:<id> or <id>): deleted when the run ends"), Options.optional),
    keep: Options.boolean("keep").pipe(Options.withDescription("With --run: keep the VM after the run ends")),
    noWait: Options.boolean("no-wait").pipe(Options.withDescription("Return at once, while it still boots")),
    quiet,
    ...callerOptions
  },
  (input) =>
    Effect.gen(function* () {
      if (input.keep && Option.isNone(input.run)) return yield* new UsageError({ message: "--keep is for run-owned VMs (--run); a session's VM lives until troupe vm delete" })
      for (const [name, v] of [["--vcpu", input.vcpu], ["--mem", input.mem], ["--disk", input.disk]] as const) {
        if (Option.isSome(v) && v.value <= 0) return yield* new UsageError({ message: `${name} must be a positive integer, not ${v.value}` })
      }
      const how: VmCreateHow = { _tag: "root", vcpu_count: Option.getOrUndefined(input.vcpu), mem_size_mib: Option.getOrUndefined(input.mem), fs_size_mib: Option.getOrUndefined(input.disk) }
      const r = yield* withProgress(
        "creating VM (booting)",
        !input.json && !input.noWait,
        withVms(input, (vms) => vms.create({ how, run: Option.getOrUndefined(input.run), keep: input.keep, wait: !input.noWait }))
      )
      yield* printNew(input, r, input.noWait ? "booting" : "running")
    })
).pipe(Command.withDescription(withExamples("Create a root VM owned by this session (it lives until deleted) or, with --run, by a run; waits until it runs.", [
  "troupe vm create",
  "VM=$(troupe vm create -q)",
  "troupe vm create --mem 4096 --disk 8192 --json",
  "troupe vm create --run run:build --keep"
])))

const branch = Command.make(
  "branch",
  { vm: vmArg, quiet, ...callerOptions },
  (input) =>
    Effect.gen(function* () {
      const r = yield* withProgress(`branching VM ${input.vm}`, !input.json, withVms(input, (vms) => vms.create({ how: { _tag: "branch", vm_id: input.vm } })))
      yield* printNew(input, r, "running")
    })
).pipe(Command.withDescription(withExamples("Branch a VM (a copy-on-write clone of it, running), owned by this session.", [
  "troupe vm branch $VM",
  "BRANCH=$(troupe vm branch $VM -q)"
])))

const commit = Command.make(
  "commit",
  {
    vm: vmArg,
    keepPaused: Options.boolean("keep-paused").pipe(Options.withDescription("Leave the VM paused after the snapshot")),
    quiet: Options.boolean("quiet").pipe(Options.withAlias("q"), Options.withDescription("Print only the commit id")),
    ...callerOptions
  },
  (input) =>
    withVms(input, (vms) => vms.commit(input.vm, { keepPaused: input.keepPaused })).pipe(
      Effect.flatMap((c) => (input.json ? printJson(c) : print(input.quiet ? c.commit_id : `commit=${c.commit_id} vm=${c.vm_id}`)))
    )
).pipe(Command.withDescription(withExamples("Commit a VM: snapshot its memory and disk; prints the commit id to restore from.", [
  "troupe vm commit $VM",
  "COMMIT=$(troupe vm commit $VM -q)",
  "troupe vm commit $VM --keep-paused --json"
])))

const restore = Command.make(
  "restore",
  { commit: Args.text({ name: "commit" }).pipe(Args.withDescription("A commit id (see: troupe vm commit)")), quiet, ...callerOptions },
  (input) =>
    Effect.gen(function* () {
      const r = yield* withProgress(`restoring commit ${input.commit}`, !input.json, withVms(input, (vms) => vms.create({ how: { _tag: "restore", commit_id: input.commit } })))
      yield* printNew(input, r, "running")
    })
).pipe(Command.withDescription(withExamples("Restore a new VM from a commit, owned by this session; waits until it runs.", [
  "troupe vm restore $COMMIT",
  "RESTORED=$(troupe vm restore $COMMIT -q)"
])))

const stateCommand = (name: "pause" | "resume", state: VmTargetState, description: string) =>
  Command.make(name, { vm: vmArg, ...callerOptions }, (input) =>
    withProgress(`${name === "pause" ? "pausing" : "resuming"} VM ${input.vm}`, !input.json, withVms(input, (vms) => vms.setState(input.vm, state))).pipe(
      Effect.flatMap((e) => (input.json ? printJson(e) : print(vmLine(e))))
    )).pipe(Command.withDescription(withExamples(description, [`troupe vm ${name} $VM`, `troupe vm ${name} $VM --json`])))

const pause = stateCommand("pause", "Paused", "Pause a running VM (its memory is kept; resume continues it).")
const resume = stateCommand("resume", "Running", "Resume a paused VM.")

const status = Command.make("status", { vm: vmArg, ...callerOptions }, (input) =>
  withVms(input, (vms) => vms.status(input.vm)).pipe(Effect.flatMap((e) => (input.json ? printJson(e) : print(vmLine(e)))))).pipe(
    Command.withDescription(withExamples("Show one VM: its state, owner and origin.", ["troupe vm status $VM", "troupe vm status $VM --json"]))
  )

const delete_ = Command.make("delete", { vm: vmArg, ...callerOptions }, (input) =>
  withVms(input, (vms) => vms.delete(input.vm)).pipe(
    Effect.flatMap((r) => (input.json ? printJson({ vm_id: input.vm, deleted: true, ledger: r }) : print(`deleted vm=${input.vm}`)))
  )).pipe(Command.withDescription(withExamples("Delete a VM (at Vers, and in troupe's ledger).", ["troupe vm delete $VM", "troupe vm delete $VM --json"])))

/** `troupe vm …`. */
export const vm = Command.make("vm").pipe(
  Command.withDescription(withExamples(
    "Vers VMs through the troupe daemon (VERS_API_KEY and VERS_BASE_URL from this shell, else the daemon's environment or ~/.vers): ls, create, delete, branch, commit, restore, pause, resume, status; exec and cp over SSH; golden build and ls.",
    ["troupe vm ls --owned", "VM=$(troupe vm create -q)", "troupe vm delete $VM"]
  )),
  Command.withSubcommands([ls, create, delete_, branch, commit, restore, pause, resume, status, ...vmSshCommands, golden])
)
