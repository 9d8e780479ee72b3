/**
 * Swarm and lieutenant test helpers: a `pi` wrapper that is FakePi in a mode chosen per run
 * (by `TROUPE_RUN`), a temporary git repository, an in-process VM client over `Vms` (what the
 * daemon's `VmCreate` does: a run-owned VM is held until its run ends), a runtime whose agent
 * runs reach a FakeFleet's VMs over SSH (`AgentVms`), and an `Actors` that can fail one spawn
 * (or run VM-placed agents locally, for tests about VM bookkeeping only).
 */
import { Context, Effect, Layer } from "effect"
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Caller } from "../../src/domain/Run.js"
import { ActorsError } from "../../src/domain/Run.js"
import type { ActorsShape } from "../../src/services/Actors.js"
import * as Runtime from "../../src/layers/Runtime.js"
import { makeLocal } from "../../src/services/Actors.js"
import { Hosts } from "../../src/services/Hosts.js"
import { AgentVms } from "../../src/services/runs/AgentVms.js"
import { Ssh } from "../../src/services/Ssh.js"
import { Supervisor } from "../../src/services/Supervisor.js"
import type { SwarmVms } from "../../src/services/Swarms.js"
import { VersConfig } from "../../src/services/VersConfig.js"
import { Vms } from "../../src/services/Vms.js"
import * as FakeFleet from "../../src/testing/FakeFleet.js"
import { fakePiProgram } from "../../src/testing/FakePi.js"
import { run } from "./exec.js"
import { testRuntime } from "./runtime.js"
import { sshLayerOf } from "./vmHosts.js"

const bin = mkdtempSync(join(tmpdir(), "troupe-swarm-pi-"))

/**
 * A `pi` that is FakePi: `normal` unless the run id (`TROUPE_RUN`) ends with a key of `modes`
 * (e.g. `{ "-w2": "crash" }`); slow steps of `delayMs`.
 */
export const fakePiFor = (name: string, modes: Readonly<Record<string, string>> = {}, delayMs = 40) => {
  const program = fakePiProgram()
  if (program === undefined) throw new Error("FakePi is not built: run npm run build")
  const file = join(bin, `pi-${name}`)
  const cases = Object.entries(modes).map(([suffix, mode]) => `  *${suffix}) mode=${mode} ;;\n`).join("")
  writeFileSync(
    file,
    `#!/bin/sh\nmode=normal\ncase "$TROUPE_RUN" in\n${cases}esac\nFAKE_PI_DELAY_MS=${delayMs} exec "${process.execPath}" "${program}" "$@" --fake-mode $mode\n`
  )
  chmodSync(file, 0o755)
  return file
}

const gitEnv = { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.com", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.com", GIT_CONFIG_GLOBAL: "/dev/null" }

/** A fresh git repository with one commit. */
export const gitRepo = Effect.promise(async () => {
  const repo = mkdtempSync(join(tmpdir(), "troupe-swarm-repo-"))
  for (const args of [["init", "-q", "-b", "main", repo], ["-C", repo, "commit", "-q", "--allow-empty", "-m", "base"]]) {
    const r = await run("git", args, { env: gitEnv })
    if (r.code !== 0) throw new Error(`git ${args.join(" ")} failed: ${r.stderr}`)
  }
  return repo
})

/** The worktrees git lists for `repo` (the main one included). */
export const worktreesOf = (repo: string) =>
  Effect.promise(async () => (await run("git", ["-C", repo, "worktree", "list", "--porcelain"], { env: gitEnv })).stdout.split("\n").filter((l) => l.startsWith("worktree ")))

