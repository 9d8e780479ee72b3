/**
 * `troupe/testing`: helpers for testing programs built on troupe — a fake Pi host for code
 * that uses the Pi adapter, and the fake Vers fleet: FakeVers (the API), FakeVm (the VMs' SSH
 * side) and FakeFleet (both, wired; `startFakeFleet` for Promise code).
 */
export { type FakeNotification, type FakeOverlay, FakePiHost } from "./FakePiHost.js"
export * as FakeVers from "./FakeVers.js"
export {
  type FakeCommit,
  type FakeVersHandle,
  type FakeVersHooks,
  type FakeVersOptions,
  type FakeVmRecord,
  type Fault,
  type FaultRule,
  type LedgerRequest,
  type LedgerVm,
  startFakeVers,
  type StartedFakeVers
} from "./FakeVers.js"
export { type FakePiMode, fakePiModes, type FakePiOptions, fakePiProgram, spawnFakePi } from "./FakePi.js"
export * as FakeVm from "./FakeVm.js"
export type { FakeVmHandle, FakeVmMachine, FakeVmOptions } from "./FakeVm.js"
export * as FakeFleet from "./FakeFleet.js"
export { type FakeFleetEnv, type FakeFleetHandle, type FakeFleetOptions, startFakeFleet, type StartedFakeFleet } from "./FakeFleet.js"
export * as OpenSshd from "./OpenSshd.js"
export { startOpenSshd } from "./OpenSshd.js"
