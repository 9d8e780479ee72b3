/**
 * `PiRpc.startRemote` / `attachRemote` / `stopRemote`: Pi in RPC mode on a Vers VM, under the
 * `setsid` supervisor of RemoteSupervisor.ts, so that it survives SSH drops (SPEC-vers §5
 * "Remote agent process"; docs/agents.md "Agents on VMs").
 *
 * - Commands go over ONE SSH channel (`cat` into the agent's FIFO), written in order by the
 *   session's single writer; a channel that broke is reopened for the next write.
 * - Events are read from the agent's `events.jsonl` from a byte offset (`tail -c +N -f`, GNU
 *   coreutils' `--pid` ending it when the supervisor exits). Only whole lines are passed on; a
 *   dropped connection resumes at the end of the last whole line, so nothing is lost or repeated.
 * - Each event line (every record that is not a `response`) gets a {@link StreamMark}: the byte
 *   offset after it, how many events came before and including it, and a sha256 chain over their
 *   bytes. A consumer takes one mark per event it folds (`nextMark`, in order) and persists the
 *   mark with the fold, so a restarted consumer resumes with `from: mark` exactly after it.
 */
import { createHash, randomBytes } from "node:crypto"
import { Effect, Exit, Queue, Schedule, Scope, Stream } from "effect"
import { PiRpcClosed } from "../../domain/PiRpc.js"
import type { VmId } from "../../domain/Vers.js"
import { shellQuote, shellQuoteWord } from "../../domain/ShellQuote.js"
import type { SshProcess, SshShape } from "../Ssh.js"
import { supervisorPath, supervisorScript } from "./RemoteSupervisor.js"
import { connect, type PiRpcDuplex, type PiRpcOptions, type PiRpcSession } from "./Session.js"

/** Where a consumer stands in an agent's event file: see the module doc. */
export interface StreamMark {
  /** Bytes of `events.jsonl` consumed (whole lines only). */
  readonly offset: number
  /** Event records consumed (responses not counted). */
  readonly events: number
  /** sha256 (hex) chained over the events' line bytes: `sha256(previous digest + line)`; `""` before any. */
  readonly digest: string
}

/** The mark of an empty event file. */
export const initialMark: StreamMark = { offset: 0, events: 0, digest: "" }

/** A started remote agent: its VM, directory (relative to the login home) and supervisor pid (= process group). */
export interface RemoteAgent {
  readonly vmId: VmId
  readonly dir: string
  readonly pid: number
  /** The supervisor's start time (`/proc/<pid>/stat` field 22, clock ticks since boot), for reaping by verified identity; 0 when unknown. */
  readonly startTime?: number | undefined
}

/** Options of {@link startRemote}. */
export interface RemoteStartOptions {
  readonly vmId: VmId
  /** The agent directory, relative to the login home (`.troupe/agents/<run>`). */
  readonly dir: string
  /** Pi's command line on the VM (a shell command, e.g. `pi` or `node /opt/fake-pi.mjs`); `--mode rpc --no-session` is appended. */
  readonly pi: string
  /** Pi's working directory on the VM (default the login home). */
  readonly cwd?: string | undefined
  /** Pi's environment, written to `envFile` (mode 0600) before Pi starts: never on a command line. */
  readonly env: Readonly<Record<string, string>>
  /** Where the environment goes (`/etc/profile.d/troupe-agent.sh`; relative = under the login home). */
  readonly envFile: string
}

/** Options of {@link attachRemote}. */
export interface RemoteAttachOptions extends PiRpcOptions {
  /** Where to resume reading (default the start of the file). */
  readonly from?: StreamMark | undefined
}

/** A session with a remote Pi (see the module doc). */
export interface RemotePiSession extends PiRpcSession {
  readonly agent: RemoteAgent
  /** The mark after the next event not yet taken (events in order; call once per event received). */
  readonly nextMark: Effect.Effect<StreamMark>
  /** Starts reading events: call it after subscribing, so the first event is not missed. */
  readonly open: Effect.Effect<void>
}

