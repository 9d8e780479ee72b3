/**
 * Memoized address checks for the messaging services' throughput paths (`Mailbox`, `Rooms`).
 */
import type { Effect, Either } from "effect"
import type { ActorsError } from "../../domain/Run.js"

/** Distinct texts `memoCheck` remembers before it starts over. */
const memoSize = 1_024

/**
 * Memoizes a pure address check (text → canonical text or error): the same few addresses are
 * checked once per message on the throughput paths, and parsing costs more than a lookup.
 */
export const memoCheck = (check: (text: string) => Either.Either<string, ActorsError>) => {
  const known = new Map<string, Either.Either<string, ActorsError>>()
  return (text: string): Effect.Effect<string, ActorsError> => {
    let result = known.get(text)
    if (result === undefined) {
      result = check(text)
      if (known.size >= memoSize) known.clear()
      known.set(text, result)
    }
    return result
  }
}

