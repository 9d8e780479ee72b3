/**
 * The active VM of a Pi session (pi-vers' `vers_vm_use` / `vers_vm_local`, SPEC-vers §4) and
 * `vers_vm_copy`. While a VM is active, Pi's `bash`, `read`, `write` and `edit` run there
 * (`./Builtins.ts` over `./VmOperations.ts`: Pi's own definitions with SSH backends);
 * `vers_vm_local` switches them back to this machine. SSH is in-process (`Ssh`, one pooled
 * connection per VM), with host keys pinned under `TROUPE_HOME/ssh/host_keys` (shared with the
 * daemon and the CLI); the Vers key and addresses come from `VERS_*` / `~/.vers` as for the CLI.
 *
 * Parameters follow pi-vers: `vmId` (`vm_id` accepted); `vers_vm_copy` takes `src`, `dst`
 * (`vm:<id>:<path>` or a local path, relative to the session's cwd) and `recursive` (default:
 * a directory source is copied recursively, as pi-vers auto-detects).
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { Effect, Layer, ManagedRuntime } from "effect"
import { shortVmId, type VmId } from "../domain/Vers.js"
import * as Config from "../layers/Config.js"
import * as VersLive from "../layers/Vers.js"
import { Ssh } from "../services/Ssh.js"
import { copy, describeLocation, parseLocation } from "../services/VmCopy.js"
import type { JsonSchema, PiTool } from "./PiHost.js"
import { result } from "./Tools.js"
import { settle, type SshRuntime, type VmOperations, vmOperations } from "./VmOperations.js"

/** Options of {@link makeVmActive}. */
export interface VmActiveOptions {
  /** `Ssh` to use (default: `VersLive.sshLayer(TROUPE_HOME)` over the environment's Vers settings). */
  readonly ssh?: Layer.Layer<Ssh> | undefined
  /** Configuration overrides (for `TROUPE_HOME`). */
  readonly config?: Partial<Config.TroupeConfigShape> | undefined
  /**
   * Routes Pi's built-ins through `active()` (`PiHost.routeBuiltins`); called once, the first
   * time a VM becomes active. Without it (a Pi without the tool factories) `vers_vm_use` fails.
   */
  readonly routeBuiltins?: (() => void) | undefined
  /** Told after the active VM changed (`vers_vm_use`, `vers_vm_local`): plan mode re-applies its tool set. */
  readonly switched?: (() => void) | undefined
}

/** The session's active VM, its tools, and the SSH runtime they share. */
export interface VmActive {
  /** `vers_vm_use`, `vers_vm_local`, `vers_vm_copy`. */
  readonly tools: ReadonlyArray<PiTool>
  /** The active VM's backends, or undefined when tools run locally. */
  readonly active: () => VmOperations | undefined
  /** Switches back to local and closes the SSH connections. Idempotent. */
  readonly dispose: () => Promise<void>
}

const defaultSsh = (config: Partial<Config.TroupeConfigShape>): Layer.Layer<Ssh> =>
  Layer.unwrapEffect(Effect.map(Config.TroupeConfig, (c) => VersLive.sshLayer(c.home).pipe(Layer.provide(VersLive.layer())))).pipe(
    Layer.provide(Config.layer(config))
  )

const object = (properties: Record<string, JsonSchema>, required: ReadonlyArray<string> = []): JsonSchema => ({ type: "object", properties, required, additionalProperties: false })

const vmIdParam = (params: Record<string, unknown>): VmId => {
  const v = params.vmId ?? params.vm_id
  if (typeof v !== "string" || v.trim() === "") throw new Error("vmId must be a non-empty string")
  return v.trim() as VmId
}

const text = (params: Record<string, unknown>, name: string): string => {
  const v = params[name]
  if (typeof v !== "string" || v === "") throw new Error(`${name} must be a non-empty string`)
  return v
}

