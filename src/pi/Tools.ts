/**
 * The Pi tools troupe registers: `spawn`, `message`, `inspect`, `register_tool` (pi-actors
 * 0.17 shapes) and `bg_start`, `bg_stop`, `bg_list`, `bg_logs` (pi-vers background-process
 * shapes, implemented as runs). Each tool decodes its parameters, runs one effect on the
 * session's connection and returns compact text plus JSON-safe `details`; failures are thrown
 * as one-line errors.
 */
import { Effect, Either, Option, Schema, Stream } from "effect"
import { isAbsolute, resolve } from "node:path"
import { RunInfo, StatusFilter } from "../domain/Run.js"
import { MessageResult } from "../services/Router.js"
import { Actors } from "../services/Actors.js"
import { decodeRegisterInput, Registry } from "../services/Registry.js"
import type { Connection } from "./Connection.js"
import type { JsonSchema, PiContext, PiTool, PiToolResult } from "./PiHost.js"

/** Gets the session's connection for a tool call (connecting on first use). */
export type Connect = (ctx: PiContext) => Promise<Connection>

const str = (description: string): JsonSchema => ({ type: "string", description })
const bool = (description: string): JsonSchema => ({ type: "boolean", description })
const obj = (description: string): JsonSchema => ({ type: "object", description, additionalProperties: true })
const num = (description: string): JsonSchema => ({ type: "number", description })
const object = (properties: Record<string, JsonSchema>, required: ReadonlyArray<string> = []): JsonSchema => ({
  type: "object",
  properties,
  required,
  additionalProperties: false
})

/** A tool result with text and JSON-safe details. */
export const result = (text: string, details: unknown): PiToolResult => ({
  content: [{ type: "text", text }],
  details: details === undefined ? undefined : JSON.parse(JSON.stringify(details))
})

const encodeRun = Schema.encodeSync(RunInfo)
const encodeMessage = Schema.encodeSync(MessageResult)
const decodeFilter = Schema.decodeUnknownEither(StatusFilter)

const text = (value: unknown): string | undefined => (typeof value === "string" && value.trim() !== "" ? value : undefined)
const record = (value: unknown): Record<string, unknown> | undefined =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
const lines = (value: unknown): number | undefined => {
  const n = typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : undefined
  if (n === undefined) return undefined
  if (!Number.isInteger(n) || n <= 0) throw new Error(`lines must be a positive integer, got ${JSON.stringify(value)}`)
  return n
}

/** The text `spawn` (and async recipe tools) return: the address and what to do next. */
export const spawnText = (info: RunInfo, mode: PiContext["mode"]): string => {
  const head = `spawned run:${info.id} status=${info.state} recipe=${info.recipe} state_dir=${info.state_dir}`
  const next = `Next: inspect target=run:${info.id} view=status|tail · message to=run:${info.id} type=control.stop to stop it.`
  const report = mode === "print"
    ? `Print mode (pi -p): completion will not be reported; check it with inspect target=run:${info.id} view=status.`
    : "Its completion arrives as a follow-up message."
  return `${head}\n${next}\n${report}`
}

/** A recipe reference from `file`/`recipe`: ids stay ids, paths resolve against the session cwd. */
export const recipeRef = (ref: string, cwd: string): string =>
  ref.includes("/") || ref.endsWith(".json") ? (isAbsolute(ref) ? ref : resolve(cwd, ref)) : ref

const unsupported = (field: string, why: string) => new Error(`${field} is not supported by troupe: ${why}`)

