/**
 * `troupe top`'s view model (src/view/TopModel.ts) and its /proc arithmetic (ProcStats.ts),
 * pure: rows, ordering, selection, filter, kill confirmation, panels, fixed-height frames,
 * and a 1,000-run frame staying cheap.
 */
import { describe, expect, it } from "@effect/vitest"
import { ProcessRecord, Progress, RestartPolicy, RunInfo, type RunState } from "../../../src/domain/Run.js"
import { activity, emptySnapshot, frame, initialState, type Key, type Snapshot, type TopState, update, visibleRuns, withLogText, withSnapshot } from "../../../src/view/TopModel.js"
import { parseStat, usageOf } from "../../../src/cli/top/ProcStats.js"

const run = (id: string, state: RunState, createdAt: number, extra: { active?: number; endedAt?: number; pgid?: number; recipe?: string } = {}) =>
  new RunInfo({
    id,
    address: `run:${id}`,
    generation: "g",
    owner: "cli",
    recipe: extra.recipe ?? "inline",
    state,
    code: state === "failed" ? 2 : null,
    cwd: "/tmp",
    state_dir: `/tmp/${id}`,
    values: {},
    restart: RestartPolicy.make({}),
    restarts: 0,
    progress: Progress.make({ phase: "root", active: extra.active ?? 0, completed: 0, failures: [] }),
    processes: extra.pgid === undefined ? [] : [ProcessRecord.make({
      path: "root", host: "local", pid: extra.pgid, pgid: extra.pgid, start_time: 1, argv: ["sleep", "1"],
      identity: { host: "local", pid: extra.pgid, pgid: extra.pgid, startTime: 1 }
    })],
    created_at: createdAt,
    updated_at: createdAt,
    ended_at: extra.endedAt ?? null
  })

const snapshotOf = (runs: ReadonlyArray<RunInfo>, extra: Partial<Snapshot> = {}): Snapshot => ({ ...emptySnapshot(100_000, "session cli"), runs, ...extra })

const press = (state: TopState, ...keys: ReadonlyArray<Key>) =>
  keys.reduce<{ state: TopState; actions: Array<string> }>((acc, key) => {
    const [next, action] = update(acc.state, key)
    return { state: next, actions: [...acc.actions, action._tag] }
  }, { state, actions: [] })

const c = (char: string): Key => ({ char })

