/**
 * The per-command fallback of VmHost (docs/vmhost.md "Fallback"), used when the exec broker
 * cannot run on a VM (no `node`) or when forced with `mode: "exec"`. Each leaf is one SSH
 * channel whose shell checks the leaf's cwd, stdin file and command, then starts it with
 * `setsid` as its own process group. That group's leader reports itself first, as one framing
 * line on stderr that is not passed on:
 *
 *     \x1etroupe-leaf <pid> <start time in clock ticks>\n
 *
 * (a refusal before the start is `\x1etroupe-error <reason> <code> <message>\n`). Killing
 * (scope close, timeout, interruption) and `reap` run a short script over a fresh channel: TERM
 * to the group `-pgid` and to every process carrying the leaf's `TROUPE_LEAF_ID`, up to the
 * grace, then KILL. After a leaf's leader exits, the same sweep removes what it left behind.
 * Death by signal is reported as the signal (the shell re-raises it on itself).
 */
import { randomUUID } from "node:crypto"
import * as os from "node:os"
import { Clock, Deferred, Effect, Fiber, Option, Queue, Ref, Sink, Stream } from "effect"
import type { VmId } from "../../domain/Vers.js"
import { HostError, type HostShape, type LeafExit, type LeafProcess, type ProcessIdentity, type StartSpec } from "../Host.js"
import { shellQuote, type SshShape } from "../Ssh.js"

/** Options of {@link make}. */
export interface ExecHostOptions {
  /** The host's name, carried by identities (`vm:<id>`). */
  readonly name: string
  /** TERM → KILL grace, ms. */
  readonly graceMs: number
  /** Base environment of every leaf (under `spec.env`). */
  readonly env?: Readonly<Record<string, string>> | undefined
  /** The VM user's home (absolute), for `~` in cwd and argv. */
  readonly home: string
}

const marker = "\x1e"
/**
 * After a leaf's exit status came, how long its output may stay silent before the exit is
 * reported anyway (a process that is not the leaf's may hold the pipes): 2,000 ms.
 */
const outputIdleMs = 2_000
const q = (word: string) => shellQuote([word])
const unavailable = (message: string) => new HostError({ reason: "unavailable", code: 1, message })
const envName = /^[A-Za-z_][A-Za-z0-9_]*$/

/** `~` and `~/…` against `home`. */
export const expandHome = (p: string, home: string) => (p === "~" ? home : p.startsWith("~/") ? `${home}${p.slice(1)}` : p)

/** The shell line that checks and starts one leaf (see the module doc). */
export const leafCommand = (spec: StartSpec, env: Readonly<Record<string, string>>, leafId: string) => {
  const fail = `fail() { printf '${marker}troupe-error %s %s %s\\n' "$1" "$2" "$3" >&2; exit "$2"; }`
  const argv0 = spec.argv[0] ?? ""
  const lines = [
    fail,
    `cd ${q(spec.cwd)} 2>/dev/null || fail spawn 1 ${q(`working directory not found: ${spec.cwd}`)}`,
    ...(spec.stdin._tag === "File"
      ? [`{ [ -f ${q(spec.stdin.path)} ] && [ -r ${q(spec.stdin.path)} ]; } || fail io 1 ${q(`stdin file not readable: ${spec.stdin.path}`)}`]
      : []),
    `c=${q(argv0)}`,
    `case "$c" in */*) [ -e "$c" ] || fail spawn 127 "command not found: $c"; { [ -f "$c" ] && [ -x "$c" ]; } || fail spawn 126 "permission denied: $c";; ` +
    `*) command -v "$c" >/dev/null 2>&1 || fail spawn 127 "command not found: $c";; esac`,
    ...Object.entries({ ...env, TROUPE_LEAF_ID: leafId }).filter(([k]) => envName.test(k)).map(([k, v]) => `export ${k}=${q(v)}`),
    `setsid sh -c ${q(`printf '${marker}troupe-leaf %s %s\\n' "$$" "$(cut -d' ' -f22 /proc/$$/stat 2>/dev/null || echo 0)" >&2; exec "$@"`)} troupe-leaf ${shellQuote(spec.argv)}` +
    (spec.stdin._tag === "File" ? ` < ${q(spec.stdin.path)}` : spec.stdin._tag === "None" ? " < /dev/null" : ""),
    `s=$?`,
    `if [ "$s" -gt 128 ]; then g=$(kill -l "$s" 2>/dev/null) && trap - "$g" && kill -s "$g" $$; fi`,
    `exit "$s"`
  ]
  return lines.join("\n")
}

