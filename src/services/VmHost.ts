/**
 * `VmHost`: a Host v2 ({@link HostShape}) named `vm:<id>` whose leaves run on a Vers VM
 * (docs/vmhost.md). The exec broker (docs/broker.md) is uploaded to the VM over SFTP when
 * absent (`.troupe/broker/exec-broker-<12 hex>.mjs` under the login home) and run as
 * `node <that path>` over one long-lived SSH channel; every leaf is a broker command in its own
 * process group. When the broker cannot run (no `node` on the VM: its hello never comes), or
 * with `mode: "exec"`, each leaf is its own SSH channel instead (`vmhost/ExecHost.ts`).
 *
 * Recipe folders: `stage(dir)` copies a recipe folder to the same absolute path on the VM over
 * SFTP, skipping files already there with the same size and SHA-256 (`vmhost/Stage.ts`);
 * CommandGraph calls it before the first leaf that can see the folder runs on this VM.
 *
 * cwd: `~` and `~/…` (what `troupe run|spawn --on vm:…` sends without `--cwd`) mean the VM
 * user's home; any other cwd is a path on the VM. `resolve` uses the VM's home for `~`.
 *
 * pi-vers started one `ssh` process per command and let remote work outlive timeouts; here a
 * timed-out, killed or interrupted leaf's remote process group is killed, and the leaves of a
 * dropped connection are reaped over a fresh one.
 */
import { Effect, ExecutionStrategy, Exit, Fiber, Scope } from "effect"
import type { VmId } from "../domain/Vers.js"
import * as BrokerHost from "./BrokerHost.js"
import { HostError, type HostShape, type StartSpec } from "./Host.js"
import { Ssh, type SshChannel, type SshShape } from "./Ssh.js"
import * as ExecHost from "./vmhost/ExecHost.js"
import { ensureInstalled, readProgram } from "./vmhost/Install.js"
import { stageDir, type StageOptions } from "./vmhost/Stage.js"

/** Options of {@link make}. */
export interface VmHostOptions {
  /** `auto` (default): the broker, else the per-command fallback; `broker`: the broker or fail; `exec`: the fallback only. */
  readonly mode?: "auto" | "broker" | "exec" | undefined
  /** TERM → KILL grace when a leaf is killed or reaped, ms (default 5,000). */
  readonly graceMs?: number | undefined
  /** How long to wait for the broker's hello, ms (default 30,000). */
  readonly helloTimeoutMs?: number | undefined
  /** Base environment of every leaf (under the leaf's own `env`); default none (the VM login environment). */
  readonly env?: Readonly<Record<string, string>> | undefined
  /** The local broker program to upload (default the built `dist/broker/exec-broker.mjs`). */
  readonly program?: string | undefined
  /** Caps of a staged recipe folder (`stage`; default 64 MiB, 10,000 files). */
  readonly stage?: StageOptions | undefined
}

/** The name of the host of a VM: `vm:<id>`. */
export const hostName = (vmId: string) => `vm:${vmId}`

const unavailable = (message: string) => new HostError({ reason: "unavailable", code: 1, message })

/** The VM login home (`pwd` of a fresh channel). @fails HostError `unavailable` */
const loginHome = (ssh: SshShape, vmId: VmId) =>
  ssh.run(vmId, "pwd").pipe(
    Effect.map((r) => new TextDecoder().decode(r.stdout).trim()),
    Effect.mapError((e) => unavailable(`VM ${vmId} is not reachable: ${e.message}`))
  )

/**
 * A host whose `~` cwd is the VM home, whose leaves get the base environment, and which stages
 * recipe folders at their own paths on the VM (`vmhost/Stage.ts`).
 */
const onVm = (host: HostShape, home: string, ssh: SshShape, vmId: VmId, options: VmHostOptions): HostShape => ({
  ...host,
  stage: (dir) => Effect.asVoid(stageDir(ssh, vmId, dir, options.stage)),
  start: (spec: StartSpec) => host.start({ ...spec, cwd: ExecHost.expandHome(spec.cwd, home), env: { ...options.env, ...spec.env } }),
  resolve: (argv, cwd) => host.resolve(argv, ExecHost.expandHome(cwd, home), home)
})

