// The reader of message-latency, the same program for troupe and for the baseline:
// `node bench/ack-reader.mjs <ack.sock> [tag]` connects to the benchmark's Unix socket, says
// `ready <tag>`, then reads JSON lines from its stdin (a `stdin-jsonl` actor's stdin pipe, or
// a FIFO for the baseline) and, for each line, parses it and writes `<body.k> <t>\n` to the
// socket at once, where <t> is process.hrtime.bigint() (CLOCK_MONOTONIC, the same clock in
// every process of the machine) taken when the chunk holding the line was read. It exits when its stdin ends. The tag defaults to $TROUPE_RUN (set in an
// actor's environment), else `baseline`.
import { connect } from "node:net"

const [sockPath, tagArg] = process.argv.slice(2)
if (sockPath === undefined) {
  process.stderr.write("usage: node bench/ack-reader.mjs <ack.sock> [tag]\n")
  process.exit(2)
}
const tag = tagArg ?? process.env.TROUPE_RUN ?? "baseline"
const sock = connect(sockPath)
sock.once("connect", () => sock.write(`ready ${tag}\n`))
sock.on("error", (e) => {
  process.stderr.write(`ack-reader ${tag}: ${e.message}\n`)
  process.exit(1)
})

let buffered = ""
process.stdin.setEncoding("utf8")
process.stdin.on("data", (chunk) => {
  const at = process.hrtime.bigint()
  buffered += chunk
  let nl = buffered.indexOf("\n")
  while (nl >= 0) {
    const line = buffered.slice(0, nl)
    buffered = buffered.slice(nl + 1)
    if (line.length > 0) {
      const envelope = JSON.parse(line)
      sock.write(`${envelope.body.k} ${at}\n`)
    }
    nl = buffered.indexOf("\n")
  }
})
process.stdin.once("end", () => sock.end(() => process.exit(0)))
