/**
 * What the fake fleet saw: every VM ever created (how, by which key, with which labels, and
 * whether it still exists) and every request (method, path, headers with the Authorization
 * value redacted, body, the status answered and the fault applied). Leak tests assert
 * `live()` is empty after a scope; secrets tests grep `requests()`.
 */
import type { FakeVmRecord } from "./Model.js"

/** One VM the fleet created. */
export interface LedgerVm {
  readonly vm_id: string
  /** `new_root` | `from_commit` | `branch`. */
  readonly origin: FakeVmRecord["origin"]["kind"]
  /** The commit a restored or branched VM came from. */
  readonly commit_id: string | null
  /** Labels given at creation. */
  readonly labels: Readonly<Record<string, string>>
  /** `key-1`, `key-2`, …: which API key created it (never the key itself). */
  readonly key_id: string
  /** RFC 3339. */
  readonly created_at: string
  /** RFC 3339, null while it exists. */
  readonly deleted_at: string | null
}

/** One request the fleet received, in arrival order. */
export interface LedgerRequest {
  readonly seq: number
  /** The document's operation id, or `unknown` for a path it does not have. */
  readonly operation: string
  readonly method: string
  /** Path and query as sent, e.g. `/api/v1/vm/new_root?wait_boot=true`. */
  readonly path: string
  /** Lower-case names; `authorization` is `Bearer [redacted]` when present. */
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  /** The status answered; null while pending or when it hung. */
  status: number | null
  /** The fault applied (`status 503`, `rateLimit`, `slow`, `hang`, `malformed`), else null. */
  fault: string | null
}

/** The redacted form of an Authorization header: the scheme stays, the credential goes. */
export const redactAuthorization = (value: string): string => {
  const space = value.indexOf(" ")
  return space < 0 ? "[redacted]" : `${value.slice(0, space)} [redacted]`
}

export class Ledger {
  private vms = new Map<string, LedgerVm>()
  private log: Array<LedgerRequest> = []
  private seq = 0

  /** Every VM created since the start (or the last `reset`), in creation order. */
  created(): ReadonlyArray<LedgerVm> {
    return [...this.vms.values()]
  }

  /** The VMs of `created()` that still exist. */
  live(): ReadonlyArray<LedgerVm> {
    return this.created().filter((v) => v.deleted_at === null)
  }

  /** Every request since the start (or the last `reset`). */
  requests(): ReadonlyArray<LedgerRequest> {
    return [...this.log]
  }

  /** Forgets the records (not the fleet: VMs that exist keep existing, unrecorded). */
  reset(): void {
    this.vms = new Map()
    this.log = []
  }

  vmCreated(vm: FakeVmRecord): void {
    this.vms.set(vm.vm_id, {
      vm_id: vm.vm_id,
      origin: vm.origin.kind,
      commit_id: vm.origin.kind === "new_root" ? null : vm.origin.commit_id,
      labels: { ...vm.labels },
      key_id: vm.key_id,
      created_at: vm.created_at,
      deleted_at: null
    })
  }

  vmDeleted(vm: FakeVmRecord): void {
    const v = this.vms.get(vm.vm_id)
    if (v !== undefined) this.vms.set(vm.vm_id, { ...v, deleted_at: vm.deleted_at })
  }

  request(entry: Omit<LedgerRequest, "seq" | "status" | "fault">): LedgerRequest {
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(entry.headers)) headers[k] = k === "authorization" ? redactAuthorization(v) : v
    const r: LedgerRequest = { ...entry, headers, seq: ++this.seq, status: null, fault: null }
    this.log.push(r)
    return r
  }
}
