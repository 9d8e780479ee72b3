/**
 * The shared host behaviour suite (test/support/hostSuite.ts) on VmHost over a FakeFleet VM:
 * the exec broker over one SSH channel, and the per-channel fallback (`mode: "exec"`). FakeVm
 * runs commands as local processes, so the suite's `/proc` no-orphan checks see them.
 */
import { afterAll, describe } from "@effect/vitest"
import { hostSuite } from "../support/hostSuite.js"
import { closeVmFleet, vmTestHosts } from "../support/vmHosts.js"

afterAll(closeVmFleet, 30_000)

// Both paths by default; TROUPE_VM_SUITE=vm-broker or =vm-exec runs one of them.
const only = process.env.TROUPE_VM_SUITE ?? "all"
for (const entry of vmTestHosts) {
  if (only !== "all" && only !== entry.name) continue
  describe(`host ${entry.name}`, () => hostSuite(entry))
}
