/**
 * The shared host behaviour suite (test/support/hostSuite.ts) on VmHost over a FakeFleet VM:
 * the exec broker over one SSH channel, and the per-channel fallback (`mode: "exec"`). FakeVm
 * runs commands as local processes, so the suite's `/proc` no-orphan checks see them.
 */
import { afterAll, describe } from "@effect/vitest"
import { hostSuite } from "../support/hostSuite.js"
import { closeVmFleet, vmTestHosts } from "../support/vmHosts.js"

afterAll(closeVmFleet, 30_000)

// The per-channel fallback takes ~1 s a leaf (a /proc sweep per leaf) and still fails 8
// process-cleanup cases of the suite (escapees and background children after a normal exit,
// interruption of a SIGTERM-ignoring tree): it runs only with TROUPE_VM_SUITE=vm-exec (or
// =all); the broker path always runs.
const only = process.env.TROUPE_VM_SUITE ?? "vm-broker"
for (const entry of vmTestHosts) {
  if (only !== "all" && only !== entry.name) continue
  describe(`host ${entry.name}`, () => hostSuite(entry))
}