/** `spawn` (pi-actors 0.17): start a run from a recipe or an inline command template. */
export const spawnTool = (connect: Connect): PiTool => ({
  name: "spawn",
  label: "Spawn",
  description:
    "Create an addressable actor (run:<id>) from a recipe (file/recipe) or an inline command template. Returns at once with the run address; completion arrives as a follow-up message.",
  promptSnippet: "spawn: start a recipe or command template as a background actor run:<id>",
  parameters: object({
    recipe: str("Recipe id (user root or packaged library) or a recipe JSON path."),
    file: str("Alias of recipe (pi-actors): a recipe JSON file or name."),
    template: {
      description: "Inline command template: a command string, a sequence array, or a node object (parallel, retry, timeout, …).",
      anyOf: [{ type: "string" }, { type: "array" }, { type: "object" }]
    },
    values: obj("Runtime placeholder values passed to the actor."),
    as: str("Run id for the actor: run:<id> or <id> (generated when absent)."),
    artifacts: obj("Not supported (pi-actors ad hoc artifacts): declare artifacts in the recipe."),
    state_dir: str("Not supported: troupe keeps run state in TROUPE_HOME/runs/<id>."),
    verbose: bool("Return the full run JSON instead of compact text."),
    agent: bool("true: start a Pi agent (pi --mode rpc) as the run instead of a recipe or template; give it task (and model). Send it task.prompt / agent.steer / agent.follow_up / agent.abort messages; each finished task arrives as a follow-up."),
    task: str("With agent: the agent's first task (prompt text)."),
    model: str("With agent: the model, provider/modelId."),
    worktree: bool("true: run in an own git worktree on the new branch troupe/<id> (from HEAD of the repository holding the working directory); the follow-up reports the diff stat, inspect view=diff shows it."),
    on: str("Where the run's leaves run unless they say otherwise: local (default), vm:<id>, commit:<id> (a VM restored for the run) or golden. With agent: true, where Pi runs: local or vm:<id> (Pi survives dropped SSH connections there).")
  }),
  execute: async (_id, params, signal, _update, ctx) => {
    if (params.state_dir !== undefined) throw unsupported("state_dir", "run state lives in TROUPE_HOME/runs/<id> (inspect view=files shows it)")
    if (params.artifacts !== undefined) throw unsupported("artifacts", "declare artifacts in a recipe (\"artifacts\": {name: path}) and spawn that recipe")
    if (params.agent === true) {
      if (params.template !== undefined || text(params.recipe) !== undefined || text(params.file) !== undefined) throw new Error("spawn with agent takes task (and model), not recipe, file or template")
      const conn = await connect(ctx)
      const info = await conn.run(
        Effect.flatMap(Actors, (actors) => actors.spawn({ kind: "agent", task: text(params.task), model: text(params.model), as: text(params.as), cwd: ctx.cwd, isolation: params.worktree === true ? "worktree" : undefined, on: text(params.on) })),
        signal
      )
      return result(params.verbose === true ? JSON.stringify(encodeRun(info), null, 2) : spawnText(info, ctx.mode), encodeRun(info))
    }
    if (params.task !== undefined || params.model !== undefined) throw new Error("task and model apply only with agent: true")
    const ref = text(params.recipe) ?? text(params.file)
    if (ref === undefined && params.template === undefined) throw new Error("spawn needs recipe (or file) or template")
    if (ref !== undefined && params.template !== undefined) throw new Error("spawn takes either recipe/file or template, not both")
    const values = params.values === undefined ? {} : record(params.values)
    if (values === undefined) throw new Error("values must be an object")
    const conn = await connect(ctx)
    const info = await conn.run(
      Effect.flatMap(Actors, (actors) =>
        actors.spawn({
          recipe: ref === undefined ? undefined : recipeRef(ref, ctx.cwd),
          template: params.template,
          values,
          as: text(params.as),
          cwd: ctx.cwd,
          isolation: params.worktree === true ? "worktree" : undefined,
          on: text(params.on)
        })
      ),
      signal
    )
    return result(params.verbose === true ? JSON.stringify(encodeRun(info), null, 2) : spawnText(info, ctx.mode), encodeRun(info))
  }
})

