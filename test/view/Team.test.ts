/**
 * Swarm workers and lieutenants of a run list (src/view/Team.ts), pure: who they are, their
 * status from the agent state or the run, one line per swarm and one for the lieutenants —
 * also as a section of top's frame.
 */
import { describe, expect, it } from "@effect/vitest"
import { Progress, RestartPolicy, RunInfo, type RunState } from "../../src/domain/Run.js"
import { lieutenantKey, workerKey } from "../../src/domain/Swarm.js"
import { isTeamRun, teamLines, teamOf } from "../../src/view/Team.js"
import { emptySnapshot, frame, initialState } from "../../src/view/TopModel.js"

const run = (id: string, state: RunState, values: Record<string, unknown>) =>
  new RunInfo({
    id, address: `run:${id}`, generation: "g", owner: "s1", recipe: "agent", state, code: null, cwd: "/tmp",
    state_dir: `/tmp/${id}`, values, restart: RestartPolicy.make({}), restarts: 0,
    progress: Progress.make({ phase: "root", active: 0, completed: 0, failures: [] }),
    processes: [], created_at: 1, updated_at: 1, ended_at: null
  })

const worker = (id: string, swarm: string, label: string, state: RunState = "running") => run(id, state, { [workerKey]: { swarm, label, vm_id: null } })
const lieutenant = (id: string, name: string, state: RunState = "running") =>
  run(id, state, { [lieutenantKey]: { name, role: "reviewer", system_prompt: null, model: null, placement: "local", vm_id: null } })

describe("Team", () => {
  const runs = [
    worker("w2", "s1", "beta"),
    worker("w1", "s1", "alpha"),
    worker("w3", "s1", "gamma", "failed"),
    lieutenant("l1", "scout"),
    run("plain", "running", {}),
    run("odd", "running", { [workerKey]: { swarm: 3 } })
  ]

  it("finds workers and lieutenants (valid metadata only), swarm by swarm, lieutenants last", () => {
    expect(runs.map(isTeamRun)).toEqual([true, true, true, true, false, true])
    expect(teamOf(runs).map((m) => `${m.kind}:${m.group}:${m.name}`)).toEqual(["worker:s1:alpha", "worker:s1:beta", "worker:s1:gamma", "lieutenant::scout"])
  })

  it("status: the agent's idle/streaming when known, failed for a failed run, idle for a running one otherwise", () => {
    const team = teamOf(runs, new Map([["w1", "streaming"], ["w2", "idle"], ["w3", "streaming"]]))
    expect(team.map((m) => m.status)).toEqual(["streaming", "idle", "failed", "idle"])
    expect(teamOf([worker("w9", "s2", "new", "starting")])[0]!.status).toBe("starting")
    expect(teamOf([worker("w9", "s2", "done", "killed")])[0]!.status).toBe("stopped")
  })

  it("one line per swarm and one for the lieutenants; top's frame shows them as a section", () => {
    const team = teamOf(runs, new Map([["w1", "streaming"]]))
    expect(teamLines(team)).toEqual([
      "swarm s1: ▶alpha streaming · ▷beta idle · ✗gamma failed",
      "lieutenants: ▷scout idle"
    ])
    expect(teamLines([])).toEqual([])
    const lines = frame(initialState({ ...emptySnapshot(0, "session s1"), runs, team }), { width: 160 })
    expect(lines).toContain("SWARMS / LIEUTENANTS")
    expect(lines).toContain("  lieutenants: ▷scout idle")
  })
})
