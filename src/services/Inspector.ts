/**
 * `Inspector`: the inspect views of runs and sessions (SPEC-messaging §6) as compact text and
 * JSON. Compact text starts with one newline and prints `key=value` pairs; spaces inside values
 * become `_`. `recipes` and `tool:<name>` report the registry with usage from the store, and
 * `recipes` keeps every diagnostic and every warning of `recipes doctor`. Views of
 * other targets (branches, rooms) join as their features land.
 *
 * Corresponds to pi-actors' `inspect target=run:<id> view=status|tail|files|artifacts|…` and
 * `target=coordinator|session:<id>|session:all view=runs` with `status=` filters.
 */
import { FileSystem, Path } from "@effect/platform"
import { Clock, DateTime, Effect, Option, Schema } from "effect"
import * as Output from "../domain/Output.js"
import { parseAddress } from "../domain/Address.js"
import { branchViews, compact, defaultLines, type InspectOptions, InspectView, recipesViews, roomViews, runViews, sessionViews, toolViews } from "../domain/Inspect.js"
import * as Report from "../domain/RecipeReport.js"
import { templateArgsSchema } from "./CommandGraph.js"
import { type InboxRecord, Mailbox } from "./Mailbox.js"
import { Recipes } from "./Recipes.js"
import { Rooms } from "./Rooms.js"
import { reportPersistence } from "./internal/ReportPersistence.js"
import { Store } from "./Store.js"
import { ActorsError, type Caller, type RunInfo, runIdOf, StatusFilter } from "../domain/Run.js"
import { Supervisor } from "./Supervisor.js"
import { agentStatusLine, eventsView, isAgentSnapshot, outputView, readAgentStatus } from "./runs/AgentViews.js"

const pairs = (obj: Record<string, unknown>) =>
  Object.entries(obj).map(([k, v]) => `${k}=${compact(v)}`).join(" ")

const pidOf = (r: RunInfo) => r.processes[0]?.pid

const statusPairs = (r: RunInfo) => ({
  run: r.id,
  status: r.state,
  recipe: r.recipe,
  tool: r.recipe === "inline" ? "" : r.recipe,
  pid: pidOf(r),
  phase: r.progress.phase,
  active: r.progress.active,
  completed: r.progress.completed,
  failures: r.progress.failures.length,
  code: r.code,
  generation: r.generation
})

const runRow = (r: RunInfo) =>
  pairs({ run: r.id, status: r.state, recipe: r.recipe, owner: r.owner, code: r.code, active: r.progress.active, restarts: r.restarts })

const viewError = (target: string, views: ReadonlyArray<string>) =>
  new ActorsError({ reason: "invalid", message: `inspect view for ${target} must be one of: ${views.join(", ")}` })

const decodeFilter = Schema.decodeUnknownEither(StatusFilter)

