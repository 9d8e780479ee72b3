/**
 * `GoldenImages.build`: builds a golden image (SPEC-vers §5, docs/vers.md "Golden images") —
 * what `troupe vm golden build` runs. A build VM is created through the caller's VM service (so
 * the daemon's ledger records it with owner labels; a new root VM of 2 vCPU, 2 GiB memory and
 * 4 GiB disk, or a restore of `from`), provisioned over SSH step by step (`golden/Steps.ts`:
 * Node, git, Pi, workspace directories; then troupe's exec broker over SFTP, as VmHost installs
 * it), scanned for the caller's secret values, committed keep-paused
 * (`POST /vm/{id}/commit?keep_paused=true`) and recorded in `TROUPE_HOME/goldens.json`.
 *
 * The build VM is a scoped resource: it is deleted when the build ends — on success unless
 * `keepVm`, and always on a failure or an interruption (Ctrl-C mid-step stops the remote step
 * and deletes the VM). pi-vers left this to the user: a failed bootstrap left its VM running.
 *
 * Errors: `GoldenError` with one sentence naming the failed step and the VM — `vm` (create,
 * commit), `step`, `secret` (names files, never values), `records`.
 */
import type { FileSystem } from "@effect/platform"
import { Clock, DateTime, Effect, type Exit, Fiber, Redacted, Schedule } from "effect"
import { GoldenComponent, GoldenError, GoldenImage } from "../domain/Golden.js"
import { shortVmId, VmId } from "../domain/Vers.js"
import type { VmCommitted, VmCreateHow, VmRecord, VmsError } from "../domain/Vms.js"
import { version as troupeVersion } from "../version.js"
import { addGolden } from "./golden/Records.js"
import { type GoldenStep, parseReport, provisionSteps, secretsStep } from "./golden/Steps.js"
import type { SshShape } from "./Ssh.js"
import { ensureInstalled, readProgram } from "./vmhost/Install.js"

export { listGoldens, recordsPath } from "./golden/Records.js"
export { piMinimumVersion, piPackage } from "./golden/Steps.js"

/** The VM operations a build needs: the daemon client's `VmsClient` has this shape. */
export interface GoldenVms {
  readonly create: (request: { readonly how: VmCreateHow; readonly wait?: boolean | undefined }) => Effect.Effect<VmRecord, VmsError>
  readonly commit: (vmId: string, options?: { readonly keepPaused?: boolean | undefined }) => Effect.Effect<VmCommitted, VmsError>
  readonly delete: (vmId: string) => Effect.Effect<unknown, VmsError>
}

/** What a build talks to: VMs (ledgered), SSH to them, and where progress lines go. */
export interface GoldenDeps {
  readonly vms: GoldenVms
  readonly ssh: SshShape
  /** One progress line (`[2/6] git, non-interactive: present 2.39.5`). */
  readonly progress: (line: string) => Effect.Effect<void>
}

/** A build request. */
export interface GoldenBuildRequest {
  /** `TROUPE_HOME`: the records go to `<home>/goldens.json`. */
  readonly home: string
  /** Restore the build VM from this commit instead of creating a root VM. */
  readonly from?: string | undefined
  /** The record's name (default `golden-<UTC date and time>`). */
  readonly name?: string | undefined
  /** Keep the build VM after a successful build (a failure deletes it anyway). */
  readonly keepVm?: boolean | undefined
  /** Pi's npm spec or tarball (default `piPackage`, installed only when `pi` is missing or older than `piMinimumVersion`). */
  readonly piPackage?: string | undefined
  /** npm prefix for the Pi install (`$HOME/.npm-global`); default npm's global one. */
  readonly npmPrefix?: string | undefined
  /** Values that must not be in the image (API keys, tokens): the build fails when one is found. */
  readonly secrets?: ReadonlyArray<Redacted.Redacted<string>> | undefined
  /** The exec broker program to upload (default the built `dist/broker/exec-broker.mjs`). */
  readonly brokerProgram?: string | undefined
}

/** A root build VM's size (pi-vers: the default 1 GiB disk is too small for Pi). */
export const buildVmSize = { vcpu_count: 2, mem_size_mib: 2048, fs_size_mib: 4096 } as const
/** One provisioning step's bound (a package install on a slow mirror included). */
export const stepTimeout = "15 minutes"
/** SSH right after boot: a few tries while sshd comes up. */
const sshReadyPolicy = Schedule.exponential("500 millis").pipe(Schedule.intersect(Schedule.recurs(5)))

/** The secret scan's exit code when it found something (`golden/Steps.ts`). */
const secretFoundCode = 4

const failure = (reason: GoldenError["reason"], step: string | null, message: string) => new GoldenError({ reason, step, message })

/** Runs a cleanup from an uninterruptible release in an interruptible child, so its own timeouts fire. */
const cleanup = <A, E>(effect: Effect.Effect<A, E>) => Effect.flatMap(Effect.fork(Effect.interruptible(effect)), Fiber.join)

const lastLine = (bytes: Uint8Array) => {
  const lines = new TextDecoder().decode(bytes).split("\n").map((l) => l.trim()).filter((l) => l !== "")
  return lines[lines.length - 1]
}

/**
 * Builds, commits and records a golden image; see the module doc.
 * @fails GoldenError
 */