describe("top Model", () => {
  const runs = [
    run("old-done", "done", 1_000, { endedAt: 5_000 }),
    run("live-a", "running", 10_000, { active: 2 }),
    run("killed", "killed", 2_000, { endedAt: 90_000 }),
    run("live-b", "running", 50_000)
  ]

  it("lists live runs first (newest first), then ended ones (latest ended first)", () => {
    expect(visibleRuns(initialState(snapshotOf(runs))).map((r) => r.id)).toEqual(["live-b", "live-a", "killed", "old-done"])
  })

  it("shows ▶ per active branch, ▷ for an idle live run, nothing for an ended one", () => {
    expect(activity(runs[1]!)).toBe("▶▶")
    expect(activity(runs[3]!)).toBe("▷")
    expect(activity(runs[2]!)).toBe("")
  })

  it("j/k and arrows move the selection, which follows the run across refreshes", () => {
    const s0 = initialState(snapshotOf(runs))
    const { state } = press(s0, c("j"), "down", c("k"))
    expect(state.selected).toBe("live-a")
    // A new run appears above: the selection stays on live-a.
    const refreshed = withSnapshot(state, snapshotOf([...runs, run("newest", "running", 99_000)]))
    const lines = frame(refreshed, { width: 200, keys: true })
    expect(lines.find((l) => l.startsWith(">"))).toContain("live-a")
  })

  it("K asks first; y kills the selected run, anything else cancels; an ended run is refused", () => {
    const s0 = initialState(snapshotOf(runs))
    const asked = press(s0, c("K"))
    expect(asked.state.mode).toEqual({ _tag: "confirm-kill", run: "live-b" })
    expect(frame(asked.state, { width: 200, keys: true }).at(-1)).toBe("kill run:live-b? y = kill, any other key = cancel")
    expect(update(asked.state, c("y"))[1]).toEqual({ _tag: "kill", run: "live-b" })
    expect(press(asked.state, c("n")).actions).toEqual(["none"])
    const ended = press(s0, "end", c("K"))
    expect(ended.state.mode._tag).toBe("browse")
    expect(ended.state.notice).toBe("run:old-done has already ended (done)")
  })

  it("/ filters by id, state, recipe or owner; Esc in the filter clears it", () => {
    const s0 = initialState(snapshotOf(runs))
    const typed = press(s0, c("/"), c("l"), c("i"), c("v"), c("e"), "enter")
    expect(visibleRuns(typed.state).map((r) => r.id)).toEqual(["live-b", "live-a"])
    expect(typed.actions).toEqual(["none", "none", "none", "none", "none", "none"])
    expect(visibleRuns(press(typed.state, c("/"), "escape").state)).toHaveLength(4)
    expect(visibleRuns(press(s0, c("/"), c("k"), c("i"), c("l"), c("l"), "enter").state).map((r) => r.id)).toEqual(["killed"])
  })

  it("Enter inspects, again cycles the views; l follows logs, Esc stops them; q quits", () => {
    const s0 = initialState(snapshotOf(runs))
    const [s1, a1] = update(s0, "enter")
    expect(a1).toEqual({ _tag: "inspect", run: "live-b", view: "status" })
    expect(update(s1, "enter")[1]).toEqual({ _tag: "inspect", run: "live-b", view: "tail" })
    const [s2, a2] = update(s0, c("l"))
    expect(a2).toEqual({ _tag: "logs", run: "live-b" })
    const s3 = withLogText(withLogText(s2, "live-b", "one\ntw"), "live-b", "o\n")
    expect(s3.panel).toEqual({ _tag: "logs", run: "live-b", lines: ["one", "two", ""] })
    expect(update(s3, "escape")[1]).toEqual({ _tag: "stop-logs" })
    // Enter over the logs panel inspects (the program stops the logs then).
    expect(update(s3, "enter")).toEqual([expect.objectContaining({ panel: { _tag: "inspect", run: "live-b", view: "status", text: "…" } }), { _tag: "inspect", run: "live-b", view: "status" }])
    expect(update(s0, c("q"))[1]).toEqual({ _tag: "quit" })
  })

  it("a fixed-height frame has exactly that many lines and keeps the selection in view", () => {
    const many = Array.from({ length: 200 }, (_, i) => run(`r${i}`, "running", i))
    const s = press(initialState(snapshotOf(many)), ...Array<Key>(150).fill("down")).state
    const lines = frame(s, { width: 100, height: 20, keys: true })
    expect(lines).toHaveLength(20)
    expect(lines.filter((l) => l.startsWith(">"))).toHaveLength(1)
    expect(lines.every((l) => l.length <= 100)).toBe(true)
  })

  it("rooms, queued inboxes and VMs get their sections", () => {
    const s = initialState(snapshotOf(runs, {
      rooms: [{ room: "room:live-a", members: [{ address: "run:live-a", status: "present" }, { address: "branch:live-a/b1", status: "present" }], latest: [{ from: "coordinator", type: "note.posted", summary: "round 2" }] }],
      inboxes: [{ address: "run:live-a", queued: 3 }, { address: "run:live-b", queued: 0 }],
      vms: [{ id: "vm1", state: "running", owner: "live-a" }]
    }))
    const text = frame(s, { width: 200 }).join("\n")
    expect(text).toContain("room:live-a  2 members  branches ▶b1")
    expect(text).toContain("coordinator note.posted: round 2")
    expect(text).toContain("run:live-a  queued=3")
    expect(text).not.toContain("run:live-b  queued")
    expect(text).toContain("vm:vm1  running  owner=live-a")
  })

  it("renders a 1,000-run frame and handles a key in well under 200 ms (a busy machine included)", () => {
    const many = Array.from({ length: 1000 }, (_, i) => run(`r${i}`, i % 10 === 0 ? "running" : "done", i, { endedAt: i + 5 }))
    const s = initialState(snapshotOf(many))
    const t0 = performance.now()
    const [s1] = update(s, "down")
    const lines = frame(s1, { width: 160, height: 50, keys: true })
    const ms = performance.now() - t0
    expect(lines).toHaveLength(50)
    expect(ms).toBeLessThan(200)
  })
})

describe("top ProcStats", () => {
  it("parses /proc/<pid>/stat with spaces and parentheses in the command name", () => {
    const line = "42 (my (odd) cmd) S 1 42 42 0 -1 4194560 100 0 0 0 30 12 0 0 20 0 1 0 12345 1000000 256 18446744073709551615"
    expect(parseStat(line)).toEqual({ pgid: 42, ticks: 42, rssPages: 256 })
  })

  it("CPU percent from two samples of the run's process groups; ended runs are left out", () => {
    const live = run("live", "running", 0, { pgid: 7 })
    const ended = run("gone", "done", 0, { pgid: 8, endedAt: 1 })
    const before = new Map([[7, { ticks: 100, rssPages: 10 }], [8, { ticks: 0, rssPages: 1 }]])
    const after = new Map([[7, { ticks: 150, rssPages: 20 }], [8, { ticks: 0, rssPages: 1 }]])
    const usage = usageOf([live, ended], before, after, 1000)
    expect(usage.get("live")).toEqual({ cpuPct: 50, rssBytes: 20 * 4096 })
    expect(usage.has("gone")).toBe(false)
    expect(usageOf([live], undefined, after, 0).get("live")?.cpuPct).toBe(0)
  })
})
