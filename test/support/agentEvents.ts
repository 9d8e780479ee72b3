/**
 * The session events an agent run reports when a task settles, read from the Supervisor's
 * event stream from its start: the first `count` `agent.settled` events of `runId`, failing
 * after `timeout` (a hang guard, not a speed check).
 */
import { Chunk, type Duration, Effect, Stream } from "effect"
import type { Caller, SessionEvent } from "../../src/domain/Run.js"
import { Supervisor } from "../../src/services/Supervisor.js"

export const settledEvents = (caller: Caller, runId: string, count: number, timeout: Duration.DurationInput = "30 seconds") =>
  Effect.flatMap(Supervisor, (s) =>
    s.sessionEvents(caller, 0, true).pipe(
      Stream.filter((e: SessionEvent) => e.run_id === runId && e.type === "agent.settled"),
      Stream.take(count),
      Stream.runCollect,
      Effect.map(Chunk.toArray),
      Effect.timeoutFail({ duration: timeout, onTimeout: () => new Error(`no ${count} agent.settled events for ${runId}`) })
    ))
