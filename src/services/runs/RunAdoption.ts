/**
 * Startup adoption (docs/agents.md "Agents on VMs"): an `agent` run whose Pi runs on a VM under
 * the setsid supervisor outlives its owner. When a restarted owner finds such a run still
 * `starting`/`running` in the store, with an `agent.json` that names its VM agent (`remote`) and
 * the mark its events are folded up to (`stream`), it re-attaches to it instead of reaping it:
 * the run keeps its id, owner and generation, its session reads the VM's event file after the
 * mark (nothing lost, nothing folded twice), and its next settled task reaches the owner as
 * usual. Everything else is left to `reapStale` (RunReaping.ts).
 */
import type { FileSystem, Path } from "@effect/platform"
import { Deferred, Effect, Option } from "effect"
import type { EnvelopeBody } from "../../domain/Envelope.js"
import type { ActorsError, RunInfo } from "../../domain/Run.js"
import { isAgentSnapshot, readAgentStatus } from "./AgentViews.js"
import type { Entries, Entry, RunStore } from "./RunEntry.js"
import type { RunKind } from "./RunKind.js"
import type { Started } from "./RunLifecycle.js"

export interface AdoptionDeps {
  readonly store: RunStore
  readonly kinds: ReadonlyMap<string, RunKind>
  readonly fs: FileSystem.FileSystem
  readonly path: Path.Path
  readonly entries: Entries
  readonly userHome: string
  /** The environment every run gets besides its own (`TROUPE_SOCKET`, `TROUPE_HOME`). */
  readonly env: Readonly<Record<string, string>>
  /** Runs the run's fiber (the Supervisor's `FiberMap`). */
  readonly supervise: (id: string, started: Started) => Effect.Effect<void>
  readonly post: (id: string, parent: string | undefined) => (type: string, summary: string, body: EnvelopeBody) => Effect.Effect<void>
}

/** Re-attaches what can be (see the module doc); returns the ids adopted. Never fails (a run that cannot be adopted is left to reaping). */
export const adoptRemoteAgents = (deps: AdoptionDeps) =>
  Effect.gen(function* () {
    const adopted = new Set<string>()
    const kind = deps.kinds.get("agent")
    if (kind === undefined) return adopted
    const active = yield* deps.store.activeRuns().pipe(Effect.orElseSucceed((): ReadonlyArray<RunInfo> => []))
    for (const info of active) {
      const stored = yield* deps.store.getRun(info.id).pipe(Effect.option, Effect.map(Option.flatten))
      if (Option.isNone(stored) || !isAgentSnapshot(stored.value.snapshot)) continue
      const status = yield* readAgentStatus(deps.fs, deps.path, info.state_dir)
      if (Option.isNone(status) || status.value.remote === undefined || status.value.state === "exited") continue
      const snapshot = stored.value.snapshot as { readonly task?: string; readonly model?: string; readonly pi?: string }
      const prepared = yield* kind.prepare({
        id: info.id,
        recipe: undefined,
        template: undefined,
        values: {},
        cwd: info.cwd,
        home: deps.userHome,
        on: `vm:${status.value.remote.vm}`,
        mailbox: undefined,
        agent: { task: snapshot.task, model: snapshot.model, pi: snapshot.pi },
        resume: status.value
      }).pipe(Effect.option)
      if (Option.isNone(prepared)) continue
      const entry: Entry = {
        id: info.id,
        stateDir: info.state_dir,
        parent: info.parent,
        mailbox: undefined,
        owner: info.owner,
        generation: info.generation,
        intent: undefined,
        finished: false,
        done: yield* Deferred.make<RunInfo, ActorsError>(),
        progress: { phase: "running", active: 0, completed: 0, failures: [] },
        prepared: prepared.value
      }
      deps.entries.set(info.id, entry)
      // The supervisor is recorded again as the generation attaches.
      yield* deps.store.clearProcesses(info.generation).pipe(Effect.ignore)
      const stateDir = info.state_dir
      yield* deps.supervise(info.id, {
        entry,
        policy: info.restart,
        stateDir,
        env: { ...deps.env, TROUPE_RUN: info.id, TROUPE_ADDRESS: `run:${info.id}` },
        logs: { stdout: deps.path.join(stateDir, "stdout.log"), stderr: deps.path.join(stateDir, "stderr.log") },
        spillDir: deps.path.join(stateDir, "spill"),
        post: deps.post(info.id, info.parent)
      })
      adopted.add(info.id)
      yield* Effect.logInfo(`Supervisor: re-attached run:${info.id} to its agent on VM ${status.value.remote.vm} (${status.value.stream?.events ?? 0} events folded)`)
    }
    return adopted
  })
