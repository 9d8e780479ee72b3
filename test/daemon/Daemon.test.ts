/**
 * The daemon as users meet it: the built `troupe` binary (npm test builds first) against a
 * fresh `TROUPE_HOME`, with the daemon auto-started in the background. Covers the issue's
 * "done when" sequence, the socket's modes, SIGTERM, SIGKILL + restart (reaping by verified
 * identity) and crash consistency of the store.
 */
import { spawn } from "node:child_process"
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import Database from "better-sqlite3"
import { pollUntil, troupeBin, troupeBinPath } from "../support/exec.js"
import { scratch } from "../support/graph.js"
import { alive, daemonPid, pidsWithEnv } from "../support/procs.js"

const bin = troupeBinPath
const homes: Array<string> = []

/** `troupe <args>` against `home`, as a child process (the test worker's event loop stays free). */
const troupe = (home: string, args: ReadonlyArray<string>, extraEnv: Record<string, string> = {}) =>
  troupeBin(args, {
    env: { ...process.env, TROUPE_HOME: home, NO_COLOR: "1", TROUPE_SESSION: "", TROUPE_TOKEN: "", TROUPE_KILL_GRACE_MS: "300", ...extraEnv },
    timeout: 60_000
  })

const freshHome = () => {
  const home = join(scratch("troupe-daemon-"), "home")
  homes.push(home)
  return home
}



const until = async (check: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (check()) return true
    await new Promise((r) => setTimeout(r, 25))
  }
  return check()
}

afterEach(async () => {
  for (const home of homes.splice(0)) {
    await troupe(home, ["daemon", "stop"])
  }
})

