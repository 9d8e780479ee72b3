/**
 * A view of a persistence service (`Store`) for a service whose public error is `ActorsError`
 * (the Supervisor): every method's `PersistenceError` becomes `ActorsError` `persistence` with
 * the same one-sentence message, at this one point instead of at every call.
 */
import { Effect } from "effect"
import { type PersistenceError, toActorsError } from "../../domain/PersistenceError.js"
import type { ActorsError } from "../../domain/Run.js"

type Reported<E> = Exclude<E, PersistenceError> | (PersistenceError extends E ? ActorsError : never)

/** `S` with each Effect-returning method (or Effect value) failing with ActorsError instead of PersistenceError. */
export type ReportingPersistence<S> = {
  readonly [K in keyof S]: S[K] extends (...args: infer A) => Effect.Effect<infer X, infer E, infer R> ? (...args: A) => Effect.Effect<X, Reported<E>, R>
    : S[K] extends Effect.Effect<infer X, infer E, infer R> ? Effect.Effect<X, Reported<E>, R>
    : S[K]
}

const report = <X, E, R>(effect: Effect.Effect<X, E, R>) =>
  Effect.catchIf(effect, (e): e is E & PersistenceError => (e as { _tag?: unknown } | null)?._tag === "PersistenceError", (e) => Effect.fail(toActorsError(e)))

/** `service` with its persistence faults reported as `ActorsError` `persistence`. */
export const reportPersistence = <S extends object>(service: S): ReportingPersistence<S> => {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(service)) {
    out[key] = typeof value === "function"
      ? (...args: Array<unknown>) => {
        const result: unknown = (value as (...a: Array<unknown>) => unknown)(...args)
        return Effect.isEffect(result) ? report(result) : result
      }
      : Effect.isEffect(value)
      ? report(value)
      : value
  }
  return out as ReportingPersistence<S>
}
