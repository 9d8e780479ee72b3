// examples/room-demo/room-demo.json: one actor of the room demo, a labelled parallel branch
// (branch:<run>/<me>) of the run. It talks through the troupe CLI of this package; troupe sets
// TROUPE_TOKEN for the process, so every call acts as this run and the runtime verifies the
// `from` it claims (its run or one of its branches).
//
//   1. joins room:<run> (actor.join with role, caps, display) and posts a greeting;
//   2. sends a direct message to branch:<run>/<next>;
//   3. reads its own direct message (from the previous branch of the ring) with
//      `troupe inbox next branch:<run>/<me> --wait … --claim --json`, and acks it;
//   4. posts a reply to the room;
//   5. with --fifo (the planner): reads lines from the run's control.fifo until it reads
//      `continue` (what `troupe message to=run:<run> type=control.continue body=continue`
//      writes there), skipping the JSON envelope lines of branch messages the runtime also
//      forwards to that FIFO, then posts "continuing";
//   6. leaves (actor.leave: the roster keeps it as `left`).
//
// The FIFO is made under a temporary name, opened for reading and only then renamed to
// control.fifo, so from the moment the file exists a reader holds it and a message written
// to it is never refused for want of a reader. It is opened read-write, so the reader never
// sees end-of-file between the runtime's writes. It is read from step 1 on (lines are kept
// until step 5), so nothing blocks on it: each actor sends before it reads, and the planner
// reads its direct message before it waits for `continue`.
//
// Flags: --run=<run> (default $TROUPE_RUN) --me=<label> --next=<label> [--room=room:<run>]
// [--caps=a,b] [--fifo=<path>] [--wait-ms=30000]. Every wait is bounded by --wait-ms.
// Exit codes: 0 done; 2 usage; 1 a troupe call failed or a message was not as expected;
// 124 a wait timed out.
import { execFile, execFileSync } from "node:child_process"
import { constants, openSync, renameSync, rmSync } from "node:fs"
import net from "node:net"
import { dirname, join } from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"

/** This package's built CLI: examples/room-demo/ → dist/bin/troupe.js. */
const troupeBin = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "dist", "bin", "troupe.js")

class Exit extends Error {
  constructor(code, message) {
    super(message)
    this.code = code
  }
}

const flags = Object.fromEntries(
  process.argv
    .slice(2)
    .map((a) => /^--([a-z][a-z0-9-]*)=(.*)$/s.exec(a))
    .filter((m) => m !== null && m[2] !== "")
    .map((m) => [m[1], m[2]])
)

/** `troupe <args>`: resolves with {code, stdout, stderr}; never rejects for a non-zero exit. */
const troupe = (args) =>
  new Promise((resolve) => {
    execFile(process.execPath, [troupeBin, ...args], { encoding: "utf8", maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
      resolve({ code, stdout, stderr: stderr || (error !== null && typeof error.code !== "number" ? error.message : "") })
    })
  })

/** `troupe <args> --json`, parsed; fails the script with troupe's stderr when it fails. */
const troupeJson = async (args) => {
  const r = await troupe([...args, "--json"])
  if (r.code !== 0) throw new Exit(1, `troupe ${args.slice(0, 2).join(" ")} failed (exit ${r.code}): ${r.stderr.trim()}`)
  return JSON.parse(r.stdout)
}

const log = (text) => process.stdout.write(`${me}: ${text}\n`)

const run = flags.run ?? process.env.TROUPE_RUN
const me = flags.me
const next = flags.next
if (!run || !me || !next) {
  process.stderr.write("usage: actor.mjs --run=<run> --me=<label> --next=<label> [--room=room:<run>] [--caps=a,b] [--fifo=<path>] [--wait-ms=N]\n")
  process.exit(2)
}
const room = flags.room ?? `room:${run}`
const self = `branch:${run}/${me}`
const waitMs = Number(flags["wait-ms"] ?? 30_000)
const caps = (flags.caps ?? "").split(",").filter((c) => c !== "")

/** Sends one envelope as this branch; returns the delivery outcome. */
const send = (to, type, body, summary) =>
  troupeJson(["message", `to=${to}`, `from=${self}`, `type=${type}`, ...(summary ? [`summary=${summary}`] : []), `body=${typeof body === "string" ? body : JSON.stringify(body)}`])