describe("troupe daemon (built binary)", () => {
  it("spawn --as nap && ps && kill from a fresh home: no daemon beforehand, no sleep afterwards", async () => {
    const home = freshHome()
    const spawned = await troupe(home, ["spawn", "--template", "sleep 30", "--as", "nap"])
    expect(spawned.stderr).toBe("")
    expect(spawned.code).toBe(0)
    expect(spawned.stdout).toContain("run:nap")
    const ps = await troupe(home, ["ps"])
    expect(ps.code).toBe(0)
    expect(ps.stdout).toMatch(/run=nap status=(starting|running)/)
    expect(pidsWithEnv("TROUPE_RUN", "nap").length).toBeGreaterThan(0)
    const killed = await troupe(home, ["kill", "run:nap"])
    expect(killed.stdout.trim()).toBe("run:nap killed")
    expect(pidsWithEnv("TROUPE_RUN", "nap")).toEqual([])
    // Socket 0600, home 0700.
    expect(statSync(join(home, "troupe.sock")).mode & 0o777).toBe(0o600)
    expect(statSync(home).mode & 0o777).toBe(0o700)
    const json = JSON.parse((await troupe(home, ["ps", "--json"])).stdout) as Array<{ id: string; state: string }>
    expect(json.map((r) => [r.id, r.state])).toEqual([["nap", "killed"]])
  })

  it("daemon.pid and daemon.log are 0600, also when an older daemon.log was made by the umask", async () => {
    const home = freshHome()
    mkdirSync(home, { recursive: true, mode: 0o700 })
    writeFileSync(join(home, "daemon.log"), "older log\n", { mode: 0o644 })
    chmodSync(join(home, "daemon.log"), 0o644)
    expect(statSync(join(home, "daemon.log")).mode & 0o777).toBe(0o644)
    expect((await troupe(home, ["ps"])).code).toBe(0)
    expect(statSync(join(home, "daemon.log")).mode & 0o777).toBe(0o600)
    expect(statSync(join(home, "daemon.pid")).mode & 0o777).toBe(0o600)
    // daemon status says how runs are contained (issue 18: documented in effect).
    const status = await troupe(home, ["daemon", "status"])
    expect(status.stdout).toContain("containment=process-group+marker local_host=local")
    expect(JSON.parse((await troupe(home, ["daemon", "status", "--json"])).stdout)).toMatchObject({ running: true, containment: "process-group+marker", local_host: "local" })
  })

  it("wait returns the run's exit code; events --follow shows the terminal event", async () => {
    const home = freshHome()
    expect((await troupe(home, ["daemon", "start"])).code).toBe(0)
    const follower = spawn(process.execPath, [bin, "events", "--follow"], { env: { ...process.env, TROUPE_HOME: home, TROUPE_SESSION: "", TROUPE_KILL_GRACE_MS: "300" } })
    let followed = ""
    follower.stdout.on("data", (b: Buffer) => (followed += b.toString()))
    await new Promise((r) => setTimeout(r, 300))
    await troupe(home, ["spawn", "--template", "sh -c {s}", "s=echo partial; exit 5", "--as", "five"])
    const waited = await troupe(home, ["wait", "run:five"])
    expect(waited.code).toBe(5)
    expect(waited.stdout).toBe("partial\n")
    expect(await until(() => followed.includes("run.failed run:five"))).toBe(true)
    follower.kill()
    const timeout = await troupe(home, ["spawn", "--template", "sleep 30", "--as", "long"])
    expect(timeout.code).toBe(0)
    expect((await troupe(home, ["wait", "run:long", "--timeout", "200ms"])).code).toBe(124)
    expect((await troupe(home, ["message", "to=run:long", "type=control.cancel"])).stdout.trim()).toBe("run:long cancelled")
  })

  it("another session cannot see or kill the run; --all can", async () => {
    const home = freshHome()
    await troupe(home, ["spawn", "--template", "sleep 30", "--as", "mine", "--session", "alice"])
    expect((await troupe(home, ["ps", "--session", "bob"])).stdout.trim()).toBe("no runs")
    const denied = await troupe(home, ["kill", "run:mine", "--session", "bob"])
    expect(denied.code).toBe(1)
    expect(denied.stderr).toContain("belongs to another session")
    expect((await troupe(home, ["ps", "--all"])).stdout).toContain("run=mine")
    expect((await troupe(home, ["kill", "run:mine", "--all"])).stdout.trim()).toBe("run:mine killed")
  })

  it("inspect recipes doctor --id goes over the socket: that recipe's files and recipes doctor warnings", async () => {
    const home = freshHome()
    const env = { TROUPE_RECIPES: join(process.cwd(), "test/fixtures/pi-actors-0.17.1-shapes") }
    const one = await troupe(home, ["inspect", "recipes", "doctor", "--id", "ask-model"], env)
    expect(one.stderr).toBe("")
    expect(one.stdout).toMatch(/^id=ask-model problems=0 warnings=1 recommendations=1\nid=ask-model status=active source=user async=true calls=0\n  warning: default "unused_knob" is not used by any placeholder\n/)
    const json = JSON.parse((await troupe(home, ["inspect", "recipes", "doctor", "--id", "bound-values", "--json"], env)).stdout) as { data: { warnings: ReadonlyArray<{ warnings: ReadonlyArray<string> }> } }
    expect(json.data.warnings.map((w) => w.warnings.length)).toEqual([4])
    const missing = await troupe(home, ["inspect", "recipes", "doctor", "--id", "nope"], env)
    expect(missing.code).not.toBe(0)
    expect(missing.stderr).toContain("no recipe file is named nope.json in the user root or the packaged library")
  })

  it("daemon SIGTERM kills the runs' process groups and removes the socket", async () => {
    const home = freshHome()
    await troupe(home, ["spawn", "--template", "sh -c {s}", "s=trap '' TERM; (trap '' TERM; sleep 30) & sleep 30; wait", "--as", "stubborn"])
    expect(await until(() => pidsWithEnv("TROUPE_RUN", "stubborn").length >= 3)).toBe(true)
    const pid = daemonPid(home)
    process.kill(pid, "SIGTERM")
    expect(await until(() => !alive(pid), 20_000)).toBe(true)
    expect(pidsWithEnv("TROUPE_RUN", "stubborn")).toEqual([])
    const status = await troupe(home, ["daemon", "status"])
    expect(status.code).toBe(3)
    // The next client auto-starts a daemon that shows the run as killed by the owner's stop.
    const view = await troupe(home, ["inspect", "run:stubborn"])
    expect(view.stdout).toContain("status=killed")
  })

  it("daemon SIGKILL then restart: leftover groups are reaped by identity and the run is lost", async () => {
    const home = freshHome()
    await troupe(home, ["spawn", "--template", "sh -c {s}", "s=trap '' TERM; (trap '' TERM; sleep 30) & sleep 30; wait", "--as", "orphan"])
    expect(await until(() => pidsWithEnv("TROUPE_RUN", "orphan").length >= 3)).toBe(true)
    // The leaf's identity is in the store (what reaping reads) once `ps` shows its pid.
    expect(await pollUntil(async () => /run=orphan .*pid=\d/.test((await troupe(home, ["ps"])).stdout))).toBe(true)
    // A bystander whose pid we plant in the store with a wrong identity must survive reaping.
    const bystander = spawn("sleep", ["30"], { stdio: "ignore" })
    const pid = daemonPid(home)
    process.kill(pid, "SIGKILL")
    expect(await until(() => !alive(pid))).toBe(true)
    // The actor processes survive their owner's SIGKILL…
    expect(pidsWithEnv("TROUPE_RUN", "orphan").length).toBeGreaterThan(0)
    const db = new Database(join(home, "troupe.db"))
    const gen = (db.prepare("SELECT generation FROM runs WHERE id = 'orphan'").get() as { generation: string }).generation
    db.prepare("INSERT INTO processes (generation, path, attempt, pid, pgid, start_time, marker, argv) VALUES (?, 'fake', 1, ?, ?, 1, 'not-its-marker', '[]')")
      .run(gen, bystander.pid, bystander.pid)
    db.close()
    // …until the next daemon reaps them.
    const ps = await troupe(home, ["ps"])
    expect(ps.stdout).toContain("run=orphan status=lost")
    expect(pidsWithEnv("TROUPE_RUN", "orphan")).toEqual([])
    expect(alive(bystander.pid!)).toBe(true)
    bystander.kill()
    const events = await troupe(home, ["events"])
    expect(events.stdout).toContain("run.lost run:orphan")
  })

  it("leaves on the exec broker (TROUPE_LOCAL_HOST=broker): daemon and broker SIGKILLed together, the next daemon reaps them through a fresh broker", async () => {
    const home = freshHome()
    const broker = { TROUPE_LOCAL_HOST: "broker" }
    await troupe(home, ["spawn", "--template", "sh -c {s}", "s=trap '' TERM; (trap '' TERM; sleep 30) & sleep 30; wait", "--as", "brokered"], broker)
    expect(await until(() => pidsWithEnv("TROUPE_RUN", "brokered").length >= 3)).toBe(true)
    // The leaf's identity is in the store (what reaping reads) once `ps` shows its pid.
    expect(await pollUntil(async () => /run=brokered .*pid=\d/.test((await troupe(home, ["ps"], broker)).stdout))).toBe(true)
    const pid = daemonPid(home)
    // The broker is the daemon's child in the daemon's process group; the leaves have their own.
    const brokerPids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter((p) => p !== "").map(Number)
    expect(brokerPids.some((p) => readFileSync(`/proc/${p}/cmdline`, "latin1").includes("exec-broker"))).toBe(true)
    process.kill(-pid, "SIGKILL")
    expect(await until(() => !alive(pid) && brokerPids.every((p) => !alive(p)))).toBe(true)
    expect(pidsWithEnv("TROUPE_RUN", "brokered").length).toBeGreaterThan(0)
    const db = new Database(join(home, "troupe.db"))
    const hosts = (db.prepare("SELECT p.host FROM processes p JOIN runs r ON r.generation = p.generation WHERE r.id = 'brokered'").all() as Array<{ host: string }>).map((r) => r.host)
    db.close()
    expect(hosts).toEqual(["broker"])
    const ps = await troupe(home, ["ps"], broker)
    expect(ps.stdout).toContain("run=brokered status=lost")
    expect(await until(() => pidsWithEnv("TROUPE_RUN", "brokered").length === 0)).toBe(true)
  })

  it("an actor process acts as its run through TROUPE_TOKEN: itself and its children only; a forged token is refused", async () => {
    const home = freshHome()
    await troupe(home, ["spawn", "--template", "sleep 30", "--as", "sibling", "--session", "alice"])
    // The actor inspects itself, spawns a child, lists what it may see, and tries its sibling.
    const script = [
      `node ${bin} inspect run:self`,
      `node ${bin} spawn --template 'sleep 30' --as child >/dev/null`,
      `node ${bin} ps`,
      `node ${bin} kill run:child`,
      `node ${bin} kill run:sibling || echo sibling-refused`
    ].join(" && ")
    await troupe(home, ["spawn", "--template", "sh -c {s}", `s=${script}`, "--as", "self", "--session", "alice"])
    const waited = await troupe(home, ["wait", "run:self", "--session", "alice"])
    expect(waited.code).toBe(0)
    expect(waited.stdout).toContain("run=self status=running")
    expect(waited.stdout).toMatch(/run=child status=running .* owner=alice/)
    expect(waited.stdout).not.toContain("run=sibling")
    expect(waited.stdout).toContain("run:child killed")
    expect(waited.stdout).toContain("sibling-refused")
    const child = JSON.parse((await troupe(home, ["inspect", "run:child", "--json", "--session", "alice"])).stdout) as { data: { parent: string; owner: string } }
    expect(child.data).toMatchObject({ parent: "self", owner: "alice" })
    const forged = await troupe(home, ["ps"], { TROUPE_TOKEN: "0".repeat(48) })
    expect(forged.code).toBe(1)
    expect(forged.stderr).toContain("unknown run token")
    await troupe(home, ["kill", "run:sibling", "--session", "alice"])
  })

  it("an idle daemon exits by itself and removes its socket", async () => {
    const home = freshHome()
    // 3 s of idleness: long enough that the pid file is still there when this test reads it,
    // even on a loaded machine (with 400 ms the daemon could be gone before the read).
    expect((await troupe(home, ["daemon", "start", "--idle-ms", "3000"])).code).toBe(0)
    const pid = daemonPid(home)
    expect(await until(() => !alive(pid), 15_000)).toBe(true)
    expect(existsSync(join(home, "troupe.sock"))).toBe(false)
  })

  it("kill -9 during a burst of spawns: the store opens cleanly and every acknowledged spawn is there", async () => {
    const home = freshHome()
    expect((await troupe(home, ["daemon", "start"])).code).toBe(0)
    const acknowledged: Array<string> = []
    let crashed = false
    const burst = Array.from({ length: 4 }, (_, w) =>
      new Promise<void>((resolve) => {
        let i = 0
        const next = () => {
          const id = `b${w}-${i++}`
          const child = spawn(process.execPath, [bin, "spawn", "--template", "true", "--as", id], {
            env: { ...process.env, TROUPE_HOME: home, TROUPE_SESSION: "", TROUPE_KILL_GRACE_MS: "300" },
            stdio: ["ignore", "pipe", "ignore"]
          })
          let out = ""
          child.stdout.on("data", (b: Buffer) => (out += b.toString()))
          child.on("exit", (code) => {
            if (code === 0 && out.includes(`run:${id}`)) acknowledged.push(id)
            if (!crashed && i < 200) next()
            else resolve()
          })
        }
        next()
      })
    )
    // Crash mid-burst, once the daemon has acknowledged some spawns (a fixed delay could fire
    // before the first one on a busy machine).
    expect(await until(() => acknowledged.length >= 8, 60_000)).toBe(true)
    const pid = daemonPid(home)
    process.kill(pid, "SIGKILL")
    crashed = true
    await Promise.all(burst)
    expect(acknowledged.length).toBeGreaterThan(0)
    expect(await until(() => !alive(pid))).toBe(true)
    // In-flight clients may have auto-started new daemons, and one that lost the start race
    // may still be starting when the winner stops: stop until no process of this home is left.
    const leftovers = () => pidsWithEnv("TROUPE_HOME", home)
    for (let round = 0; round < 10 && leftovers().length > 0; round++) {
      await troupe(home, ["daemon", "stop"])
      await until(() => leftovers().length === 0, 5_000)
    }
    expect(leftovers()).toEqual([])
    const db = new Database(join(home, "troupe.db"))
    expect((db.prepare("PRAGMA integrity_check").get() as { integrity_check: string }).integrity_check).toBe("ok")
    const ids = new Set((db.prepare("SELECT id FROM runs").all() as Array<{ id: string }>).map((r) => r.id))
    db.close()
    for (const id of acknowledged) expect(ids.has(id)).toBe(true)
    // And a new daemon starts on it.
    expect((await troupe(home, ["ps"])).code).toBe(0)
  })
})