export const build = (deps: GoldenDeps, request: GoldenBuildRequest): Effect.Effect<GoldenImage, GoldenError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const { progress, ssh, vms } = deps
    const how: VmCreateHow = request.from === undefined ? { _tag: "root", ...buildVmSize } : { _tag: "restore", commit_id: request.from }
    const steps = provisionSteps({ piPackage: request.piPackage, npmPrefix: request.npmPrefix })
    const secrets = secretsStep((request.secrets ?? []).map(Redacted.value))
    const total = steps.length + 3 // + broker, secrets, commit
    yield* progress(request.from === undefined ? "creating the build VM (booting)" : `restoring the build VM from commit ${request.from}`)

    const provision = (vm: VmRecord) =>
      Effect.gen(function* () {
        const vmId = VmId.make(vm.vm_id)
        const short = shortVmId(vm.vm_id)
        yield* progress(`build VM ${vm.vm_id} is running`)
        const stepFailed = (step: string, why: string) =>
          failure("step", step, `Golden image build failed at step ${step} on VM ${short}: ${why.replace(/[.\s]+$/, "")}.`)
        yield* ssh.run(vmId, "true").pipe(
          Effect.retry({ schedule: sshReadyPolicy, while: (e) => e._tag !== "RemoteCommandFailed" }),
          Effect.mapError((e) => stepFailed("connect", e.message))
        )
        const components: Array<GoldenComponent> = []
        const runStep = (step: GoldenStep, index: number) =>
          Effect.gen(function* () {
            yield* progress(`[${index}/${total}] ${step.title}…`)
            const r = yield* ssh.run(vmId, step.script, { stdin: step.stdin, check: false }).pipe(
              Effect.timeoutFail({ duration: stepTimeout, onTimeout: () => stepFailed(step.name, `it took longer than ${stepTimeout}`) }),
              Effect.mapError((e) => (e._tag === "GoldenError" ? e : stepFailed(step.name, e.message)))
            )
            if (r.exit.code !== 0) {
              const why = lastLine(r.stderr) ?? `it exited with ${r.exit.signal === null ? `code ${r.exit.code}` : `signal ${r.exit.signal}`}`
              if (step.name === "secrets" && r.exit.code === secretFoundCode) {
                return yield* failure("secret", step.name, `Golden image build failed at step secrets on VM ${short}: a configured secret value or a private key is in ${why}; nothing was committed.`)
              }
              return yield* stepFailed(step.name, why)
            }
            const report = parseReport(new TextDecoder().decode(r.stdout))
            if (report === undefined) return yield* stepFailed(step.name, "it did not report what it did")
            yield* progress(`[${index}/${total}] ${step.title}: ${report.action}${report.version === null ? "" : ` ${report.version}`}${report.action === "present" ? " (skipped)" : ""}`)
            return report
          })

        let index = 0
        for (const step of steps) {
          const report = yield* runStep(step, ++index)
          components.push(new GoldenComponent({ name: step.name, action: report.action === "installed" || report.action === "present" ? report.action : "configured", version: report.version }))
        }

        yield* progress(`[${++index}/${total}] troupe exec broker…`)
        const program = yield* readProgram(request.brokerProgram).pipe(Effect.mapError((e) => stepFailed("broker", e.message)))
        const uploaded = yield* ensureInstalled(ssh, vmId, program).pipe(Effect.mapError((e) => stepFailed("broker", e.message)))
        const brokerFile = program.remotePath.split("/").pop() ?? program.remotePath
        components.push(new GoldenComponent({ name: "broker", action: uploaded ? "installed" : "present", version: brokerFile }))
        yield* progress(`[${index}/${total}] troupe exec broker: ${uploaded ? "installed" : "present (skipped)"} ~/${program.remotePath}`)

        yield* runStep(secrets, ++index)

        yield* progress(`[${++index}/${total}] committing (keep paused)…`)
        const committed = yield* vms.commit(vm.vm_id, { keepPaused: true }).pipe(
          Effect.mapError((e) => failure("vm", "commit", `Golden image build failed at step commit on VM ${short}: ${e.message.replace(/[.\s]+$/, "")}.`))
        )
        const now = yield* Clock.currentTimeMillis
        const image = new GoldenImage({
          commit_id: committed.commit_id,
          name: request.name ?? `golden-${DateTime.formatIso(DateTime.unsafeMake(now)).replace(/\.\d{3}Z$/, "Z")}`,
          created_at: now,
          vm_id: vm.vm_id,
          from: request.from ?? null,
          troupe_version: troupeVersion,
          components,
          vm_kept: request.keepVm === true
        })
        yield* addGolden(request.home, image).pipe(
          Effect.mapError((e) => failure("records", "record", `${e.message.replace(/[.\s]+$/, "")}; the image was committed as ${committed.commit_id}.`))
        )
        return image
      })

    const release = (vm: VmRecord, exit: Exit.Exit<unknown, unknown>) =>
      exit._tag === "Success" && request.keepVm === true
        ? progress(`kept the build VM ${vm.vm_id} (paused; delete it with: troupe vm delete ${vm.vm_id})`)
        : cleanup(vms.delete(vm.vm_id)).pipe(
          Effect.zipRight(progress(`deleted the build VM ${vm.vm_id}`)),
          Effect.catchAll((e) => progress(`could not delete the build VM ${vm.vm_id}: ${e.message} (delete it with: troupe vm delete ${vm.vm_id})`)),
          Effect.zipRight(Effect.ignore(cleanup(ssh.forgetHostKey(VmId.make(vm.vm_id)))))
        )

    return yield* Effect.acquireUseRelease(
      vms.create({ how, wait: true }).pipe(
        Effect.mapError((e) => failure("vm", "create", `Golden image build failed at step create: the build VM could not be ${request.from === undefined ? "created" : `restored from ${request.from}`}: ${e.message.replace(/[.\s]+$/, "")}.`))
      ),
      provision,
      release
    )
  }).pipe(Effect.withSpan("GoldenImages.build"))