/** The daemon's `VmCreate` semantics in-process: with `run`, the VM is held until that run ends. */
export const inProcessVms = (vms: Vms["Type"], supervisor: Supervisor, caller: Caller): SwarmVms => ({
  create: (req) => {
    const how = req.how._tag === "restore"
      ? { _tag: "restore" as const, commitId: req.how.commit_id }
      : req.how._tag === "branch"
      ? { _tag: "branch" as const, vmId: req.how.vm_id }
      : { _tag: "root" as const }
    if (req.run === undefined) return vms.create(caller, how, { wait: req.wait })
    const ref = req.run
    return Effect.flatMap(supervisor.get(caller, ref), (r) =>
      vms.hold({ session: r.info.owner, run: r.info.id, keep: req.keep }, how, supervisor.wait(caller, r.info.id), { wait: req.wait }))
  },
  delete: (vmId) => vms.delete(caller, vmId),
  setState: (vmId, state) => vms.setState(caller, vmId, state)
})

/**
 * `actors` whose spawn of run `failOn` fails `internal`; with `local`, agent spawns also drop
 * `on` (a VM-placed agent's Pi runs here). Counts the agent spawns.
 */
export const agentsWith = (actors: ActorsShape, options: { readonly failOn?: string | undefined; readonly local?: boolean | undefined } = {}): ActorsShape & { readonly spawned: Array<string> } => {
  const spawned: Array<string> = []
  return {
    ...actors,
    spawned,
    spawn: (input) => {
      if (input.kind !== "agent") return actors.spawn(input)
      if (input.as === options.failOn) return Effect.fail(new ActorsError({ reason: "internal", message: `spawn of ${options.failOn} failed on purpose` }))
      spawned.push(input.as ?? "")
      if (options.local !== true) return actors.spawn(input)
      const { on: _on, ...rest } = input
      return actors.spawn(rest)
    }
  }
}

/** {@link agentsWith} `local`: VM-placed agents run here. */
export const localAgents = (actors: ActorsShape, failOn?: string) => agentsWith(actors, { failOn, local: true })

/** Where FakeVm agents keep their env file (FakeVm does not chroot: inside the VM's root). */
export const agentEnvFile = ".troupe/etc/troupe-agent.sh"

/**
 * A FakeFleet (its API side as `fleet`: ledger, VMs), the runtime (FakePi-ready environment;
 * agent runs on `vm:<id>` reach the fleet's VMs over SSH), `Vms`, a commit to restore and an
 * `Actors` of `caller`, all in the test's scope. `agentsOnVms: false` wraps the `Actors` with
 * {@link localAgents} (a VM-placed agent's Pi runs here).
 */
export const vmSetup = (caller: Caller, options: { readonly agentsOnVms?: boolean | undefined } = {}) =>
  Effect.gen(function* () {
    const started = yield* FakeFleet.make({ bootMs: 0 })
    const fleet = started.vers
    const agentVms = Layer.effect(AgentVms, Effect.map(Ssh, (ssh) => ({ ssh: Effect.succeed(ssh), envFile: agentEnvFile }))).pipe(Layer.provide(sshLayerOf(started)), Layer.orDie)
    const rt = yield* Layer.build(testRuntime({ config: { environment: process.env }, hosts: Layer.merge(Hosts.layer(), agentVms) }))
    const versConfig = VersConfig.layerFrom({ baseUrl: fleet.baseUrl, apiKey: fleet.apiKey })
    const ctx = yield* Layer.build(Runtime.vms({ versConfig }).pipe(Layer.provide(Layer.succeedContext(rt))))
    const vms = Context.get(ctx, Vms)
    const supervisor = Context.get(rt, Supervisor)
    const base = yield* vms.create(caller, { _tag: "root" })
    const { commit_id } = yield* vms.commit(caller, base.vm_id)
    yield* vms.delete(caller, base.vm_id)
    const local = yield* makeLocal(caller).pipe(Effect.provide(rt))
    const actors = options.agentsOnVms === true ? agentsWith(local) : localAgents(local)
    return { fleet, ssh: started.ssh, vms, supervisor, actors, commit: commit_id, swarmVms: inProcessVms(vms, supervisor, caller), rt }
  })