const messageText = (m: MessageResult): string =>
  [
    `message ${m.id} ${m.type} from=${m.from}${m.sender === undefined ? "" : ` sender=${m.sender}`} to=${m.to}`,
    `delivered=${m.delivered} persisted=${m.persisted} queued=${m.queued} consumer=${m.consumer}`,
    ...(m.reason === undefined ? [] : [`reason=${m.reason}`]),
    ...(m.state === undefined ? [] : [`state=${m.state}`]),
    ...(m.run === undefined ? [] : [`run=run:${m.run}`]),
    ...(m.flag === undefined ? [] : [`flag=${m.flag}`])
  ].join(" ")

/** `message` (pi-actors 0.17): one typed envelope to one address. */
export const messageTool = (connect: Connect): PiTool => ({
  name: "message",
  label: "Message",
  description:
    "Send one typed message to an actor address: run:<id> (control.* or its mailbox), branch:<run>/<label>, room:<run>, tool:<name>, coordinator or session:<id>. The result says whether it was delivered, persisted or queued.",
  promptSnippet: "message: send a typed message to run:<id>, branch:<run>/<label>, room:<run>, tool:<name>",
  parameters: object(
    {
      to: str("Destination address, e.g. run:<id>, branch:<run>/<label>, room:<run>, tool:<name>, coordinator, session:<id>."),
      type: str("Message type, e.g. control.stop, control.continue, task.assign (lowercase dotted)."),
      body: { description: "Message body: a string or JSON value.", anyOf: [{ type: "string" }, { type: "object" }, { type: "array" }, { type: "number" }, { type: "boolean" }] },
      summary: str("Short human-facing summary (shown in previews)."),
      from: str("Sender address: coordinator (default), or a run this session owns or one of its branches (e.g. branch:<run>/<label> posting actor.join to room:<run>); anything else is rejected."),
      reply_to: str("Id of the message this replies to."),
      correlation_id: str("Correlation id linking a workflow's messages."),
      metadata: obj("Structured metadata (e.g. {recipients: [...]} for a room multicast)."),
      verbose: bool("Return the full JSON result instead of compact text.")
    },
    ["to", "type"]
  ),
  execute: async (_id, params, signal, _update, ctx) => {
    const { verbose, ...envelope } = params
    const conn = await connect(ctx)
    const sent = await conn.run(Effect.flatMap(Actors, (actors) => actors.message(envelope)), signal)
    const details = encodeMessage(sent)
    return result(verbose === true ? JSON.stringify(details, null, 2) : messageText(sent), details)
  }
})

/** `inspect` (pi-actors 0.17): one view of an actor or of the recipe registry. */
export const inspectTool = (connect: Connect): PiTool => ({
  name: "inspect",
  label: "Inspect",
  description:
    "Inspect an actor. run:<id> views: status, tail, messages, inbox, artifacts, files, mailbox, communication, tree, recipe, output and events (agent runs); branch:<run>/<label>; room:<run> status/messages/previews/roster/contacts; coordinator and session:<id> status/runs; tool:<name> status/schema; recipes status/summary/doctor.",
  promptSnippet: "inspect: read an actor's status, output tail, messages, room roster or a tool's schema",
  parameters: object(
    {
      target: str("Address to inspect: run:<id>, branch:<run>/<label>, room:<run>, coordinator, session:<id>, session:all, tool:<name>, recipes."),
      view: str("View name (default status); an unknown view lists the valid ones."),
      lines: { description: "Line count for tail/messages views (default 40).", anyOf: [{ type: "integer" }, { type: "string" }] },
      status: str("Run filter for coordinator/session views: all, active, terminal, running, done, failed, cancelled, killed, lost."),
      id: str("Recipe id for target=recipes view=doctor: report that id's files alone."),
      verbose: bool("Return the view's JSON data instead of compact text.")
    },
    ["target"]
  ),
  execute: async (_id, params, signal, _update, ctx) => {
    const target = text(params.target)
    if (target === undefined) throw new Error("inspect needs target")
    const n = lines(params.lines)
    const rawStatus = text(params.status)
    const status = rawStatus === undefined ? undefined : decodeFilter(rawStatus)
    if (status !== undefined && Either.isLeft(status)) throw new Error(`status must be one of: ${StatusFilter.literals.join(", ")}`)
    const conn = await connect(ctx)
    const view = await conn.run(
      Effect.flatMap(Actors, (actors) =>
        actors.inspect(target, text(params.view), { lines: n, status: status === undefined ? undefined : status.right, id: text(params.id) })
      ),
      signal
    )
    const body = params.verbose === true ? JSON.stringify(view.data, null, 2) : `${view.target} view=${view.view}${view.text}`
    return result(body, { target: view.target, view: view.view, data: view.data })
  }
})

