/**
 * `VmHosts`: the `Hosts` families for VMs (docs/vmhost.md). `vm:<id>` is one {@link VmHost} per
 * VM, kept in an `RcMap` with an idle TTL so consecutive runs reuse its broker channel;
 * `commit:<id>` restores a fresh VM from that commit for the caller's scope (one per execution:
 * CommandGraph acquires each `on` once), deleted when the scope closes; `golden` does the same
 * from `VersConfig.goldenCommitId`.
 */
import { Context, type Duration, Effect, Layer, Option, RcMap } from "effect"
import type { CommitId } from "../domain/Vers.js"
import { VmId } from "../domain/Vers.js"
import { labelKeys } from "../domain/Vms.js"
import { HostError, type HostShape } from "./Host.js"
import { type HostFamily, HostOwner } from "./Hosts.js"
import { Ssh } from "./Ssh.js"
import { VersApi } from "./VersApi.js"
import { VersConfig } from "./VersConfig.js"
import { VmHost, type VmHostOptions } from "./VmHost.js"

/** Options of {@link VmHosts.layer}. */
export interface VmHostsOptions extends VmHostOptions {
  /** How long an unused `vm:<id>` host (and its broker channel) stays open (default 60 s). */
  readonly idleTimeToLive?: Duration.DurationInput | undefined
  /**
   * This home's `troupe-home` label (`homeLabel(TROUPE_HOME)`): with it, a VM restored for
   * `commit:<id>` / `golden` carries `troupe-home`, `troupe-session` and (inside a run)
   * `troupe-run` labels, as `Vms` puts on its VMs, so a daemon that crashed before deleting it
   * deletes it at its next start (`Vms.reconcile`).
   */
  readonly homeLabel?: string | undefined
}

export interface VmHostsShape {
  /** `vm`, `commit` and `golden`, for `Hosts.make(local, { families })`. */
  readonly families: Readonly<Record<string, HostFamily>>
}

const unavailable = (message: string) => new HostError({ reason: "unavailable", code: 1, message })

/** The sentence `on: golden` fails with when no golden commit is configured. */
export const noGoldenCommit = "Host golden is not available: no golden commit is configured; set VERS_GOLDEN_COMMIT_ID."

const make = (options: VmHostsOptions) =>
  Effect.gen(function* () {
    const ssh = yield* Ssh
    const api = yield* VersApi
    const config = yield* VersConfig
    const hosts = yield* RcMap.make({
      lookup: (vmId: string) => VmHost.make(VmId.make(vmId), options).pipe(Effect.provideService(Ssh, ssh)),
      idleTimeToLive: options.idleTimeToLive ?? "60 seconds"
    })

    /** A VM restored from `commitId` for the caller's scope (deleted when it closes), and its host. */
    const restored = (name: string, commitId: string) =>
      Effect.gen(function* () {
        const owner = yield* HostOwner
        const labels = options.homeLabel === undefined ? undefined : {
          [labelKeys.home]: options.homeLabel,
          [labelKeys.session]: owner.session ?? "cli",
          ...(owner.run === undefined ? {} : { [labelKeys.run]: owner.run })
        }
        const vmId = yield* Effect.acquireRelease(api.restore({ commitId: commitId as CommitId }, { labels }), (vmId) =>
          api.delete(vmId).pipe(
            Effect.zipRight(ssh.forgetHostKey(vmId)),
            Effect.catchAll((e) => Effect.logWarning(`VmHosts: VM ${vmId} restored for ${name} could not be deleted: ${e.message}`))
          )
        )
        yield* api.waitRunning(vmId)
        yield* Effect.logDebug(`VmHosts: ${name} runs on VM ${vmId}`)
        return yield* VmHost.make(vmId, options).pipe(Effect.provideService(Ssh, ssh))
      }).pipe(
        Effect.catchIf((e): e is Exclude<typeof e, HostError> => !(e instanceof HostError), (e) =>
          Effect.fail(unavailable(`Host ${name} is not available: ${e.message}`))
        )
      )

    const families: Record<string, HostFamily> = {
      vm: (name) => {
        const vmId = name.slice("vm:".length)
        return vmId === "" ? Effect.fail(unavailable(`Host ${name} is not available: no VM id after vm:.`)) : RcMap.get(hosts, vmId)
      },
      commit: (name) => {
        const commitId = name.slice("commit:".length)
        return commitId === "" ? Effect.fail(unavailable(`Host ${name} is not available: no commit id after commit:.`)) : restored(name, commitId)
      },
      golden: (name): Effect.Effect<HostShape, HostError, import("effect").Scope.Scope> =>
        Option.match(config.goldenCommitId, {
          onNone: () => Effect.fail(unavailable(noGoldenCommit)),
          onSome: (commitId) => restored(name, commitId)
        })
    }
    return { families } satisfies VmHostsShape
  })

export class VmHosts extends Context.Tag("troupe/VmHosts")<VmHosts, VmHostsShape>() {
  /** The families over `Ssh`, `VersApi` and `VersConfig`; `vm:<id>` hosts close with the layer. */
  static readonly layer = (options: VmHostsOptions = {}): Layer.Layer<VmHosts, never, Ssh | VersApi | VersConfig> => Layer.scoped(VmHosts, make(options))
}