/** Builds the active-VM state and tools of one Pi adapter. Nothing connects until `vers_vm_use` or `vers_vm_copy`. */
export const makeVmActive = (options: VmActiveOptions = {}): VmActive => {
  let runtime: SshRuntime | undefined
  let current: VmOperations | undefined
  let routed = false
  const rt = () => (runtime ??= ManagedRuntime.make(options.ssh ?? defaultSsh(options.config ?? {})))
  const sshOf = (r: SshRuntime) => r.runPromise(Ssh)
  const run = settle

  const use: PiTool = {
    name: "vers_vm_use",
    label: "Use Vers VM",
    description: "Make a Vers VM the active one: bash, read, write and edit run on it (over SSH, from its home directory) until vers_vm_local.",
    parameters: object({ vmId: { type: "string", description: "The VM id." } }, ["vmId"]),
    execute: async (_id, params, signal) => {
      const vmId = vmIdParam(params)
      if (options.routeBuiltins === undefined) {
        throw new Error("This Pi cannot run bash, read, write and edit on a VM (its extension API has no create*ToolDefinition factories); use vers_vm_copy, or troupe vm exec from bash")
      }
      const r = rt()
      const ssh = await sshOf(r)
      // It must answer before tools go there; its home is where relative paths resolve.
      const probe = await run(r, ssh.run(vmId, "pwd"), signal)
      const home = new TextDecoder().decode(probe.stdout).trim() || "/root"
      current = vmOperations(r, ssh, vmId, home)
      if (!routed) {
        routed = true
        options.routeBuiltins()
      }
      options.switched?.()
      return result(`Using VM ${shortVmId(vmId)} (cwd ${home}): bash, read, write and edit now run on it. vers_vm_local switches back.`, { vmId, cwd: home })
    }
  }

  const local: PiTool = {
    name: "vers_vm_local",
    label: "Use local machine",
    description: "Switch bash, read, write and edit back to this machine (after vers_vm_use).",
    parameters: object({}),
    execute: async () => {
      const was = current
      current = undefined
      options.switched?.()
      return result(was === undefined ? "Already local: bash, read, write and edit run on this machine." : `Back to local (was VM ${shortVmId(was.vmId)}): bash, read, write and edit run on this machine.`, { vmId: was?.vmId ?? null })
    }
  }

  const copyTool: PiTool = {
    name: "vers_vm_copy",
    label: "Copy files to/from VM",
    description: "Copy files between this machine and a Vers VM, or between two VMs (streamed; exact bytes and modes). " +
      "Paths prefixed with 'vm:<vm_id>:' are on that VM (relative ones under its home), bare paths are local. " +
      "An existing directory as dst receives src under its own name. Examples: src='./file.txt', dst='vm:abc123:/root/file.txt'; src='vm:abc123:/root/out', dst='./out'.",
    parameters: object({
      src: { type: "string", description: "Source path. Prefix with 'vm:<vm_id>:' for VM paths, otherwise local." },
      dst: { type: "string", description: "Destination path. Prefix with 'vm:<vm_id>:' for VM paths, otherwise local." },
      recursive: { type: "boolean", description: "Copy a directory recursively (default: yes when src is a directory)." }
    }, ["src", "dst"]),
    execute: async (_id, params, signal, _update, ctx) => {
      const src = text(params, "src")
      const dst = text(params, "dst")
      const recursive = params.recursive !== false
      const r = rt()
      const ssh = await sshOf(r)
      const summary = await run(
        r,
        Effect.gen(function* () {
          const from = yield* parseLocation(src)
          const to = yield* parseLocation(dst)
          if (from.vm === null && to.vm === null) return yield* Effect.fail(new Error("Both paths are local: use bash with cp instead (prefix a VM path with vm:<vm_id>:)"))
          const s = yield* copy(ssh, from, to, { recursive, cwd: ctx.cwd })
          return { ...s, from: describeLocation(from), to: describeLocation(to) }
        }).pipe(Effect.provide(NodeFileSystem.layer)),
        signal
      )
      return result(`Copied ${summary.from} → ${summary.to}: ${summary.files} file(s), ${summary.directories} director${summary.directories === 1 ? "y" : "ies"}, ${summary.bytes} bytes.`, { src, dst, ...summary })
    }
  }

  return {
    tools: [use, local, copyTool],
    active: () => current,
    dispose: async () => {
      current = undefined
      const r = runtime
      runtime = undefined
      await r?.dispose()
    }
  }
}
