/**
 * Fault injection for the fake fleet, per operation (the document's `operationId`s, e.g.
 * `create_new_root_vm`, `delete_vm`, or `"*"` for every operation).
 *
 * A rule fires for the next `times` matching requests, or with a seeded `probability` (a
 * deterministic sequence for a given `seed` and request order), or both (each matching
 * request draws; a hit uses up one of `times`). Rules are tried in the order they were added;
 * the first that fires wins.
 */
import { Effect, Random } from "effect"

/** What a faulty answer looks like. */
export type Fault =
  /** An error status (5xx usually) with the document's error body `{error, success: false}`. */
  | { readonly kind: "status"; readonly status: number; readonly message?: string }
  /** 429 with `retry-after-ms: <ms>` and/or `retry-after: <seconds>`. */
  | { readonly kind: "rateLimit"; readonly retryAfterMs?: number; readonly retryAfterSeconds?: number }
  /** The normal answer, `delayMs` later. */
  | { readonly kind: "slow"; readonly delayMs: number }
  /** No answer at all until the fake closes (the connection then drops). */
  | { readonly kind: "hang" }
  /** The operation's success status with a truncated JSON body. */
  | { readonly kind: "malformed" }

export interface FaultRule {
  /** An operation id of the document, or `"*"` for all. */
  readonly operation: string
  readonly fault: Fault
  /** Fire for this many matching requests, then retire (default 1 without `probability`, unlimited with it). */
  readonly times?: number
  /** Fire with this probability (0..1) per matching request, drawn from the fake's seeded generator. */
  readonly probability?: number
  /**
   * Let the operation take effect first, then answer with the fault: e.g. a VM IS created but
   * the client sees a 500 or no answer (what creates must reconcile by label). Default false:
   * the request does nothing.
   */
  readonly afterEffect?: boolean
}

interface Armed {
  readonly rule: FaultRule
  remaining: number
}

/** Words for the ledger: `status 503`, `rateLimit`, `hang`, … */
export const faultName = (f: Fault): string => (f.kind === "status" ? `status ${f.status}` : f.kind)

export class Faults {
  private armed: Array<Armed> = []

  constructor(private readonly random: Random.Random) {}

  inject(rule: FaultRule): void {
    if (rule.probability !== undefined && !(rule.probability >= 0 && rule.probability <= 1)) throw new RangeError(`probability must be within 0..1, not ${rule.probability}`)
    this.armed.push({ rule, remaining: rule.times ?? (rule.probability === undefined ? 1 : Number.POSITIVE_INFINITY) })
  }

  clear(): void {
    this.armed = []
  }

  /** The rules still armed, with how many firings each has left. */
  pending(): ReadonlyArray<FaultRule & { readonly remaining: number }> {
    return this.armed.map((a) => ({ ...a.rule, remaining: a.remaining }))
  }

  /** The rule that fires for this request of `operation`, if any (using up one firing). */
  pick(operation: string): Effect.Effect<FaultRule | undefined> {
    return Effect.gen(this, function* () {
      for (const a of this.armed) {
        if (a.remaining <= 0 || (a.rule.operation !== "*" && a.rule.operation !== operation)) continue
        if (a.rule.probability !== undefined && (yield* this.random.next) >= a.rule.probability) continue
        a.remaining -= 1
        if (a.remaining <= 0) this.armed = this.armed.filter((x) => x !== a)
        return a.rule
      }
      return undefined
    })
  }
}