/**
 * The reader of the run's control.fifo: made as `<fifo>.<pid>.tmp`, opened read-write and
 * non-blocking, renamed into place. Lines are queued until `nextLine` takes them.
 */
const openFifo = (path) => {
  const tmp = `${path}.${process.pid}.tmp`
  execFileSync("mkfifo", ["-m", "600", tmp])
  const fd = openSync(tmp, constants.O_RDWR | constants.O_NONBLOCK)
  renameSync(tmp, path)
  const socket = new net.Socket({ fd, readable: true, writable: false })
  const lines = []
  let wake = () => {}
  createInterface({ input: socket }).on("line", (line) => {
    lines.push(line)
    wake()
  })
  /** The next line, or undefined once `deadline` (epoch ms) has passed. */
  const nextLine = async (deadline) => {
    while (lines.length === 0) {
      const left = deadline - Date.now()
      if (left <= 0) return undefined
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left)
        wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      wake = () => {}
    }
    return lines.shift()
  }
  const close = () => {
    socket.destroy()
    rmSync(path, { force: true })
  }
  return { nextLine, close }
}

const main = async () => {
  const fifo = flags.fifo ? openFifo(flags.fifo) : undefined
  try {
    if (fifo) log(`reading ${flags.fifo}`)

    // 1. Join the room and greet it.
    await send(room, "actor.join", { role: me, caps, display: me[0].toUpperCase() + me.slice(1), status: "present" }, `${me} joined`)
    await send(room, "chat.greeting", `hello from ${me}`, `${me} says hello`)
    log(`joined ${room} and said hello`)

    // 2. A direct message to the next actor of the ring.
    const direct = await send(`branch:${run}/${next}`, "chat.direct", `${me} to ${next}: your turn`, `${me} → ${next}`)
    log(`sent ${direct.id} to ${direct.to} (consumer=${direct.consumer} delivered=${direct.delivered}${direct.reason ? ` reason=${direct.reason}` : ""})`)

    // 3. Our own direct message: pull it from our inbox (claim), then ack it.
    const deadline = Date.now() + waitMs
    let record = null
    while (record === null) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Exit(124, `${me}: no direct message in ${self} within ${waitMs} ms`)
      const r = await troupe(["inbox", "next", self, "--claim", "--wait", `${Math.max(1, Math.min(10_000, left))}ms`, "--json"])
      if (r.code === 0) record = JSON.parse(r.stdout)
      else if (r.code !== 3) throw new Exit(1, `troupe inbox next ${self} failed (exit ${r.code}): ${r.stderr.trim()}`)
    }
    const { envelope } = record
    if (envelope.type !== "chat.direct") throw new Exit(1, `${me}: expected a chat.direct message, got ${envelope.type} from ${envelope.from}`)
    await troupeJson(["inbox", "ack", self, record.id])
    log(`read ${record.id} from ${envelope.from}: ${envelope.body} (acked)`)

    // 4. Reply in the room.
    await send(room, "chat.reply", `${me} got "${envelope.body}" from ${envelope.from.split("/").pop()}`, `${me} replies`)

    // 5. The planner: wait for `continue` on the run's FIFO.
    if (fifo) {
      const until = Date.now() + waitMs
      for (;;) {
        const line = await fifo.nextLine(until)
        if (line === undefined) throw new Exit(124, `${me}: no "continue" on ${flags.fifo} within ${waitMs} ms`)
        if (line.startsWith("{")) {
          // A branch message forwarded as its full JSON envelope: already read from the inbox.
          let forwarded = "a JSON line"
          try {
            const e = JSON.parse(line)
            forwarded = `${e.type} ${e.from} → ${e.to}`
          } catch {}
          log(`fifo: skipped ${forwarded}`)
          continue
        }
        log(`fifo: ${line}`)
        if (line.trim() === "continue") break
      }
      await send(room, "chat.status", `${me}: continuing after control.continue`, `${me} is continuing`)
      log("continuing")
    }

    // 6. Leave.
    await send(room, "actor.leave", { status: "left" }, `${me} left`)
    log(`left ${room}`)
  } finally {
    fifo?.close()
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${e instanceof Exit ? e.message : e?.stack ?? String(e)}\n`)
    process.exit(e instanceof Exit ? e.code : 1)
  }
)