/** What {@link sweepCommand} kills: a leaf's group and the carriers of its marker. */
export interface SweepScriptTarget {
  /** The leaf's process group (its leader's pid); 0 when unknown. */
  readonly pgid: number
  /** The leader's start time, clock ticks since boot (`/proc/<pid>/stat` field 22); 0 when unknown. */
  readonly startTime: number
  /** The leaf's `TROUPE_LEAF_ID`, when known. */
  readonly marker: string | undefined
  /**
   * Reaping after the owner died: the group is signalled only while its leader is the leaf's
   * (same start time) or a member carries the marker, never a group whose id was reused.
   */
  readonly verifyGroup: boolean
}

/**
 * A POSIX sh script (Linux `/proc`, GNU or busybox grep) that sweeps what is left of a leaf, as
 * the exec broker's sweep does: up to 3 rounds of TERM to the group and to every process whose
 * environment carries `TROUPE_LEAF_ID=<marker>`, up to `graceMs` for them to go, then KILL and
 * up to 1 s for the kernel. Before concluding that nothing is left it re-reads, for up to 3 s,
 * processes started since the leaf whose environment reads back empty (one caught in the middle
 * of execve(2) may be a marked escapee). Prints how many processes it found at first.
 */
export const sweepCommand = (target: SweepScriptTarget, graceMs: number) => {
  const graceRounds = Math.max(1, Math.ceil(graceMs / 50))
  const pids = `while IFS=/ read -r _ _ n _; do [ "$n" = "$$" ] || echo "$n"; done`
  const list = target.marker === undefined
    ? `list() { :; }`
    : `list() { grep -lxzF ${q(`TROUPE_LEAF_ID=${target.marker}`)} /proc/[0-9]*/environ 2>/dev/null | ${pids}; }`
  // Field 9 (flags; PF_KTHREAD = 0x200000) is $7 and field 22 (start time) is ${20} after "comm) ".
  const stat = `l=; { read -r l < "/proc/$n/stat"; } 2>/dev/null || continue; set -- \${l##*) }`
  const unsettled = `unsettled() { grep -Lz . /proc/[0-9]*/environ 2>/dev/null | ${pids} | while read -r n; do ${stat}; ` +
    `[ "$1" != Z ] && [ $(($7 & 2097152)) -eq 0 ] && [ "\${20}" -ge ${target.startTime} ] && echo "$n"; done; }`
  const leader = target.pgid > 0 && target.verifyGroup
    ? `n=${target.pgid}; for x in 1; do ${stat}; [ "$1" != Z ] && [ "\${20}" = ${target.startTime} ] && return 0; done; ` +
      `for m in $(list); do n=$m; ${stat}; [ "$3" = ${target.pgid} ] && return 0; done; return 1`
    : "return 0"
  const group = target.pgid > 0
    ? `group() { kill -0 -- -${target.pgid} 2>/dev/null || return 1; ${leader}; }`
    : `group() { return 1; }`
  const signalGroup = target.pgid > 0 ? `kill -$1 -- -${target.pgid} 2>/dev/null` : ":"
  return [
    list,
    unsettled,
    group,
    `alive() { group || [ -n "$(list)" ]; }`,
    `sig() { g=; group && g=1; [ -n "$g" ] && ${signalGroup}; for n in $(list); do kill -$1 "$n" 2>/dev/null; done; }`,
    `gone() { i=0; while [ "$i" -lt "$1" ] && alive; do sleep 0.05; i=$((i+1)); done; }`,
    `settle() { i=0; while [ "$i" -lt 600 ] && ! alive && [ -n "$(unsettled)" ]; do sleep 0.005; i=$((i+1)); done; }`,
    `found=0; r=0`,
    `while [ "$r" -lt 3 ]; do settle; alive || break; [ "$r" = 0 ] && { found=$(list | wc -l); [ "$found" = 0 ] && found=1; }; ` +
      `sig TERM; gone ${graceRounds}; alive && { sig KILL; gone 20; }; r=$((r+1)); done`,
    `echo "$found"`
  ].join("\n")
}

