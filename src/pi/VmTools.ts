/**
 * The Pi VM tools with pi-vers' names (SPEC-adapters §3): `vers_vms`, `vers_vm_create`,
 * `vers_vm_delete`, `vers_vm_branch`, `vers_vm_commit`, `vers_vm_restore`, `vers_vm_state`.
 * Each runs one VM operation through the daemon as the Pi session (the session owns the VMs
 * it creates; they live until deleted, as with pi-vers) and returns compact text plus JSON
 * `details`. Credentials are never parameters: the daemon reads `VERS_API_KEY` /
 * `VERS_BASE_URL` from its environment or `~/.vers`. Parameter names follow pi-vers (`vmId`,
 * `commitId`, `state`; `vm_id` / `commit_id` are accepted too); docs/vers.md "Pi tools".
 */
import { Effect, Schema } from "effect"
import type { VmsClient } from "../daemon/Client.js"
import type { VmTargetState } from "../domain/Vers.js"
import { VmCommitted, VmEntry, VmRecord, type VmsError } from "../domain/Vms.js"
import { type Connection, VmsRemote } from "./Connection.js"
import type { JsonSchema, PiContext, PiTool, PiUpdate } from "./PiHost.js"
import { result } from "./Tools.js"

/** Gets the session's connection for a tool call (connecting on first use). */
export type Connect = (ctx: PiContext) => Promise<Connection>

const str = (description: string): JsonSchema => ({ type: "string", description })
const int = (description: string): JsonSchema => ({ type: "integer", minimum: 1, description })
const object = (properties: Record<string, JsonSchema>, required: ReadonlyArray<string> = []): JsonSchema => ({
  type: "object",
  properties,
  required,
  additionalProperties: false
})

const encodeEntry = Schema.encodeSync(VmEntry)
const encodeRecord = Schema.encodeSync(VmRecord)
const encodeCommit = Schema.encodeSync(VmCommitted)

/** `vmId` (pi-vers) or `vm_id`. */
const idParam = (params: Record<string, unknown>, camel: string, snake: string): string => {
  const v = params[camel] ?? params[snake]
  if (typeof v !== "string" || v.trim() === "") throw new Error(`${camel} must be a non-empty string`)
  return v.trim()
}