/**
 * Ends the broker's stdin and waits (at most `graceMs` + 5 s, interruptibly in a child fiber so
 * the bound fires inside a finalizer) for its channel to finish: the broker sweeps its commands
 * and exits, and the channel's readers end on their own instead of being interrupted mid-read.
 */
const endAndWait = (ch: SshChannel, graceMs: number) =>
  Effect.sync(() => ch.end()).pipe(
    Effect.zipRight(Effect.flatMap(Effect.fork(Effect.interruptible(Effect.ignore(Effect.timeoutOption(ch.exit, graceMs + 5000)))), Fiber.join))
  )

/** The broker over one SSH channel, or a HostError when it cannot start (the channel's stderr tail in the message). */
const brokerHost = (ssh: SshShape, vmId: VmId, options: VmHostOptions) =>
  Effect.gen(function* () {
    const graceMs = options.graceMs ?? 5000
    const program = yield* readProgram(options.program)
    yield* ensureInstalled(ssh, vmId, program)
    const command = `node ${program.remotePath} --grace-ms ${graceMs}`
    // Closing a channel's scope ends the broker's stdin first: the broker sweeps its commands
    // and exits, so its output ends and the reader stops (finalizers run last-added first).
    const channel = ssh.channel(vmId, command).pipe(
      Effect.tap((ch) => Effect.addFinalizer(() => endAndWait(ch, graceMs))),
      Effect.mapError((e) => unavailable(`VM ${vmId} is not reachable: ${e.message}`))
    )
    const first = yield* channel
    const host = yield* BrokerHost.make(first, { name: hostName(vmId), graceMs, helloTimeoutMs: options.helloTimeoutMs, reconnect: channel }).pipe(
      Effect.catchAll((e) =>
        Effect.flatMap(first.stderrTail, (tail) =>
          Effect.fail(unavailable(`the exec broker did not start on VM ${vmId}: ${tail.trim().split("\n").slice(-1)[0] || e.message}`))
        )
      )
    )
    yield* Effect.addFinalizer(() => endAndWait(first, graceMs))
    return host
  })

/**
 * The host of VM `vmId` for the current scope (see the module doc); closing the scope kills
 * its leaves and closes the broker channel.
 * @fails HostError `unavailable` when the VM cannot be reached (the SSH error's sentence), or
 *   with `mode: "broker"` when the broker cannot start.
 */
export const make = (vmId: VmId, options: VmHostOptions = {}) =>
  Effect.gen(function* () {
    const ssh = yield* Ssh
    const name = hostName(vmId)
    const home = yield* loginHome(ssh, vmId)
    const mode = options.mode ?? "auto"
    const fallback = () => ExecHost.make(ssh, vmId, { name, graceMs: options.graceMs ?? 5000, home })
    if (mode === "exec") {
      yield* Effect.logDebug(`VmHost: ${name} runs one SSH channel per leaf (mode exec)`)
      return onVm(fallback(), home, ssh, vmId, options)
    }
    // The broker in a scope of its own: a failed start closes its channel before the fallback.
    const scope = yield* Effect.scope
    const child = yield* Scope.fork(scope, ExecutionStrategy.sequential)
    const attempt = yield* brokerHost(ssh, vmId, options).pipe(Scope.extend(child), Effect.either)
    if (attempt._tag === "Right") {
      yield* Effect.logDebug(`VmHost: ${name} runs leaves through the exec broker`)
      return onVm(attempt.right, home, ssh, vmId, options)
    }
    yield* Scope.close(child, Exit.void)
    if (mode === "broker") return yield* attempt.left
    yield* Effect.logWarning(`VmHost: ${attempt.left.message}; ${name} falls back to one SSH channel per leaf`)
    return onVm(fallback(), home, ssh, vmId, options)
  }).pipe(Effect.withSpan("VmHost.make", { attributes: { vmId } }))

export const VmHost = { make, hostName } as const