const signalName = (signal: string) => (signal.startsWith("SIG") ? signal : `SIG${signal}`)

const leafExit = (exit: { readonly code: number | null; readonly signal: string | null }): LeafExit => {
  if (exit.signal !== null) {
    const name = signalName(exit.signal)
    const n = (os.constants.signals as Record<string, number | undefined>)[name] ?? 0
    return { code: 128 + n, signal: name }
  }
  return { code: exit.code ?? 1 }
}

/**
 * A {@link HostShape} on `vmId` with one SSH channel per leaf (see the module doc).
 * @fails (per call) HostError `unavailable` when SSH fails, `spawn`/`io` as LocalHost does.
 */
export const make = (ssh: SshShape, vmId: VmId, options: ExecHostOptions): HostShape => {
  const transport = (e: { readonly message: string }) => unavailable(e.message)

  const sweep = (target: SweepScriptTarget) =>
    ssh.run(vmId, sweepCommand(target, options.graceMs), { check: false }).pipe(
      Effect.map((r) => Number.parseInt(new TextDecoder().decode(r.stdout).trim(), 10) || 0),
      Effect.mapError(transport),
      Effect.timeoutFail({ duration: options.graceMs + 20_000, onTimeout: () => unavailable(`killing a leaf on VM ${vmId} did not finish in time`) })
    )

  const start = Effect.fn("VmHost.exec.start")(function* (spec: StartSpec) {
    const leafId = randomUUID()
    const cwd = expandHome(spec.cwd, options.home)
    const proc = yield* ssh.exec(vmId, leafCommand({ ...spec, cwd }, { ...options.env, ...spec.env }, leafId)).pipe(Effect.mapError(transport))
    // When output was last read, ms (Clock): an exit waits for the output while it flows.
    const lastOutput = yield* Ref.make(0)
    const touch = Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.set(lastOutput, now))
    const outputSettled = Effect.gen(function* () {
      yield* touch
      for (;;) {
        if (Option.isSome(yield* Effect.timeoutOption(proc.outputEnded, "250 millis"))) return
        if ((yield* Clock.currentTimeMillis) - (yield* Ref.get(lastOutput)) >= outputIdleMs) return
      }
    })
    const started = yield* Deferred.make<ProcessIdentity, HostError>()
    const stderr = yield* Queue.bounded<Option.Option<Uint8Array>>(64)
    const done = yield* Deferred.make<LeafExit, HostError>()
    // Splits the framing line off stderr; the rest goes to the leaf's stderr.
    yield* Effect.gen(function* () {
      let head = new Uint8Array(0)
      let framed = false
      yield* proc.stderr.pipe(
        Stream.runForEach((chunk) =>
          Effect.gen(function* () {
            yield* touch
            if (framed) return yield* Queue.offer(stderr, Option.some(chunk))
            const all = new Uint8Array(head.byteLength + chunk.byteLength)
            all.set(head)
            all.set(chunk, head.byteLength)
            const nl = all.indexOf(10)
            if (nl < 0) return void (head = all)
            framed = true
            const line = new TextDecoder().decode(all.subarray(0, nl))
            const rest = all.subarray(nl + 1)
            const leaf = /^\x1etroupe-leaf (\d+) (\d*)$/.exec(line)
            const error = /^\x1etroupe-error (\w+) (\d+) (.*)$/.exec(line)
            if (leaf !== null) {
              const pid = Number(leaf[1])
              yield* Deferred.succeed(started, { host: options.name, pid, pgid: pid, startTime: Number(leaf[2] || 0), marker: leafId })
            } else if (error !== null) {
              const reason = error[1] === "io" ? "io" : "spawn"
              yield* Deferred.fail(started, new HostError({ reason, code: Number(error[2]), message: error[3]! }))
            } else {
              const message = `the leaf could not start on VM ${vmId}: ${line.replace(/\x1e/g, "").slice(0, 300)}`
              yield* Deferred.fail(started, new HostError({ reason: "spawn", code: 1, message }))
            }
            if (rest.byteLength > 0) yield* Queue.offer(stderr, Option.some(rest))
          })
        ),
        Effect.catchAll((e) => Deferred.fail(started, transport(e))),
        Effect.ensuring(Effect.zipRight(
          Deferred.fail(started, unavailable(`the leaf on VM ${vmId} ended before it started`)),
          Queue.offer(stderr, Option.none())
        ))
      )
    }).pipe(Effect.forkScoped)

    const identity = yield* Deferred.await(started)
    if (spec.stdin._tag !== "Pipe") yield* proc.end
    const own: SweepScriptTarget = { pgid: identity.pgid, startTime: identity.startTime, marker: leafId, verifyGroup: false }

    // One sweep per leaf: by the exit fiber after a normal exit, or by the finalizer when the
    // scope closes first; a finalizer that finds the exit fiber sweeping waits for it instead
    // (a second sweep would be interrupted half-way with the scope).
    const phase = yield* Ref.make<"running" | "sweeping" | "closing">("running")
    const claim = (next: "sweeping" | "closing") => Ref.modify(phase, (p) => (p === "running" ? [true, next] : [false, p]))
    const warn = (e: HostError) => Effect.logWarning(`VmHost: a leaf on VM ${vmId} could not be killed: ${e.message}`)
    // At most `ms`, in an interruptible child so the bound holds inside a finalizer.
    const atMost = <A, E>(effect: Effect.Effect<A, E>, ms: number) =>
      Effect.fork(Effect.interruptible(Effect.ignore(Effect.timeoutOption(effect, ms)))).pipe(Effect.flatMap(Fiber.join))

    // Leader gone → sweep what it left behind, then report.
    yield* proc.exit.pipe(
      Effect.mapError(transport),
      Effect.tap(() => Effect.flatMap(claim("sweeping"), (mine) => (mine ? Effect.asVoid(sweep(own)) : Effect.void))),
      // The exit status may come before the last output: report the exit after the output
      // ended (as the broker does), or once it was silent for `outputIdleMs`.
      Effect.tap(() => outputSettled),
      Effect.map(leafExit),
      Effect.exit,
      Effect.flatMap((exit) => Deferred.done(done, exit)),
      Effect.forkScoped
    )
    // Scope closed first (interruption, timeout): kill the group and the marked escapees.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        if (!(yield* claim("closing"))) return yield* atMost<LeafExit, HostError>(Deferred.await(done), options.graceMs + 20_000)
        // Not made interruptible: in a fiber being interrupted that would stop it at once and
        // leave the tree running; `sweep` is bounded by its own timeout.
        yield* sweep(own).pipe(Effect.catchAll(warn))
        // The leader is gone, so its shell exits: wait for that status (at most 1 s) rather
        // than have the channel's own finalizer look for the command's processes again.
        yield* atMost(proc.exit, 1_000)
      })
    )

    const process: LeafProcess = {
      identity,
      stdout: proc.stdout.pipe(Stream.tap(() => touch), Stream.mapError(transport)),
      stderr: Stream.fromQueue(stderr).pipe(Stream.takeWhile(Option.isSome), Stream.map((o) => o.value)),
      stdin: spec.stdin._tag === "Pipe"
        ? Sink.forEach((chunk: Uint8Array) => Effect.ignore(proc.write(chunk))).pipe(Sink.mapEffect(() => proc.end))
        : Sink.drain,
      exit: Deferred.await(done),
      signal: (signal) =>
        ssh.run(vmId, `kill -s ${q(signal.replace(/^SIG/, ""))} -- -${identity.pgid}`).pipe(
          Effect.asVoid,
          Effect.mapError((e) => new HostError({ reason: "io", code: 1, message: `cannot send ${signal} on VM ${vmId}: ${e.message}` }))
        )
    }
    return process
  })

  return {
    name: options.name,
    start,
    resolve: (argv, cwd, _home) =>
      Effect.succeed((() => {
        const cmd = expandHome(argv[0] ?? "", options.home)
        const dir = expandHome(cwd, options.home)
        const full = !cmd.startsWith("/") && cmd.includes("/") ? `${dir.replace(/\/$/, "")}/${cmd}` : cmd
        return [full, ...argv.slice(1)]
      })()),
    reap: (identity) => sweep({ pgid: identity.pgid, startTime: identity.startTime, marker: identity.marker, verifyGroup: true })
  }
}
