/**
 * The `fifo` delivery adapter (SPEC-messaging §4, pi-actors compatible): one line per message
 * to `{state_dir}/control.fifo` while a process holds it open for reading — for `run:` targets
 * the string body, else the type when there is no body, else the JSON body; for `branch:`
 * targets the full JSON envelope. Messages that find no reader stay queued and are retried by
 * the redelivery hook while the run is active. A run that registered `fifo` without declaring
 * it (`declared: false`) and has no `control.fifo` is pull only.
 */
import type { FileSystem, Path } from "@effect/platform"
import { Effect, Either } from "effect"
import { parseAddress } from "../../domain/Address.js"
import type { Envelope } from "../../domain/Envelope.js"
import type { ActorsError } from "../../domain/Run.js"
import * as Fifo from "./Fifo.js"
import type { Mailbox } from "../Mailbox.js"
import type { RunBrief } from "../runs/RunEntry.js"
import { type DeliveryAdapter, delivered, queued } from "./DeliveryAdapter.js"

/**
 * The line a `fifo` adapter writes: for `run:` targets the string body, else the type when
 * there is no body, else the JSON body; for `branch:` targets the full JSON envelope.
 */
export const fifoLine = (envelope: Envelope, target: "run" | "branch"): string => {
  if (target === "branch") return JSON.stringify(envelope)
  if (typeof envelope.body === "string") return envelope.body.replace(/\n/g, " ")
  if (envelope.body === undefined) return envelope.type
  return JSON.stringify(envelope.body)
}

export interface FifoDeliveryDeps {
  readonly mailbox: Mailbox
  readonly fs: FileSystem.FileSystem
  readonly path: Path.Path
  /** The run as messaging sees it (the runtime's view: every session). */
  readonly brief: (runId: string) => Effect.Effect<RunBrief, ActorsError>
}

/** The `fifo` adapter; its redelivery retries the addresses it left waiting. */
export const make = ({ mailbox, fs, path, brief }: FifoDeliveryDeps): Effect.Effect<DeliveryAdapter> =>
  Effect.gen(function* () {
    /** Addresses with queued FIFO messages, retried by the redelivery hook. */
    const waiting = new Set<string>()
    // One flush at a time: a send and the redelivery hook must not both write the same
    // pending record (a message is written to a FIFO once).
    const flushLock = yield* Effect.makeSemaphore(1)

    /** Attempts FIFO delivery of an address's queued records; returns how the first write went. */
    const flush = (address: string, runId: string) =>
      flushLock.withPermits(1)(Effect.gen(function* () {
        const stored = yield* brief(runId)
        if (stored.state !== "running" && stored.state !== "starting") {
          waiting.delete(address)
          return "run_not_running" as const
        }
        const fifo = path.join(stored.stateDir, "control.fifo")
        // No FIFO, nothing to write to: don't load the pending records at all.
        if (!(yield* fs.exists(fifo).pipe(Effect.orElseSucceed(() => false)))) {
          waiting.add(address)
          return "absent" as const
        }
        const target = address.startsWith("branch:") ? "branch" : "run"
        for (const record of yield* mailbox.pending(address)) {
          const wrote = yield* Fifo.writeLine(fifo, fifoLine(record.envelope, target))
          if (wrote !== "written") {
            waiting.add(address)
            return wrote
          }
          yield* mailbox.markDelivered(record.id, "fifo")
        }
        waiting.delete(address)
        return "written" as const
      }))

    const adapter: DeliveryAdapter = {
      name: "fifo",
      deliver: (_envelope, { address, runId, registration }) =>
        Effect.map(flush(address, runId), (outcome) => {
          if (outcome === "written") return delivered
          if (outcome === "absent" && !registration.declared) {
            waiting.delete(address)
            return queued("pull_only")
          }
          return queued(outcome === "run_not_running" ? outcome : "no_live_reader")
        }),
      // Queued FIFO messages go out once a reader appears (or are dropped from the retry set
      // when their run ends; they stay queued in the store, visible in `inbox`).
      redeliver: Effect.gen(function* () {
        for (const address of [...waiting]) {
          const parsed = parseAddress(address)
          if (Either.isLeft(parsed) || (parsed.right._tag !== "Run" && parsed.right._tag !== "Branch")) {
            waiting.delete(address)
            continue
          }
          yield* flush(address, parsed.right.run).pipe(
            Effect.catchAll((e) => Effect.zipRight(Effect.sync(() => waiting.delete(address)), Effect.logDebug(`redelivery to ${address} stopped: ${e.message}`)))
          )
        }
      })
    }
    return adapter
  })
