// `npm run demo`: the main job on real input, through the bundled CLI.
// 1. Runs the packaged repo-health recipe over this repository in the foreground.
// 2. Starts the daemon on a fresh TROUPE_HOME, spawns two actors (the repo-health pipeline and
//    a long-running ticker), lists and inspects them, kills the ticker, waits for the pipeline
//    and prints where its logs and artifacts are.
// 3. Messaging on the same daemon: spawns the room demo (examples/room-demo: three actors that
//    join room:room-demo, talk through the room and directly, and leave), waits until its
//    planner has made its control.fifo, sends it control.continue from here, waits for the run
//    and shows the room's roster, previews and status and the run's inbox (its communication
//    snapshot is one `inspect run:room-demo communication` away, as JSON); then stops the daemon.
import { spawnSync } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const bin = join(root, "dist/bin/troupe.js")
const home = process.env.TROUPE_DEMO_HOME ?? mkdtempSync(join(tmpdir(), "troupe-demo-"))
const env = { ...process.env, TROUPE_HOME: home, TROUPE_SESSION: "demo" }

const step = (title, args, { allow = [0] } = {}) => {
  process.stderr.write(`\n$ troupe ${args.join(" ")}    # ${title}\n`)
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, stdio: "inherit", env })
  if (!allow.includes(r.status)) {
    spawnSync(process.execPath, [bin, "daemon", "stop"], { env, stdio: "inherit" })
    process.exit(r.status ?? 1)
  }
}

process.stderr.write(
  "# troupe demo, in three parts:\n" +
    "#   1. a recipe: its plan as a tree, then a run in the foreground (repo-health over this repository)\n" +
    "#   2. actors: a daemon owns spawned runs; list, inspect, kill and wait for them\n" +
    "#   3. messaging: three actors talk in a room; then its roster, messages and an inbox\n" +
    "# Each step shows the command it runs after a `$`, with what it shows after the `#`.\n"
)

step("the plan of the pipeline (a tree; --json gives the leaves as JSON)", ["run", "repo-health", "--dry-run"])
step("run it in the foreground: a parallel fan-out over git, then a merge step", ["run", "repo-health", "top=5"])

process.stderr.write(`\n# Actors: TROUPE_HOME=${home}\n`)
step("start the daemon that owns the runs", ["daemon", "start"])
step("spawn the pipeline as an actor (a shorter report: top 3, HACK markers only)", ["spawn", "repo-health", "top=3", "markers=HACK", "--as", "health"])
step("spawn a long-running actor", ["spawn", "--template", "sh -c {script}", "script=while true; do date +%T; sleep 0.2; done", "--as", "ticker"])
step("list this session's runs", ["ps"])
step("inspect the ticker: state, pid, progress", ["inspect", "run:ticker"])
step("kill it: SIGTERM to its process group, grace, SIGKILL", ["kill", "run:ticker"])
step("wait for the pipeline: its report, and its exit code", ["wait", "run:health"])
step("where its logs and artifacts are", ["inspect", "run:health", "artifacts"])
step("every file of its state directory", ["inspect", "run:health", "files"])
step("the session's event stream (the pipeline's terminal event)", ["events"])

process.stderr.write("\n# Messaging: a room of three actors (examples/room-demo)\n")
step("spawn the room demo: planner, builder and reviewer join room:room-demo", ["spawn", "./examples/room-demo/room-demo.json", "--as", "room-demo"])
{
  // The planner makes {state_dir}/control.fifo (already open for reading) when it starts.
  process.stderr.write("\n$ troupe inspect run:room-demo mailbox --json    # poll until the planner's control.fifo exists\n")
  const json = (args) => {
    const r = spawnSync(process.execPath, [bin, ...args, "--json"], { cwd: root, env, encoding: "utf8" })
    return r.status === 0 ? JSON.parse(r.stdout).data : { error: r.stderr.trim() }
  }
  const fail = (message) => {
    process.stderr.write(`${message}\n`)
    spawnSync(process.execPath, [bin, "daemon", "stop"], { env, stdio: "inherit" })
    process.exit(1)
  }
  const deadline = Date.now() + 60_000
  let fifo = null
  while ((fifo = json(["inspect", "run:room-demo", "mailbox"]).fifo ?? null) === null) {
    const run = json(["inspect", "run:room-demo"])
    if (run.state !== "starting" && run.state !== "running") fail(`run:room-demo is ${run.state ?? run.error} before its planner created control.fifo`)
    if (Date.now() > deadline) fail("the room demo's planner did not create its control.fifo within 60 s")
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200)
  }
  process.stderr.write(`fifo=${fifo}\n`)
}
step("tell the run to continue: its inbox, and a line on its FIFO the planner reads", ["message", "to=run:room-demo", "type=control.continue", "body=continue"])
step("wait for the room demo: each actor's log", ["wait", "run:room-demo", "--timeout", "120s"])
step("who was in the room (all three actors left)", ["inspect", "room:room-demo", "roster"])
step("what was said in it", ["inspect", "room:room-demo", "previews"])
step("the room's counters", ["inspect", "room:room-demo", "status"])
step("the run's inbox: control.continue, delivered as a line on its FIFO (consumer=fifo)", ["inspect", "run:room-demo", "inbox"])
step("stop the daemon", ["daemon", "stop"])