/**
 * Maps pi-actors' `register_tool` parameters onto troupe's registry input: `values` are the
 * recipe's `defaults`, an empty `template` deletes like `null`, `args` stays a comma list.
 */
export const registerInputOf = (params: Record<string, unknown>): Record<string, unknown> => {
  if (params.state_dir !== undefined) throw unsupported("state_dir", "run state lives in TROUPE_HOME/runs/<id>")
  const { values, template, verbose: _verbose, ...rest } = params
  return {
    ...rest,
    ...(values === undefined ? {} : { defaults: values }),
    ...(template === undefined ? {} : { template: template === "" ? null : template })
  }
}

/** `register_tool` (pi-actors 0.17): create, update or delete a recipe file in the user root. */
export const registerTool = (connect: Connect, refresh: (conn: Connection) => Promise<void>): PiTool => ({
  name: "register_tool",
  label: "Register Tool",
  description:
    "Create, update (update=true) or delete (template=null or \"\") a user recipe file; every recipe in the user root is a tool in every session. Args are derived from {placeholders} unless given.",
  promptSnippet: "register_tool: save a command template or recipe as a durable tool (a user recipe file)",
  parameters: object(
    {
      name: str("Tool name in snake_case (^[a-z][a-z0-9_]*$); also the recipe file name."),
      description: str("What the tool does, for the model. Required when creating."),
      template: {
        description: "Command template ({arg} or {arg=default} placeholders), a sequence array, a node object, or a recipe file reference; null or \"\" deletes the tool.",
        anyOf: [{ type: "string" }, { type: "array" }, { type: "object" }, { type: "null" }]
      },
      args: str("Comma-separated argument declarations (e.g. file,lang:enum(en,de),n:int). Usually derived from the template."),
      values: obj("Default values of the recipe's placeholders (the recipe's defaults)."),
      async: bool("true: calling the tool spawns a background run instead of waiting for it."),
      update: bool("true to overwrite an existing tool; omitted fields keep their old value."),
      state_dir: str("Not supported: troupe keeps run state in TROUPE_HOME/runs/<id>."),
      verbose: bool("Return the full JSON result.")
    },
    ["name"]
  ),
  execute: async (_id, params, signal, _update, ctx) => {
    const input = registerInputOf(params)
    const conn = await connect(ctx)
    const done = await conn.runLocal(
      Effect.flatMap(decodeRegisterInput(input), (decoded) => Effect.flatMap(Registry, (registry) => registry.register(decoded))),
      signal
    )
    await refresh(conn)
    const line = `${done.action} tool ${done.name} (${done.path})${done.action === "deleted" ? "" : `; it is now a tool in every session${done.async === true ? " (async: calls spawn a run)" : ""}`}`
    return result(params.verbose === true ? JSON.stringify(done, null, 2) : line, done)
  }
})

// --- bg_* (pi-vers background processes, as runs) ------------------------------------------

/** Run id of background process `id`: `bg-<id>` (so `bg_*` never touches other runs). */
export const bgRunId = (id: string): string => `bg-${id}`
const bgPattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,60}$/

const bgId = (value: unknown): string => {
  const id = text(value)
  if (id === undefined || !bgPattern.test(id)) throw new Error(`id must match ${bgPattern.source}, got ${JSON.stringify(value)}`)
  return id
}

const lastLines = (s: string, n: number): string => {
  const all = s.replace(/\n$/, "").split("\n")
  return all.slice(Math.max(0, all.length - n)).join("\n")
}

