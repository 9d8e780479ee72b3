/**
 * The exec broker's sweep of a command's leftovers, as LocalHost's: up to 3 rounds of SIGTERM
 * to the group and marked processes, up to the grace, then SIGKILL and up to 1 s for the kernel
 * (a later round catches processes forked while an earlier one waited). Plain Node with timers:
 * the broker is a standalone program, not Effect code.
 */
import { noneLeft, noneLeftSettled, scanProc, signalSurvivors, survivorCount, survivorsIn, type Survivors, type SweepTarget } from "./ProcScan.js"

/** How often the sweep re-checks whether signalled processes are gone: 25 ms. */
const pollMs = 25
/** After SIGKILL, how long the kernel gets to finish the processes off: 1,000 ms. */
const killSettleMs = 1000
const maxRounds = 3
/** How long a sweep re-reads processes caught mid-exec before it concludes nothing is left: 3,000 ms (a loaded machine can hold a process in exec for long). */
const settleMs = 3000
/** How often it re-reads them: 5 ms. */
const settlePollMs = 5

const survivors = (target: SweepTarget) => survivorsIn(target, scanProc())

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Polls until nothing of `target` is left or `withinMs` has passed. */
const awaitGone = async (target: SweepTarget, withinMs: number): Promise<Survivors> => {
  const deadline = performance.now() + withinMs
  for (;;) {
    const found = survivors(target)
    if (noneLeft(found) || performance.now() >= deadline) return found
    await sleep(pollMs)
  }
}

/**
 * What is left of `target`; when nothing is, re-scans (up to {@link settleMs}) while a process
 * started since the leaf reads back an empty environment, since it may be a marked escapee in
 * the middle of execve(2).
 */
const settledSurvivors = async (target: SweepTarget): Promise<Survivors> => {
  const deadline = performance.now() + settleMs
  for (;;) {
    const found = survivors(target)
    if (!noneLeft(found) || noneLeftSettled(found) || performance.now() >= deadline) return found
    await sleep(settlePollMs)
  }
}

/**
 * Kills what is left of `target` with `graceMs` between SIGTERM and SIGKILL. Resolves with the
 * number of processes found at first (0: nothing was left, nothing signalled) and whether
 * everything is gone at the end.
 */
export const sweep = async (target: SweepTarget, graceMs: number): Promise<{ readonly found: number; readonly clean: boolean }> => {
  let found = 0
  for (let round = 0; round < maxRounds; round++) {
    const left = await settledSurvivors(target)
    if (noneLeft(left)) return { found, clean: true }
    if (round === 0) found = survivorCount(target, left)
    signalSurvivors(target, left, "SIGTERM")
    const afterTerm = await awaitGone(target, graceMs)
    if (noneLeft(afterTerm)) continue
    signalSurvivors(target, afterTerm, "SIGKILL")
    await awaitGone(target, killSettleMs)
  }
  return { found, clean: noneLeft(survivors(target)) }
}
