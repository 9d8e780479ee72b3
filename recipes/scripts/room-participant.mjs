// recipes/room-swarm.json: one participant of a room swarm. Joins the run's room as
// branch:<run>/<name>, then for each round waits until every participant has posted the
// previous round (a barrier read from the room), asks `pi -p` (caller-owned --model) for one
// contribution given the topic and the transcript so far, posts it as `swarm.round`, and
// finally leaves (`actor.leave`; the roster keeps it as `left`).
//
// Flags: --room=room:<run> --as=branch:<run>/<name> --topic=… --participants=N --rounds=N
// --model=… [--thinking=…] [--wait-ms=60000]. Exit codes: 0 done; 2 usage; 1 pi or troupe failed;
// 124 a round barrier timed out.
import { execFileSync } from "node:child_process"
import { Exit, parseFlags, run } from "./lib/common.mjs"
import { post, timeline } from "./lib/troupe.mjs"

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

run(async () => {
  const { flags } = parseFlags(process.argv.slice(2))
  for (const k of ["room", "as", "topic", "participants", "rounds", "model"]) if (!flags[k]) throw new Exit(2, `--${k} is required`)
  const participants = Number(flags.participants)
  const rounds = Number(flags.rounds)
  const waitMs = Number(flags["wait-ms"] ?? 60_000)
  const name = flags.as.split("/").pop()
  post(flags.room, flags.as, "actor.join", { role: "participant", status: "present", display: name, caps: ["discuss"] }, `${name} joined`)
  for (let round = 1; round <= rounds; round++) {
    const deadline = Date.now() + waitMs
    let entries = timeline(flags.room)
    const posted = (r) => new Set(entries.filter((e) => e.envelope.type === "swarm.round" && e.envelope.body?.round === r).map((e) => e.envelope.from)).size
    while (round > 1 && posted(round - 1) < participants) {
      if (Date.now() > deadline) throw new Exit(124, `round ${round - 1} did not complete within ${waitMs} ms`)
      await sleep(150)
      entries = timeline(flags.room)
    }
    const transcript = entries
      .filter((e) => e.envelope.type === "swarm.round")
      .map((e) => `${e.envelope.from} (round ${e.envelope.body.round}): ${e.envelope.body.text}`)
      .join("\n")
    const prompt = `You are ${name}, one of ${participants} participants discussing: ${flags.topic}\n` +
      `This is round ${round} of ${rounds}. Transcript so far:\n${transcript || "(empty)"}\n` +
      "Reply with one short contribution that builds on the others."
    const piArgs = ["-p", "--model", flags.model, ...(flags.thinking ? ["--thinking", flags.thinking] : []), "--no-tools", "--", prompt]
    let text
    try {
      text = execFileSync("pi", piArgs, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim()
    } catch (e) {
      throw new Exit(1, `pi failed for ${name} in round ${round}: ${(e.stderr ?? e.message).toString().trim()}`)
    }
    post(flags.room, flags.as, "swarm.round", { round, text }, `${name} round ${round}`)
    process.stdout.write(`${name} round ${round}: ${text}\n`)
  }
  post(flags.room, flags.as, "actor.leave", { status: "left" }, `${name} left`)
})