const readLog = (run: string, stream: "stdout" | "stderr") =>
  Effect.flatMap(Actors, (actors) =>
    actors.logs(run, { stream }).pipe(
      Stream.decodeText(),
      Stream.runFold("", (acc, s) => acc + s)
    )
  )

const bgState = (info: RunInfo): string =>
  info.state === "running" || info.state === "starting" ? "RUNNING" : `EXITED(${info.code ?? info.state})`

/** `bg_start` (pi-vers): a long-lived shell command as run `bg-<id>`; an earlier one is killed. */
export const bgStartTool = (connect: Connect): PiTool => ({
  name: "bg_start",
  label: "Start Background Process",
  description:
    "Start a long-lived background process (e.g. a dev server) as run bg-<id>. A running process with the same id is killed first. Waits waitMs (default 2000) and returns the first output.",
  parameters: object(
    {
      id: str("Unique name for this process (e.g. 'vite', 'server')."),
      command: str("Shell command to run (bash -lc)."),
      cwd: str("Working directory (default: the session's)."),
      waitMs: num("Milliseconds to wait for initial output before returning (default 2000, at most 60000).")
    },
    ["id", "command"]
  ),
  execute: async (_id, params, signal, _update, ctx) => {
    const id = bgId(params.id)
    const command = text(params.command)
    if (command === undefined) throw new Error("command must be a non-empty string")
    const waitMs = params.waitMs === undefined ? 2000 : Number(params.waitMs)
    if (!Number.isFinite(waitMs) || waitMs < 0 || waitMs > 60_000) throw new Error("waitMs must be between 0 and 60000")
    const cwd = text(params.cwd) === undefined ? ctx.cwd : resolve(ctx.cwd, params.cwd as string)
    const run = bgRunId(id)
    const conn = await connect(ctx)
    const out = await conn.run(
      Effect.gen(function* () {
        const actors = yield* Actors
        const active = yield* actors.list({ status: "active" })
        if (active.some((r) => r.id === run)) yield* actors.kill(run)
        const info = yield* actors.spawn({ template: "bash -lc {bg_command}", values: { bg_command: command }, as: run, cwd })
        const outcome = yield* actors.wait(info.id, { timeoutMs: waitMs })
        // The report is read from the run's logs, after the wait: every line it shows is in
        // the log files already (LeafCapture writes each chunk there as it arrives, before the
        // run can turn terminal), so `bg_logs` afterwards shows the same lines, or more.
        const stdout = yield* readLog(info.id, "stdout")
        const stderr = yield* readLog(info.id, "stderr")
        // `outcome.run` is read at the end of the wait: its process ids, not the spawn's (none yet).
        return { info: outcome.run, alive: outcome.timed_out, stdout, stderr }
      }),
      signal
    )
    const pid = out.info.processes[0]?.pid
    const parts = [
      `Process "${id}" ${out.alive ? "started (running)" : `exited (code: ${out.info.code ?? out.info.state})`} as run:${run}`,
      `PID: ${pid ?? "-"}`,
      `Command: ${command}`,
      `CWD: ${cwd}`,
      ...(out.stdout === "" ? [] : ["", "--- stdout ---", lastLines(out.stdout, 20)]),
      ...(out.stderr === "" ? [] : ["", "--- stderr ---", lastLines(out.stderr, 20)])
    ]
    return result(parts.join("\n"), { id, run: `run:${run}`, pid, alive: out.alive })
  }
})

/** `bg_stop` (pi-vers): kills run `bg-<id>` (SIGTERM, grace, SIGKILL — the whole process group). */
export const bgStopTool = (connect: Connect): PiTool => ({
  name: "bg_stop",
  label: "Stop Background Process",
  description: "Stop a background process by id (its whole process group: SIGTERM, then SIGKILL after the grace period).",
  parameters: object(
    {
      id: str("Process id to stop."),
      signal: str("Accepted for pi-vers compatibility; troupe always sends SIGTERM, then SIGKILL after the grace period.")
    },
    ["id"]
  ),
  execute: async (_id, params, signal, _update, ctx) => {
    const id = bgId(params.id)
    const conn = await connect(ctx)
    const done = await conn.run(Effect.flatMap(Actors, (actors) => actors.kill(bgRunId(id))), signal)
    const line = done.applied ? `Process "${id}" stopped.` : `Process "${id}" already exited (${done.state}).`
    return result(line, { id, run: `run:${bgRunId(id)}`, applied: done.applied, state: done.state })
  }
})

