/**
 * Who may speak as whom (SPEC-messaging §2): the rule that turns the `from` a sender wrote into
 * the verified sender of a message and records who vouches for it (`Envelope.sender`).
 *
 * | caller | may send as | default | provenance |
 * |---|---|---|---|
 * | an actor process (run token) | its run, or one of its run's branches | its run | `token` (`outbox` for its `outbox.jsonl` lines) |
 * | a session | `coordinator`, `session:<itself>`, a run it owns, or one of that run's branches | `coordinator` | `session:<id>` |
 *
 * Nobody speaks for a run of another owner, and no run speaks for another run (not even a
 * sibling of the same owner). pi-actors 0.17 let the coordinator post as a branch
 * (`message to=room:review from=branch:review/security type=actor.join …`, its README room
 * workflow) without recording that it did; troupe allows the same for the run's owner and
 * records it.
 */
import { Effect, Either } from "effect"
import { type Address, type MessageableAddress, parseAddress } from "../domain/Address.js"
import type { Sender } from "../domain/Envelope.js"
import { ActorsError, type Caller } from "../domain/Run.js"

/** The verified sender of a message and who vouches for it. */
export interface VerifiedSender {
  readonly from: MessageableAddress
  readonly sender: Sender
}

const forbidden = (message: string) => new ActorsError({ reason: "forbidden", message })
const invalid = (message: string) => new ActorsError({ reason: "invalid", message })

const parse = (text: string): Either.Either<Address, ActorsError> => Either.mapLeft(parseAddress(text), (e) => invalid(e.message))

/**
 * The verified sender of a message `caller` sends with `claimed` as its `from` (absent: the
 * default). `via` is the provenance of an actor caller's messages: `token` (it called with its
 * run token) or `outbox` (a line of its `outbox.jsonl`). `ownedRun(session, run)` succeeds when
 * `session` owns `run` (the supervisor's ownership check; `not_found` / `forbidden` otherwise).
 *
 * @fails ActorsError `invalid` (`claimed` is not an address), `forbidden`:
 *   `run:<a> cannot send as <claimed>: an actor sends as its run or one of its branches`,
 *   `cannot send as <claimed>: run:<r> belongs to another session (a session speaks only for
 *   runs it owns)`, `cannot send as <claimed>: there is no run <r> (…)`,
 *   `a session cannot send as <claimed>: it sends as coordinator, session:<id>, or a run it owns
 *   and that run's branches`; other failures of `ownedRun` (a store error) as they are.
 */
export const verifySender = (
  caller: Caller,
  claimed: string | undefined,
  via: "token" | "outbox",
  ownedRun: (session: string, run: string) => Effect.Effect<unknown, ActorsError>
): Effect.Effect<VerifiedSender, ActorsError> => {
  if (caller.run !== undefined) {
    const run = caller.run
    if (claimed === undefined) return Effect.succeed({ from: { _tag: "Run", run } as MessageableAddress, sender: via })
    return Either.flatMap(parse(claimed), (a) =>
      (a._tag === "Run" || a._tag === "Branch") && a.run === run
        ? Either.right({ from: a as MessageableAddress, sender: via })
        : Either.left(forbidden(`run:${run} cannot send as ${claimed}: an actor sends as its run or one of its branches`)))
  }
  const sender: Sender = `session:${caller.session}`
  if (claimed === undefined) return Effect.succeed({ from: { _tag: "Coordinator" } as MessageableAddress, sender })
  return Effect.flatMap(parse(claimed), (a) => {
    if (a._tag === "Coordinator" || (a._tag === "Session" && a.session === caller.session)) {
      return Effect.succeed({ from: a as MessageableAddress, sender })
    }
    if (a._tag === "Run" || a._tag === "Branch") {
      return ownedRun(caller.session, a.run).pipe(
        Effect.catchIf(
          (e) => e.reason === "not_found" || e.reason === "forbidden",
          (e) =>
            Effect.fail(forbidden(e.reason === "not_found"
              ? `cannot send as ${claimed}: there is no run ${a.run} (a session speaks only for runs it owns)`
              : `cannot send as ${claimed}: run:${a.run} belongs to another session (a session speaks only for runs it owns)`))
        ),
        Effect.as({ from: a as MessageableAddress, sender })
      )
    }
    return Effect.fail(forbidden(`a session cannot send as ${claimed}: it sends as coordinator, session:${caller.session}, or a run it owns and that run's branches`))
  })
}