/** Reconnecting after a dropped connection: 100 ms doubling up to 5 s between tries, for up to 2 minutes; reset by each chunk read. */
const reconnectPolicy = Schedule.exponential("100 millis").pipe(Schedule.union(Schedule.spaced("5 seconds")), Schedule.upTo("2 minutes"))
/** How long the supervisor may take to write its pid file (50 ms steps). */
const pidWaitSteps = 200

const decoder = new TextDecoder()
const closed = (message: string) => new PiRpcClosed({ message })
const q = shellQuoteWord

/** The env file's text: `export K='v'` lines. A name that is not a shell identifier is left out. */
export const envFileText = (env: Readonly<Record<string, string>>): string =>
  Object.entries(env)
    .filter(([k]) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
    .map(([k, v]) => `export ${k}=${q(v)}\n`)
    .join("")

const parentOf = (file: string) => {
  const slash = file.lastIndexOf("/")
  return slash <= 0 ? undefined : file.slice(0, slash)
}

/**
 * Installs the supervisor (when absent or changed), writes Pi's environment over SFTP (0600),
 * and starts `setsid sh <supervisor> …` in `dir`; returns once the supervisor wrote its pid.
 * A previous generation's files in `dir` are replaced (its event file starts empty).
 * @fails PiRpcClosed naming the VM when SSH/SFTP fails or the supervisor does not start.
 */
export const startRemote = (ssh: SshShape, options: RemoteStartOptions) =>
  Effect.gen(function* () {
    const { vmId, dir } = options
    const script = new TextEncoder().encode(supervisorScript)
    const present = yield* ssh.stat(vmId, supervisorPath).pipe(
      Effect.map((st) => st.size === script.byteLength),
      Effect.catchTag("SftpError", () => Effect.succeed(false))
    )
    if (!present) {
      yield* ssh.mkdir(vmId, ".troupe/agents", { recursive: true })
      yield* ssh.writeFile(vmId, supervisorPath, Stream.make(script), { mode: 0o644 })
    }
    const envParent = parentOf(options.envFile)
    if (envParent !== undefined) yield* ssh.mkdir(vmId, envParent, { recursive: true })
    yield* ssh.writeFile(vmId, options.envFile, Stream.make(new TextEncoder().encode(envFileText(options.env))), { mode: 0o600 })
    yield* ssh.mkdir(vmId, dir, { recursive: true, mode: 0o700 })
    const launch = [
      `rm -f ${q(`${dir}/pid`)};`,
      `(setsid ${shellQuote(["sh", supervisorPath, dir, options.envFile, options.cwd ?? ".", options.pi])} </dev/null >/dev/null 2>&1 &);`,
      `i=0; while [ ! -s ${q(`${dir}/pid`)} ] && [ $i -lt ${pidWaitSteps} ]; do sleep 0.05; i=$((i+1)); done;`,
      `pid=$(cat ${q(`${dir}/pid`)}); echo "$pid"; cut -d' ' -f22 /proc/"$pid"/stat 2>/dev/null`
    ].join(" ")
    const result = yield* ssh.run(vmId, launch)
    const [pidText = "", startText = ""] = decoder.decode(result.stdout).trim().split("\n")
    const pid = Number(pidText.trim())
    if (!Number.isInteger(pid) || pid <= 0) return yield* closed(`the agent supervisor did not start on VM ${vmId}`)
    const startTime = Number(startText.trim())
    return { vmId, dir, pid, startTime: Number.isSafeInteger(startTime) && startTime > 0 ? startTime : 0 } satisfies RemoteAgent
  }).pipe(
    Effect.catchIf((e): e is Exclude<typeof e, PiRpcClosed> => !(e instanceof PiRpcClosed), (e) => Effect.fail(closed(`cannot start Pi on VM ${options.vmId}: ${e.message}`))),
    Effect.withSpan("PiRpc.startRemote", { attributes: { vmId: options.vmId } })
  )

/**
 * Stops a remote agent: SIGTERM to the supervisor's process group (Pi and its tools), up to
 * `graceMs` for it to end, then SIGKILL — only while `dir/pid` still names that supervisor.
 * Files stay (the event log remains readable). Never fails (an unreachable VM is logged).
 */
export const stopRemote = (ssh: SshShape, agent: RemoteAgent, graceMs: number) => {
  const g = `-${agent.pid}`
  const steps = Math.max(1, Math.ceil(graceMs / 100))
  const script = [
    `[ "$(cat ${q(`${agent.dir}/pid`)} 2>/dev/null)" = ${agent.pid} ] || exit 0;`,
    `kill -TERM ${g} 2>/dev/null;`,
    `i=0; while kill -0 ${g} 2>/dev/null && [ $i -lt ${steps} ]; do sleep 0.1; i=$((i+1)); done;`,
    `kill -KILL ${g} 2>/dev/null; true`
  ].join(" ")
  return ssh.run(agent.vmId, script, { check: false }).pipe(
    Effect.asVoid,
    Effect.catchAll((e) => Effect.logWarning(`PiRpc: the agent on VM ${agent.vmId} (pid ${agent.pid}) was not stopped: ${e.message}`)),
    Effect.withSpan("PiRpc.stopRemote")
  )
}

/** Why the event stream ended, from the supervisor's files: Pi's exit status and last stderr line. */
const endReason = (ssh: SshShape, agent: RemoteAgent) =>
  ssh.run(agent.vmId, `echo "$(cat ${q(`${agent.dir}/exit`)} 2>/dev/null)"; tail -n 1 ${q(`${agent.dir}/stderr.log`)} 2>/dev/null`, { check: false }).pipe(
    Effect.map((r) => {
      const [code = "", last = ""] = decoder.decode(r.stdout).split("\n").map((s) => s.trim())
      const how = code === "" ? "ended" : `exited with code ${code}`
      return closed(`Pi on VM ${agent.vmId} (pid ${agent.pid}) ${how}${last === "" ? "" : `: ${last}`}`)
    }),
    Effect.orElseSucceed(() => closed(`Pi on VM ${agent.vmId} (pid ${agent.pid}) ended`))
  )

/**
 * Connects to a started remote agent for the scope (the agent keeps running when the scope
 * closes: stop it with {@link stopRemote}). Events flow once `open` is called.
 */
export const attachRemote = (ssh: SshShape, agent: RemoteAgent, options: RemoteAttachOptions = {}) =>
  Effect.gen(function* () {
    const events = `${agent.dir}/events.jsonl`
    const marks = yield* Effect.acquireRelease(Queue.unbounded<StreamMark>(), Queue.shutdown)
    const opened = yield* Effect.makeLatch(false)
    let mark = options.from ?? initialMark

    // Whole lines only; each event line advances the mark (see the module doc).
    let parts: Array<Uint8Array> = []
    const takeLines = (chunk: Uint8Array): Array<Uint8Array> => {
      const out: Array<Uint8Array> = []
      let start = 0
      for (;;) {
        const lf = chunk.indexOf(0x0a, start)
        if (lf === -1) break
        const piece = chunk.subarray(start, lf + 1)
        let line = piece
        if (parts.length > 0) {
          line = new Uint8Array(parts.reduce((n, p) => n + p.length, 0) + piece.length)
          let at = 0
          for (const p of parts) {
            line.set(p, at)
            at += p.length
          }
          line.set(piece, at)
          parts = []
        }
        start = lf + 1
        out.push(line)
        const body = line.subarray(0, line.length - 1)
        let isResponse = false
        try {
          isResponse = (JSON.parse(decoder.decode(body)) as { type?: unknown } | null)?.type === "response"
        } catch {
          // Not JSON: the session ends on it; counted as an event so marks stay aligned.
        }
        mark = isResponse
          ? { ...mark, offset: mark.offset + line.length }
          : { offset: mark.offset + line.length, events: mark.events + 1, digest: createHash("sha256").update(mark.digest).update(body).digest("hex") }
        if (!isResponse) Queue.unsafeOffer(marks, mark)
      }
      if (start < chunk.length) parts.push(chunk.slice(start))
      return out
    }

    const tailOnce = Stream.unwrapScoped(
      Effect.gen(function* () {
        parts = []
        const proc = yield* ssh.exec(agent.vmId, `exec tail -c +${mark.offset + 1} -f --pid=${agent.pid} ${q(events)}`)
        yield* Effect.forkScoped(Stream.runDrain(proc.stderr).pipe(Effect.ignore))
        const checkExit = Effect.flatMap(proc.exit, (exit) =>
          exit.code === 0 ? Effect.void : Effect.fail(closed(`reading Pi's events on VM ${agent.vmId} failed (tail exited with ${exit.code ?? exit.signal})`)))
        return Stream.concat(proc.stdout, Stream.drain(Stream.fromEffect(checkExit)))
      })
    ).pipe(Stream.mapConcat(takeLines))

    const input: Stream.Stream<Uint8Array, PiRpcClosed> = Stream.unwrap(Effect.as(opened.await, tailOnce)).pipe(
      // Only transport failures reconnect; a closed session's reason passes through.
      Stream.retry(Schedule.whileInput(reconnectPolicy, (e: unknown) => !(e instanceof PiRpcClosed))),
      Stream.mapError((e) => (e instanceof PiRpcClosed ? e : closed(`lost the connection to VM ${agent.vmId}: ${e.message}`))),
      Stream.concat(Stream.unwrap(Effect.map(endReason(ssh, agent), (reason) => Stream.fail(reason))))
    )

    // One writer channel into the FIFO, reopened once it ended (a dropped connection ends it).
    // `1<>` never blocks on open, even when the supervisor is gone.
    interface Writer {
      readonly proc: SshProcess
      readonly scope: Scope.CloseableScope
      readonly ended: Effect.Effect<boolean>
    }
    let writer: Writer | undefined
    const openWriter = Effect.gen(function* () {
      const scope = yield* Scope.make()
      const proc = yield* ssh.exec(agent.vmId, `exec cat 1<>${q(`${agent.dir}/in.fifo`)}`).pipe(
        Scope.extend(scope),
        Effect.tapError(() => Scope.close(scope, Exit.void))
      )
      const end = yield* Effect.forkIn(Effect.ignore(proc.exit), scope)
      return { proc, scope, ended: Effect.map(end.poll, (o) => o._tag === "Some") } satisfies Writer
    })
    const dropWriter = Effect.suspend(() => {
      const w = writer
      writer = undefined
      return w === undefined ? Effect.void : Scope.close(w.scope, Exit.void)
    })
    yield* Effect.addFinalizer(() => dropWriter)
    const writeOnce = (bytes: Uint8Array) =>
      Effect.gen(function* () {
        if (writer !== undefined && (yield* writer.ended)) yield* dropWriter
        writer ??= yield* openWriter
        const proc = writer.proc
        // A write into a channel that dies meanwhile would wait for a drain that never comes.
        yield* Effect.raceFirst(proc.write(bytes), Effect.zipRight(Effect.ignore(proc.exit), Effect.fail(closed("the writer channel ended")))).pipe(
          Effect.tapError(() => dropWriter)
        )
      })
    const duplex: PiRpcDuplex<PiRpcClosed> = {
      input,
      write: (bytes) =>
        writeOnce(bytes).pipe(
          Effect.retry(reconnectPolicy),
          Effect.mapError((e) => closed(`cannot write to Pi on VM ${agent.vmId}: ${e.message}`))
        )
    }
    // A fresh id prefix: responses re-read from before `from` belong to an earlier session.
    const session = yield* connect(duplex, { idPrefix: `troupe-${randomBytes(4).toString("hex")}`, ...options })
    const remote: RemotePiSession = {
      ...session,
      agent,
      nextMark: Queue.take(marks),
      open: opened.open
    }
    return remote
  })