export class Inspector extends Effect.Service<Inspector>()("troupe/Inspector", {
  effect: Effect.gen(function* () {
    const supervisor = yield* Supervisor
    const recipes = yield* Recipes
    const store = reportPersistence(yield* Store)
    const mailbox = yield* Mailbox
    const rooms = yield* Rooms
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path

    const listFiles = (root: string) =>
      Effect.gen(function* () {
        const names = yield* fs.readDirectory(root, { recursive: true }).pipe(Effect.orElseSucceed(() => [] as Array<string>))
        const out: Array<{ path: string; size: number }> = []
        for (const name of names.sort()) {
          const info = yield* fs.stat(path.join(root, name)).pipe(Effect.option)
          if (info._tag === "Some" && info.value.type === "File") out.push({ path: name, size: Number(info.value.size) })
        }
        return out
      })

    const runView = (caller: Caller, target: string, view: string, options: InspectOptions) =>
      Effect.gen(function* () {
        const stored = yield* supervisor.get(caller, target)
        const r = stored.info
        const lines = options.lines ?? defaultLines
        switch (view) {
          case "status": {
            const agent = isAgentSnapshot(stored.snapshot) ? yield* readAgentStatus(fs, path, r.state_dir) : undefined
            const agentLine = agent === undefined ? "" : `\n${agentStatusLine(agent)}`
            const data = agent === undefined ? r : { ...r, agent: Option.getOrNull(agent) }
            return { text: "\n" + pairs(statusPairs(r)) + agentLine + (r.error === undefined ? "" : `\nerror: ${r.error}`), data }
          }
          case "output":
          case "events": {
            if (!isAgentSnapshot(stored.snapshot)) return yield* new ActorsError({ reason: "invalid", message: `inspect view ${view} is for agent runs; run:${r.id} is a template run (use view=tail)` })
            const agent = yield* readAgentStatus(fs, path, r.state_dir)
            return view === "output" ? outputView(r.id, agent) : eventsView(r.id, agent, lines)
          }
          case "tail": {
            const events = yield* supervisor.runEvents(caller, r.id, lines)
            const tail = (s: string) => s.split("\n").slice(-lines).join("\n")
            // A live run's output so far is in its log; a finished run's final output is stored.
            const stdout = r.state === "starting" || r.state === "running"
              ? yield* supervisor.logTail(caller, r.id, "stdout", Output.spilledTailBytes)
              : stored.stdoutTail
            const text = [
              "\n" + pairs({ run: r.id, status: r.state, code: r.code }),
              ...events.map((e) => `${e.type} ${pairs(e.data)}`),
              ...(stdout.length > 0 ? ["--- stdout ---", tail(stdout.trimEnd())] : []),
              ...(stored.stderrTail.length > 0 ? ["--- stderr ---", tail(stored.stderrTail.trimEnd())] : [])
            ].join("\n")
            return { text, data: { run: r, events, stdout: tail(stdout), stderr_tail: tail(stored.stderrTail) } }
          }
          case "files": {
            const files = yield* listFiles(r.state_dir)
            return {
              text: "\n" + pairs({ run: r.id, state_dir: r.state_dir, files: files.length }) + files.map((f) => `\n${f.path} ${f.size}`).join(""),
              data: { state_dir: r.state_dir, files }
            }
          }
          case "artifacts": {
            const declared = (stored.snapshot as { artifacts?: Record<string, string> } | null)?.artifacts ?? {}
            const out: Array<{ name: string; path: string; exists: boolean; size: number | null }> = []
            for (const [name, raw] of Object.entries(declared)) {
              const expanded = raw.replace(/\{(run_id|state_dir)\}/g, (_, k: string) => (k === "run_id" ? r.id : r.state_dir))
              const full = path.isAbsolute(expanded) ? expanded : path.join(r.state_dir, expanded)
              const info = yield* fs.stat(full).pipe(Effect.option)
              out.push({ name, path: full, exists: info._tag === "Some", size: info._tag === "Some" ? Number(info.value.size) : null })
            }
            return {
              text: "\n" + pairs({ run: r.id, artifacts: out.length }) + out.map((a) => `\n${a.name} ${a.path}${a.exists ? ` ${a.size}` : " (missing)"}`).join(""),
              data: { artifacts: out }
            }
          }
          case "tree": {
            const groups = r.processes.map((p) => ({ path: p.path, pid: p.pid, pgid: p.pgid, argv: p.argv }))
            return {
              text: "\n" + pairs({ run: r.id, status: r.state, active: r.progress.active, groups: groups.length }) +
                groups.map((g) => `\n▶ ${g.path} pid=${g.pid} pgid=${g.pgid} ${g.argv.join(" ")}`).join(""),
              data: { run: r.id, state: r.state, progress: r.progress, process_groups: groups }
            }
          }
          case "recipe":
            return { text: "\n" + JSON.stringify(stored.snapshot, null, 2), data: stored.snapshot }
          case "inbox":
            return yield* inboxView(`run:${r.id}`, lines)
          case "messages":
            return yield* messagesView(`run:${r.id}`, r.id, lines, (from) => from === `run:${r.id}` || from.startsWith(`branch:${r.id}/`), stored.snapshot)
          case "mailbox": {
            const contract = (stored.snapshot as { mailbox?: { accepts?: ReadonlyArray<string>; emits?: ReadonlyArray<string>; delivery?: string } } | null)?.mailbox ?? {}
            const fifo = path.join(r.state_dir, "control.fifo")
            const hasFifo = (yield* fs.stat(fifo).pipe(Effect.option))._tag === "Some"
            const delivery = isAgentSnapshot(stored.snapshot) ? "pi-rpc" : contract.delivery ?? (hasFifo ? "fifo" : "pull")
            const counts = yield* mailbox.counts(`run:${r.id}`)
            const data = { run: r.id, accepts: contract.accepts ?? null, emits: contract.emits ?? null, delivery, declared: contract.delivery ?? null, fifo: hasFifo ? fifo : null, counts }
            return {
              text: "\n" + pairs({ run: r.id, delivery, accepts: (contract.accepts ?? ["any"]).join(","), emits: (contract.emits ?? []).join(","), fifo: hasFifo ? fifo : "", ...counts }),
              data
            }
          }
          case "diff": {
            // Worktree isolation: the diff stat against the base commit (`--json`: per file).
            const stat = yield* supervisor.diff(caller, r.id)
            return {
              text: "\n" + pairs({ run: r.id, branch: stat.branch, base: stat.base.slice(0, 12), files: stat.files.length, insertions: stat.insertions, deletions: stat.deletions }) + "\n" + stat.text,
              data: stat
            }
          }
          case "communication":
            return yield* communicationView(`run:${r.id}`, r.id, r.parent === undefined ? undefined : `run:${r.parent}`)
          default:
            return yield* viewError(target, runViews)
        }
      })

    const sessionView = (caller: Caller, target: string, view: string, options: InspectOptions) =>
      Effect.gen(function* () {
        if (!(sessionViews as ReadonlyArray<string>).includes(view)) return yield* viewError(target, sessionViews)
        const session = target === "coordinator" ? caller.session : target === "session:all" ? "all" : target.slice("session:".length)
        if (session === "") return yield* new ActorsError({ reason: "invalid", message: "session id must not be empty" })
        const runs = yield* supervisor.list(target === "coordinator" ? { ...caller, all: false } : caller, options.status ?? "all", session)
        const counts: Record<string, number> = {}
        for (const r of runs) counts[r.state] = (counts[r.state] ?? 0) + 1
        const head = pairs({ session, runs: runs.length, ...counts })
        const rows = runs.slice(0, options.lines ?? 200)
        return {
          text: "\n" + head + rows.map((r) => "\n" + runRow(r)).join(""),
          data: { session, counts, runs: target === "session:all" ? rows.map((r) => ({ id: r.id, owner: r.owner, state: r.state, recipe: r.recipe, code: r.code })) : rows }
        }
      })

    const recordLine = (rec: InboxRecord) =>
      pairs({ id: rec.id, state: rec.state, from: rec.envelope.from, sender: rec.envelope.sender, type: rec.envelope.type, summary: rec.envelope.summary, consumer: rec.consumer, error: rec.error })

    const inboxView = (address: string, lines: number) =>
      Effect.gen(function* () {
        const records = yield* mailbox.list(address, { limit: lines })
        const counts = yield* mailbox.counts(address)
        return { text: "\n" + pairs({ inbox: address, ...counts }) + records.map((rec) => "\n" + recordLine(rec)).join(""), data: { address, counts, records } }
      })

    /**
     * Received (inbox) and emitted (room posts by `emitted(from)`) envelopes, by id. An emitted
     * type outside the recipe's declared `mailbox.emits` is kept and flagged `not_in_emits`
     * (the roster types `actor.join` / `actor.leave` are always allowed).
     */
    const messagesView = (address: string, run: string, lines: number, emitted: (from: string) => boolean, snapshot: unknown) =>
      Effect.gen(function* () {
        const emits = (snapshot as { mailbox?: { emits?: ReadonlyArray<string> } } | null)?.mailbox?.emits
        const flagOf = (type: string) =>
          emits === undefined || emits.includes(type) || type === "actor.join" || type === "actor.leave" ? undefined : "not_in_emits"
        const received = (yield* mailbox.list(address, { limit: lines })).map((rec) => ({ direction: "in" as const, envelope: rec.envelope, state: rec.state, flag: undefined }))
        const posted = (yield* rooms.timeline(`room:${run}`, { limit: 10_000 }))
          .filter((e) => emitted(e.envelope.from))
          .map((e) => ({ direction: "out" as const, envelope: e.envelope, state: "posted", flag: flagOf(e.envelope.type) }))
        const all = [...received, ...posted].sort((a, b) => (a.envelope.id < b.envelope.id ? -1 : 1)).slice(-lines)
        return {
          text: "\n" + pairs({ messages: all.length, address }) +
            all.map((m) => "\n" + `${m.direction === "in" ? "<-" : "->"} ` + pairs({ id: m.envelope.id, from: m.envelope.from, sender: m.envelope.sender, to: m.envelope.to, type: m.envelope.type, summary: m.envelope.summary, state: m.state }) + (m.flag === undefined ? "" : ` flag=${m.flag}`)).join(""),
          data: { address, messages: all }
        }
      })

    const communicationView = (self: string, run: string, parent: string | undefined) =>
      Effect.gen(function* () {
        const snapshot = yield* rooms.snapshot({ self, root: `run:${run}`, ...(parent === undefined ? {} : { parent }), rooms: [`room:${run}`] })
        return { text: "\n" + JSON.stringify(snapshot, null, 2), data: snapshot }
      })

    const branchView = (caller: Caller, run: string, branch: string, view: string, options: InspectOptions) =>
      Effect.gen(function* () {
        const stored = yield* supervisor.get(caller, run)
        const address = `branch:${run}/${branch}`
        const lines = options.lines ?? defaultLines
        switch (view) {
          case "status": {
            const member = (yield* rooms.roster(`room:${run}`)).find((m) => m.address === address)
            const counts = yield* mailbox.counts(address)
            return {
              text: "\n" + pairs({ branch: address, run: run, run_status: stored.info.state, member: member?.status ?? "unknown", role: member?.role, ...counts }),
              data: { branch: address, run, run_status: stored.info.state, member: member ?? null, counts }
            }
          }
          case "inbox":
            return yield* inboxView(address, lines)
          case "messages":
            return yield* messagesView(address, run, lines, (from) => from === address, stored.snapshot)
          case "communication":
            return yield* communicationView(address, run, `run:${run}`)
          default:
            return yield* viewError(address, branchViews)
        }
      })

    const roomView = (caller: Caller, run: string, view: string, options: InspectOptions) =>
      Effect.gen(function* () {
        yield* supervisor.get(caller, run)
        const room = `room:${run}`
        const lines = options.lines ?? defaultLines
        switch (view) {
          case "status": {
            const status = yield* rooms.status(room)
            return { text: "\n" + pairs({ ...status, compaction: status.compaction === undefined ? undefined : JSON.stringify(status.compaction) }), data: status }
          }
          case "messages": {
            const entries = yield* rooms.timeline(room, { limit: lines })
            return {
              text: "\n" + pairs({ room, messages: entries.length }) +
                entries.map((e) => "\n" + pairs({ seq: e.seq, id: e.envelope.id, from: e.envelope.from, sender: e.envelope.sender, type: e.envelope.type, summary: e.envelope.summary }) +
                  (e.envelope.body === undefined ? "" : ` body=${compact(typeof e.envelope.body === "string" ? e.envelope.body : JSON.stringify(e.envelope.body))}`)).join(""),
              data: { room, entries }
            }
          }
          case "previews": {
            const previews = yield* rooms.previews(room, lines)
            return {
              text: "\n" + pairs({ room, previews: previews.length }) +
                previews.map((p) => "\n" + pairs({ at: p.timestamp, from: p.from, sender: p.sender, type: p.type, summary: p.summary }) + (p.body_preview === undefined ? "" : ` | ${p.body_preview}`)).join(""),
              data: { room, previews }
            }
          }
          case "roster": {
            const roster = yield* rooms.roster(room)
            return {
              text: "\n" + pairs({ room, members: roster.length }) +
                roster.map((m) => "\n" + pairs({ address: m.address, role: m.role, status: m.status, claim: m.claim, caps: (m.caps ?? []).join(","), display: m.display, last_seen: iso(m.last_seen) })).join(""),
              data: { room, roster }
            }
          }
          case "contacts": {
            const self = caller.run === undefined ? "coordinator" : `run:${caller.run}`
            const contacts = yield* rooms.contacts(room, self)
            return {
              text: "\n" + pairs({ room, self, contacts: contacts.length }) +
                contacts.map((c) => "\n" + pairs({ address: c.address, role: c.role, status: c.status, claim: c.claim, caps: (c.caps ?? []).join(",") })).join(""),
              data: { room, self, contacts }
            }
          }
          default:
            return yield* viewError(room, roomViews)
        }
      })

    const iso = (ms: number | undefined) => (ms === undefined ? undefined : DateTime.formatIso(DateTime.unsafeMake(ms)))

    const registryReport = Effect.gen(function* () {
      const catalog = yield* recipes.discover()
      const usage = yield* store.recipeUsage
      const rows = Report.reportRows(catalog.entries, usage)
      const templates = new Map(
        [...catalog.active].map(([id, r]) => [id, JSON.stringify({ template: r.template, args: r.args, defaults: r.defaults })] as const)
      )
      const now = yield* Clock.currentTimeMillis
      return { rows, catalog, recommendations: Report.recommendations(rows, templates, now) }
    }).pipe(Effect.withSpan("Inspector.registryReport"))

    const rowText = (r: Report.ReportRow) =>
      pairs({ id: r.id, status: r.status, source: r.source, ...(r.async === true ? { async: true } : {}), calls: r.calls, ...(r.last_called === undefined ? {} : { last_called: iso(r.last_called) }) }) +
      (r.status === "shadowed" ? ` shadowed_by=${compact(r.shadowed_by)}` : "") +
      (r.diagnostics.length > 0 ? `\n  ${r.diagnostics.join("\n  ")}` : "") +
      r.warnings.map((w) => `\n  warning: ${w}`).join("")

    /**
     * `recipes` views; `id` (doctor only) narrows the report to that id's files in every root —
     * all of them, like `troupe recipes doctor <id>`, so the one that decides and what it
     * shadows are visible.
     */
    const recipesView = (view: string, id: string | undefined) =>
      Effect.gen(function* () {
        if (id !== undefined && view !== "doctor") {
          return yield* new ActorsError({ reason: "invalid", message: `id applies only to inspect recipes view=doctor (got view=${view})` })
        }
        const report = yield* registryReport
        const rows = id === undefined ? report.rows : report.rows.filter((r) => r.id === id)
        const recommendations = id === undefined ? report.recommendations : report.recommendations.filter((a) => a.id === id)
        if (id !== undefined && rows.length === 0) {
          return yield* new ActorsError({ reason: "not_found", message: `no recipe file is named ${id}.json in the user root or the packaged library` })
        }
        const counts: Record<string, number> = { active: 0, shadowed: 0, invalid: 0, disabled: 0 }
        for (const r of rows) counts[r.status] = (counts[r.status] ?? 0) + 1
        const tools = rows.filter((r) => r.source === "user" && r.status === "active").length
        const calls = rows.reduce((n, r) => n + r.calls, 0)
        const advice = recommendations.map((a) => `- ${a.kind} ${a.text}`)
        const warned = Report.warningRows(rows)
        // One line per file in the summary (the first warning and how many more); doctor lists all.
        const warnedText = warned.map((w) =>
          `\n- warning ${w.id} (${w.source}${w.status === "shadowed" ? ", shadowed" : ""}): ${w.warnings[0]}` +
          (w.warnings.length > 1 ? ` (+${w.warnings.length - 1} more: view=doctor lists them)` : "")).join("")
        switch (view) {
          case "status":
            return { text: "\n" + pairs({ recipes: rows.length, ...counts, tools }) + rows.map((r) => "\n" + rowText(r)).join(""), data: { counts, tools, recipes: rows } }
          case "summary":
            return {
              text: "\n" + pairs({ recipes: rows.length, ...counts, tools, calls, warnings: warned.length, recommendations: recommendations.length }) +
                (advice.length > 0 ? "\n" + advice.join("\n") : "") + warnedText,
              data: { counts, tools, calls, warnings: warned, recommendations }
            }
          case "doctor": {
            const troubled = rows.filter((r) => r.status !== "active" && r.status !== "shadowed" || r.diagnostics.length > 0)
            // Files that only have warnings are listed after the problems, with their warnings;
            // for one id every file of it is listed, problems or not.
            const listed = id !== undefined ? rows : [...troubled, ...rows.filter((r) => r.warnings.length > 0 && !troubled.includes(r))]
            return {
              text: "\n" + pairs({ ...(id === undefined ? {} : { id }), problems: troubled.length, warnings: warned.length, recommendations: recommendations.length }) +
                listed.map((r) => "\n" + rowText(r)).join("") + (advice.length > 0 ? "\n" + advice.join("\n") : "") +
                "\n(recommendations only: nothing is deleted automatically)",
              data: { ...(id === undefined ? {} : { id, files: rows }), problems: troubled, warnings: warned, recommendations }
            }
          }
          default:
            return yield* viewError("recipes", recipesViews)
        }
      })

    const toolView = (name: string, view: string) =>
      Effect.gen(function* () {
        if (!(toolViews as ReadonlyArray<string>).includes(view)) return yield* viewError(`tool:${name}`, toolViews)
        const { rows, catalog } = yield* registryReport
        const row = rows.find((r) => r.id === name && r.status !== "shadowed")
        const recipe = catalog.active.get(name)
        if (row === undefined) return yield* new ActorsError({ reason: "not_found", message: `Unknown tool: ${name} (no ${name}.json in the user root)` })
        if (row.source !== "user") {
          return yield* new ActorsError({
            reason: "not_found",
            message: `tool:${name} is not a tool: ${name} is a packaged recipe (a component). Register it (troupe recipes register ${name} --description … --template ${name}.json) or copy it into the user root.`
          })
        }
        if (recipe === undefined) {
          return yield* new ActorsError({ reason: "invalid", message: `tool:${name} is ${row.status}: ${row.diagnostics[0] ?? row.path}` })
        }
        if (view === "schema") {
          const schema = templateArgsSchema(recipe.template, recipe.args ?? [], recipe.defaults ?? {})
          return { text: "\n" + JSON.stringify(schema, null, 2), data: schema }
        }
        const data = { tool: name, status: row.status, async: recipe.async, path: row.path, description: row.description, calls: row.calls, last_called: iso(row.last_called), imports: recipe.imports }
        return {
          text: "\n" + pairs({ tool: name, status: row.status, async: recipe.async, calls: row.calls, last_called: iso(row.last_called), path: row.path }) +
            `\n${row.description ?? ""}` + recipe.imports.map((i) => `\nimport ${i.alias}=${i.id} ${i.path}`).join(""),
          data
        }
      })

    /**
     * Renders `view` of `target` for the caller.
     * @fails ActorsError `invalid` (unknown target kind or view: the message lists the valid
     *   ones; `options.id` anywhere but `recipes view=doctor`), `not_found` (also an `id` with
     *   no recipe file), `forbidden`.
     */
    const inspect = Effect.fn("Inspector.inspect")(function* (caller: Caller, target: string, view: string | undefined, options: InspectOptions = {}) {
      if (options.status !== undefined && decodeFilter(options.status)._tag === "Left") {
        return yield* new ActorsError({ reason: "invalid", message: `status filter must be one of: ${StatusFilter.literals.join(", ")}` })
      }
      if (options.id !== undefined && target !== "recipes") {
        return yield* new ActorsError({ reason: "invalid", message: `id applies only to inspect recipes view=doctor (got target ${target})` })
      }
      if (target.startsWith("run:")) {
        const id = runIdOf(target)
        const v = view ?? "status"
        const out = yield* runView(caller, `run:${id}`, v, options)
        return new InspectView({ target: `run:${id}`, view: v, ...out })
      }
      if (target === "coordinator" || target.startsWith("session:")) {
        const v = view ?? "runs"
        const out = yield* sessionView(caller, target, v, options)
        return new InspectView({ target, view: v, ...out })
      }
      if (target.startsWith("branch:") || target.startsWith("room:")) {
        const parsed = parseAddress(target)
        if (parsed._tag === "Left") return yield* new ActorsError({ reason: "invalid", message: parsed.left.message })
        const a = parsed.right
        if (a._tag === "Branch") {
          const v = view ?? "status"
          return new InspectView({ target: `branch:${a.run}/${a.branch}`, view: v, ...(yield* branchView(caller, a.run, a.branch, v, options)) })
        }
        if (a._tag === "Room") {
          const v = view ?? "status"
          return new InspectView({ target: `room:${a.run}`, view: v, ...(yield* roomView(caller, a.run, v, options)) })
        }
      }
      if (target === "recipes") {
        const v = view ?? "status"
        return new InspectView({ target, view: v, ...(yield* recipesView(v, options.id)) })
      }
      if (target.startsWith("tool:")) {
        const v = view ?? "status"
        return new InspectView({ target, view: v, ...(yield* toolView(target.slice("tool:".length), v)) })
      }
      return yield* new ActorsError({
        reason: "invalid",
        message: `inspect target must be run:<id>, branch:<run>/<label>, room:<run>, coordinator, session:<id>, session:all, recipes or tool:<name> (got ${target})`
      })
    })

    return { inspect } as const
  })
}) {}

export { branchViews, compact, defaultLines, type InspectOptions, InspectView, recipesViews, roomViews, runViews, sessionViews, toolViews } from "../domain/Inspect.js"
