/**
 * Who may see and act on a run (SPEC-runtime §3): exact-owner access, fail closed. A session
 * sees its own runs; an actor process (run token) acts on its own run and the runs it spawned;
 * the operator (`caller.all`) sees every run. Not-found and forbidden read the same to a
 * stranger. pi-actors had no owners (one user, one directory); this is troupe's.
 */
import type { RunStore } from "./RunEntry.js"
import { Effect, Option } from "effect"
import { createHash } from "node:crypto"
import { ActorsError, type Caller, type RunInfo, runIdOf } from "../../domain/Run.js"
import type { Store, StoredRun } from "../Store.js"
import type { MailboxContract } from "../delivery/DeliveryAdapter.js"
import type { Entries, RunBrief } from "./RunEntry.js"
import type { RunKind } from "./RunKind.js"

/** sha256 (hex) of a run token: the store keeps only this. */
export const tokenHash = (token: string) => createHash("sha256").update(token).digest("hex")

/** An actor process (run token) acts on its own run and on the runs it spawned. */
export const mayTouch = (caller: Caller, info: RunInfo) =>
  info.owner === caller.session && (info.id === caller.run || info.parent === caller.run)

/** A caller without a session (and not the operator) may do nothing. */
export const requireSession = (caller: Caller) =>
  caller.all || caller.session !== ""
    ? Effect.void
    : Effect.fail(new ActorsError({ reason: "forbidden", message: "a session id is required" }))

const notFound = (id: string) => new ActorsError({ reason: "not_found", message: `No run ${id}. Use troupe ps to list runs.` })

/** Why `caller` may not act on `run` (`forbidden`), or undefined when it may. */
const refusal = (caller: Caller, run: { readonly id: string; readonly owner: string; readonly parent?: string | undefined }) =>
  caller.run !== undefined
    ? run.owner === caller.session && (run.id === caller.run || run.parent === caller.run)
      ? undefined
      : new ActorsError({ reason: "forbidden", message: `run:${caller.run} may only act on itself and the runs it spawned` })
    : caller.all || (caller.session !== "" && run.owner === caller.session)
      ? undefined
      : new ActorsError({ reason: "forbidden", message: `run:${run.id} belongs to another session` })

/** Exact-owner access, fail closed; not-found and forbidden read the same to a stranger. */
export const authorize = (caller: Caller, run: StoredRun) => {
  const refused = refusal(caller, run.info)
  return refused === undefined ? Effect.succeed(run) : Effect.fail(refused)
}

/** Run lookups with access checks over the store and the active runs. */
export const makeRunAccess = (store: RunStore, entries: Entries, kindOf: (name: string | undefined) => RunKind) => {
  const mustGet = (id: string) =>
    Effect.flatMap(store.getRun(id), Option.match({ onNone: () => Effect.fail(notFound(`run:${id}`)), onSome: Effect.succeed }))

  /**
   * Reads a run the caller may see.
   * @fails ActorsError `not_found` (unknown id), `forbidden` (another session's run).
   */
  const get = Effect.fn("Supervisor.get")(function* (caller: Caller, ref: string) {
    return yield* authorize(caller, yield* mustGet(runIdOf(ref)))
  })

  /**
   * What messaging needs of a run the caller may see — owner, parent, state, state
   * directory, generation, mailbox contract, delivery registration — from memory for an
   * active run (no store read, no record decoding: this is on every message's path), else
   * from the store.
   * @fails ActorsError `not_found`, `forbidden` (as {@link get}).
   */
  const brief = (caller: Caller, ref: string): Effect.Effect<RunBrief, ActorsError> =>
    Effect.suspend(() => {
      const id = runIdOf(ref)
      const e = entries.get(id)
      if (e === undefined || e.finished) {
        return Effect.map(get(caller, ref), (r): RunBrief => {
          const snapshot = r.snapshot as { mailbox?: unknown; kind?: string } | null
          const mailbox = snapshot?.mailbox
          return {
            id: r.info.id,
            owner: r.info.owner,
            parent: r.info.parent,
            state: r.info.state,
            stateDir: r.info.state_dir,
            generation: r.info.generation,
            mailbox,
            delivery: kindOf(snapshot?.kind).delivery(mailbox as MailboxContract | undefined)
          }
        })
      }
      const refused = refusal(caller, e)
      if (refused !== undefined) return Effect.fail(refused)
      return Effect.succeed({
        id,
        owner: e.owner,
        parent: e.parent,
        state: e.progress.phase === "starting" ? "starting" : "running",
        stateDir: e.stateDir,
        generation: e.generation,
        mailbox: e.mailbox,
        delivery: e.prepared.delivery
      })
    })

  /** Resolves an actor process's run token to the caller it acts as. */
  const callerForToken = Effect.fn("Supervisor.callerForToken")(function* (token: string) {
    const found = yield* store.runByToken(tokenHash(token))
    return Option.map(found, (r): Caller => ({ session: r.owner, all: false, run: r.id }))
  })

  return { mustGet, get, brief, callerForToken } as const
}
