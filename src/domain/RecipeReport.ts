/**
 * The registry report behind `inspect recipes view=status|summary|doctor` (SPEC-messaging §6,
 * SPEC-runtime §2): each recipe file with its status and usage, and cleanup recommendations.
 * Recommendations are advice for the operator — troupe never deletes or demotes a recipe by
 * itself. Corresponds to pi-actors 0.17 `inspect target=recipes view=status|summary` with
 * `usage.calls` / `usage.last_called` and its operator-gated cleanup recommendations.
 */
import type { CatalogEntry } from "./Recipe.js"

/** Usage of one recipe file as stored (see `Store.recordUsage`). */
export interface UsageRow {
  readonly path: string
  readonly calls: number
  readonly last_called: number
  readonly fingerprint: string
  readonly reset_at: number | null
}

/** A recipe file with its usage for the current content. */
export interface ReportRow {
  readonly id: string
  readonly source: "user" | "packaged"
  readonly status: CatalogEntry["status"]
  readonly path: string
  readonly description?: string | undefined
  readonly async?: boolean | undefined
  readonly diagnostics: ReadonlyArray<string>
  /**
   * What does not stop the recipe, as `recipes doctor` prints it (`CatalogEntry.warnings`,
   * computed once by `Recipes.discover`): tolerated pi-actors 0.17 fields, defaults no
   * placeholder uses. Empty when there is nothing to say.
   */
  readonly warnings: ReadonlyArray<string>
  readonly shadowed_by?: string | undefined
  /** Launches since the file's content last changed (0 when edited since the last launch). */
  readonly calls: number
  /** ms since the epoch of the last launch of this content, if any. */
  readonly last_called?: number | undefined
}

/** One cleanup recommendation; `kind` is stable for programs, `text` is for people. */
export interface Recommendation {
  readonly id: string
  readonly path: string
  readonly kind: "invalid" | "disabled" | "shadows_packaged" | "never_called" | "stale" | "duplicate"
  readonly text: string
}

/** A file with warnings (`recipes doctor`'s `warning:` lines) and the warnings themselves. */
export interface WarningRow {
  readonly id: string
  readonly source: "user" | "packaged"
  readonly status: CatalogEntry["status"]
  readonly path: string
  readonly warnings: ReadonlyArray<string>
}

/**
 * The rows that carry warnings, in report order (shadowed files included: their warnings
 * matter the day the shadowing file goes). Warnings never make a recommendation — a tolerated
 * pi-actors 0.17 field may be there on purpose for pi-actors reading the same root.
 */
export const warningRows = (rows: ReadonlyArray<ReportRow>): ReadonlyArray<WarningRow> =>
  rows.filter((r) => r.warnings.length > 0).map((r) => ({ id: r.id, source: r.source, status: r.status, path: r.path, warnings: r.warnings }))

/** A user tool not called for this long is `stale`: 30 days in ms. */
export const staleAfterMs = 30 * 24 * 60 * 60 * 1000

const day = 24 * 60 * 60 * 1000

/** Joins catalog entries with their usage: counts of an older content are not shown. */
export const reportRows = (entries: ReadonlyArray<CatalogEntry>, usage: ReadonlyArray<UsageRow>): ReadonlyArray<ReportRow> => {
  const byPath = new Map(usage.map((u) => [u.path, u]))
  return entries.map((e) => {
    const u = byPath.get(e.path)
    const current = u !== undefined && e.fingerprint !== undefined && u.fingerprint === e.fingerprint
    return {
      id: e.id,
      source: e.source,
      status: e.status,
      path: e.path,
      description: e.description,
      async: e.async,
      diagnostics: e.diagnostics,
      warnings: e.warnings ?? [],
      shadowed_by: e.shadowed_by,
      calls: current ? u.calls : 0,
      last_called: current ? u.last_called : undefined
    }
  })
}

/**
 * Cleanup recommendations for the user root (packaged recipes are the library and get none):
 * invalid and disabled files, user recipes that shadow a packaged one, tools never called
 * since their last edit, tools not called for 30 days, and tools whose linked template is
 * identical (`templates`: id → linked template JSON of each active recipe).
 */
export const recommendations = (
  rows: ReadonlyArray<ReportRow>,
  templates: ReadonlyMap<string, string>,
  now: number
): ReadonlyArray<Recommendation> => {
  const out: Array<Recommendation> = []
  const user = rows.filter((r) => r.source === "user")
  for (const r of user) {
    const base = { id: r.id, path: r.path }
    if (r.status === "invalid") {
      out.push({ ...base, kind: "invalid", text: `fix or delete ${r.path}: ${r.diagnostics[0] ?? "invalid"}` })
      continue
    }
    if (r.status === "disabled") {
      out.push({ ...base, kind: "disabled", text: `${r.id} is disabled; delete ${r.path} if it is no longer needed (a disabled file still blocks lower-priority ones)` })
      continue
    }
    if (rows.some((o) => o.id === r.id && o.source === "packaged")) {
      out.push({ ...base, kind: "shadows_packaged", text: `${r.id} shadows the packaged recipe of the same id; delete ${r.path} to use the packaged one, or keep it on purpose` })
    }
    if (r.calls === 0) {
      out.push({ ...base, kind: "never_called", text: `${r.id} has not been called since it was written or last edited; delete it if it is not needed` })
    } else if (r.last_called !== undefined && now - r.last_called > staleAfterMs) {
      out.push({ ...base, kind: "stale", text: `${r.id} was last called ${Math.floor((now - r.last_called) / day)} days ago` })
    }
  }
  const active = user.filter((r) => r.status === "active" && templates.has(r.id))
  for (let i = 0; i < active.length; i++) {
    for (let j = i + 1; j < active.length; j++) {
      const a = active[i]!
      const b = active[j]!
      if (templates.get(a.id) === templates.get(b.id)) {
        out.push({ id: b.id, path: b.path, kind: "duplicate", text: `${a.id} and ${b.id} run the same template; keep one` })
      }
    }
  }
  return out
}