const size = (params: Record<string, unknown>, name: string): number | undefined => {
  const v = params[name]
  if (v === undefined) return undefined
  if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a positive integer`)
  return v
}

const entryLine = (e: VmEntry) =>
  `${e.vm_id} ${e.state}${e.ledger === null ? "" : ` (troupe: session ${e.ledger.session}${e.ledger.run === null ? "" : `, run ${e.ledger.run}`}${e.ledger.parent === null ? "" : `, ${e.ledger.source} of ${e.ledger.parent}`})`}`

/** One progress update before a boot wait (Pi shows it while the tool runs); never throws. */
const progress = (onUpdate: PiUpdate | undefined, text: string) => {
  try {
    onUpdate?.(result(text, { progress: true }))
  } catch {
    // A stale context: nothing to show.
  }
}

const withVms = <A>(connect: Connect, ctx: PiContext, signal: AbortSignal | undefined, f: (vms: VmsClient) => Effect.Effect<A, VmsError>) =>
  connect(ctx).then((conn) => conn.run(Effect.flatMap(VmsRemote, f), signal))

/** `vers_vms`: the VMs the API key sees (`owned`: only this session's troupe VMs). */
export const versVmsTool = (connect: Connect): PiTool => ({
  name: "vers_vms",
  label: "Vers VMs",
  description: "List Vers VMs (id, state, and the troupe owner of the ones troupe created). owned=true: only this session's.",
  parameters: object({ owned: { type: "boolean", description: "Only the VMs troupe created for this session." } }),
  execute: async (_id, params, signal, _update, ctx) => {
    const list = await withVms(connect, ctx, signal, (vms) => vms.list({ owned: params.owned === true }))
    return result(list.length === 0 ? "No VMs." : list.map(entryLine).join("\n"), { count: list.length, vms: list.map((e) => encodeEntry(e)) })
  }
})

/** `vers_vm_create`: a new root VM owned by this session, running when it returns (unless wait_boot=false). */
export const versVmCreateTool = (connect: Connect): PiTool => ({
  name: "vers_vm_create",
  label: "Create Vers VM",
  description: "Create a new root Vers VM (owned by this session until deleted). Waits until it runs unless wait_boot is false.",
  parameters: object({
    vcpu_count: int("Virtual CPUs (default: the server's)."),
    mem_size_mib: int("Memory in MiB (default: the server's)."),
    fs_size_mib: int("Disk size in MiB (default: the server's)."),
    wait_boot: { type: "boolean", description: "Wait until the VM runs (default true)." }
  }),
  execute: async (_id, params, signal, onUpdate, ctx) => {
    const how = { _tag: "root" as const, vcpu_count: size(params, "vcpu_count"), mem_size_mib: size(params, "mem_size_mib"), fs_size_mib: size(params, "fs_size_mib") }
    const wait = params.wait_boot !== false
    if (wait) progress(onUpdate, "Creating VM… (waiting until it runs)")
    const r = await withVms(connect, ctx, signal, (vms) => vms.create({ how, wait }))
    return result(`Created VM ${r.vm_id} (${wait ? "running" : "booting"}).`, { vmId: r.vm_id, ...encodeRecord(r) })
  }
})

/** `vers_vm_delete`. */
export const versVmDeleteTool = (connect: Connect): PiTool => ({
  name: "vers_vm_delete",
  label: "Delete Vers VM",
  description: "Delete a Vers VM.",
  parameters: object({ vmId: str("The VM id.") }, ["vmId"]),
  execute: async (_id, params, signal, _update, ctx) => {
    const vmId = idParam(params, "vmId", "vm_id")
    const r = await withVms(connect, ctx, signal, (vms) => vms.delete(vmId))
    return result(`Deleted VM ${vmId}.`, { vmId, deleted: true, ledger: r === null ? null : encodeRecord(r) })
  }
})

/** `vers_vm_branch`: a copy-on-write clone of a VM, owned by this session. */
export const versVmBranchTool = (connect: Connect): PiTool => ({
  name: "vers_vm_branch",
  label: "Branch Vers VM",
  description: "Branch a Vers VM: a running copy-on-write clone of it (owned by this session until deleted).",
  parameters: object({ vmId: str("The VM to branch.") }, ["vmId"]),
  execute: async (_id, params, signal, onUpdate, ctx) => {
    const vmId = idParam(params, "vmId", "vm_id")
    progress(onUpdate, `Branching VM ${vmId}… (waiting until the branch runs)`)
    const r = await withVms(connect, ctx, signal, (vms) => vms.create({ how: { _tag: "branch", vm_id: vmId } }))
    return result(`Branched VM ${vmId} → ${r.vm_id} (running).`, { vmId: r.vm_id, ...encodeRecord(r) })
  }
})

/** `vers_vm_commit`: snapshot a VM; the commit id restores it. */
export const versVmCommitTool = (connect: Connect): PiTool => ({
  name: "vers_vm_commit",
  label: "Commit Vers VM",
  description: "Commit a Vers VM (snapshot of memory and disk). Returns the commit id for vers_vm_restore.",
  parameters: object({ vmId: str("The VM to commit."), keep_paused: { type: "boolean", description: "Leave the VM paused afterwards." } }, ["vmId"]),
  execute: async (_id, params, signal, _update, ctx) => {
    const vmId = idParam(params, "vmId", "vm_id")
    const c = await withVms(connect, ctx, signal, (vms) => vms.commit(vmId, { keepPaused: params.keep_paused === true }))
    return result(`Committed VM ${vmId} → commit ${c.commit_id}.`, { commitId: c.commit_id, ...encodeCommit(c) })
  }
})

/** `vers_vm_restore`: a new VM from a commit, owned by this session. */
export const versVmRestoreTool = (connect: Connect): PiTool => ({
  name: "vers_vm_restore",
  label: "Restore Vers VM",
  description: "Restore a new Vers VM from a commit (owned by this session until deleted); waits until it runs.",
  parameters: object({ commitId: str("The commit id (from vers_vm_commit).") }, ["commitId"]),
  execute: async (_id, params, signal, onUpdate, ctx) => {
    const commitId = idParam(params, "commitId", "commit_id")
    progress(onUpdate, `Restoring commit ${commitId}… (waiting until the VM runs)`)
    const r = await withVms(connect, ctx, signal, (vms) => vms.create({ how: { _tag: "restore", commit_id: commitId } }))
    return result(`Restored commit ${commitId} → VM ${r.vm_id} (running).`, { vmId: r.vm_id, commitId, ...encodeRecord(r) })
  }
})

/** `vers_vm_state`: pause or resume. */
export const versVmStateTool = (connect: Connect): PiTool => ({
  name: "vers_vm_state",
  label: "Pause/Resume Vers VM",
  description: "Pause or resume a Vers VM.",
  parameters: object({ vmId: str("The VM id."), state: { type: "string", enum: ["Paused", "Running"], description: "Paused or Running." } }, ["vmId", "state"]),
  execute: async (_id, params, signal, _update, ctx) => {
    const vmId = idParam(params, "vmId", "vm_id")
    const raw = typeof params.state === "string" ? params.state : ""
    const state: VmTargetState | undefined = /^paused?$/i.test(raw) ? "Paused" : /^(running|resume)$/i.test(raw) ? "Running" : undefined
    if (state === undefined) throw new Error("state must be Paused or Running")
    const e = await withVms(connect, ctx, signal, (vms) => vms.setState(vmId, state))
    return result(`VM ${vmId} is ${e.state}.`, { vmId, ...encodeEntry(e) })
  }
})

/** Every VM tool, in pi-vers' order. */
export const vmTools = (connect: Connect): ReadonlyArray<PiTool> => [
  versVmsTool(connect),
  versVmCreateTool(connect),
  versVmDeleteTool(connect),
  versVmBranchTool(connect),
  versVmCommitTool(connect),
  versVmRestoreTool(connect),
  versVmStateTool(connect)
]