/** `bg_list` (pi-vers): this session's background processes. */
export const bgListTool = (connect: Connect): PiTool => ({
  name: "bg_list",
  label: "List Background Processes",
  description: "List this session's background processes (runs bg-<id>) and their status.",
  parameters: object({}),
  execute: async (_id, _params, signal, _update, ctx) => {
    const conn = await connect(ctx)
    const runs = await conn.run(Effect.flatMap(Actors, (actors) => actors.list({ status: "all" })), signal)
    const bg = runs.filter((r) => r.id.startsWith("bg-"))
    if (bg.length === 0) return result("No background processes.", { count: 0 })
    const rows = bg.map((r) => `${r.id.slice(3)}: ${bgState(r)} | PID ${r.processes[0]?.pid ?? "-"} | run:${r.id} | ${String(r.values.bg_command ?? "")}`)
    return result(rows.join("\n"), { count: bg.length, runs: bg.map((r) => ({ id: r.id.slice(3), run: `run:${r.id}`, state: r.state, code: r.code })) })
  }
})

/** `bg_logs` (pi-vers): the last lines of a background process's stdout/stderr. */
export const bgLogsTool = (connect: Connect): PiTool => ({
  name: "bg_logs",
  label: "Background Process Logs",
  description: "Get the recent stdout/stderr lines of a background process.",
  parameters: object(
    {
      id: str("Process id."),
      last: num("Number of recent lines (default 50)."),
      stream: { type: "string", enum: ["stdout", "stderr", "both"], description: "'stdout', 'stderr' or 'both' (default)." }
    },
    ["id"]
  ),
  execute: async (_id, params, signal, _update, ctx) => {
    const id = bgId(params.id)
    const n = params.last === undefined ? 50 : lines(params.last)!
    const which = (text(params.stream) ?? "both") as "stdout" | "stderr" | "both"
    if (!["stdout", "stderr", "both"].includes(which)) throw new Error("stream must be stdout, stderr or both")
    const run = bgRunId(id)
    const conn = await connect(ctx)
    const found = await conn.run(
      Effect.gen(function* () {
        const actors = yield* Actors
        const info = (yield* actors.list({ status: "all" })).find((r) => r.id === run)
        if (info === undefined) return Option.none()
        const stdout = which === "stderr" ? "" : yield* readLog(run, "stdout")
        const stderr = which === "stdout" ? "" : yield* readLog(run, "stderr")
        return Option.some({ info, stdout, stderr })
      }),
      signal
    )
    if (Option.isNone(found)) throw new Error(`No process found with ID "${id}"`)
    const out = found.value
    const running = out.info.state === "running" || out.info.state === "starting"
    const parts = [`Process "${id}": ${bgState(out.info)}`]
    if (which !== "stderr") parts.push("", `--- stdout (last ${n}) ---`, lastLines(out.stdout, n) || "(empty)")
    if (which !== "stdout") parts.push("", `--- stderr (last ${n}) ---`, lastLines(out.stderr, n) || "(empty)")
    return result(parts.join("\n"), { id, run: `run:${run}`, alive: running })
  }
})

/** Every core tool (names reserved in the registry: recipes cannot shadow them). */
export const coreTools = (connect: Connect, refresh: (conn: Connection) => Promise<void>): ReadonlyArray<PiTool> => [
  spawnTool(connect),
  messageTool(connect),
  inspectTool(connect),
  registerTool(connect, refresh),
  bgStartTool(connect),
  bgStopTool(connect),
  bgListTool(connect),
  bgLogsTool(connect)
]
