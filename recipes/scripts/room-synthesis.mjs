// recipes/room-swarm.json: the synthesis step. Reads the run's room timeline and writes the
// transcript (participants, then every round's contributions in order) as Markdown to --out,
// atomically (temp + fsync + rename), and prints it. Exit 1 when a participant did not leave
// (the swarm did not finish), 2 on usage.
//
// Flags: --room=room:<run> --out=<file> --topic=…
import { Exit, parseFlags, run, writeFileAtomic } from "./lib/common.mjs"
import { timeline } from "./lib/troupe.mjs"

run(async () => {
  const { flags } = parseFlags(process.argv.slice(2))
  for (const k of ["room", "out"]) if (!flags[k]) throw new Exit(2, `--${k} is required`)
  const entries = timeline(flags.room)
  const joined = entries.filter((e) => e.envelope.type === "actor.join" && e.envelope.from.startsWith("branch:")).map((e) => e.envelope.from)
  const left = new Set(entries.filter((e) => e.envelope.type === "actor.leave").map((e) => e.envelope.from))
  const missing = joined.filter((p) => !left.has(p))
  if (missing.length > 0) throw new Exit(1, `participants still in the room: ${missing.join(", ")}`)
  const rounds = entries.filter((e) => e.envelope.type === "swarm.round")
  const lines = [
    `# Room swarm${flags.topic ? `: ${flags.topic}` : ""}`,
    "",
    `Room: ${flags.room} · participants: ${joined.length} · contributions: ${rounds.length}`,
    "",
    "## Participants",
    "",
    ...joined.map((p) => `- ${p}`),
    ""
  ]
  let current = 0
  for (const e of rounds) {
    if (e.envelope.body.round !== current) {
      if (current !== 0) lines.push("")
      current = e.envelope.body.round
      lines.push(`## Round ${current}`, "")
    }
    lines.push(`- **${e.envelope.from.split("/").pop()}**: ${e.envelope.body.text}`)
  }
  const text = lines.join("\n") + "\n"
  writeFileAtomic(flags.out, text)
  process.stdout.write(text)
})
