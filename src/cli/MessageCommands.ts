/**
 * Messaging commands over the daemon (SPEC-messaging): `message` (one envelope to an address),
 * `inbox next|ack|fail|list` (pull delivery) and `room post|tail` (a run's room timeline).
 */
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Option, Stream } from "effect"
import * as Envelope from "../domain/Envelope.js"
import { callerEnvironment, CliExit, UsageError } from "./Common.js"
import { callerOptions, connect, cursorOption, followOption, optText, parseDuration, printJson, printResult, withExamples } from "./Session.js"

const message = Command.make(
  "message",
  {
    fields: Args.text({ name: "key=value" }).pipe(Args.withDescription("to=<address> type=<type> [body=…] [summary=…] [metadata.k=…] (pi-actors style)"), Args.repeated),
    to: optText("to", "Target address: run:<id>, branch:<run>/<label>, room:<run>, tool:<name>, coordinator, session:<id>"),
    type: optText("type", "Message type (channel.action), e.g. control.continue"),
    body: optText("body", "Body: text, or JSON when it starts with { or ["),
    summary: optText("summary", "One-line summary"),
    from: optText("from", "Sender: inside an actor its run or one of its branches; a session: coordinator (default), a run it owns, or one of that run's branches"),
    replyTo: optText("reply-to", "Id of the message this answers"),
    correlationId: optText("correlation-id", "Correlation id"),
    idempotencyKey: optText("idempotency-key", "A key unique to this message: sending again with it (a retry) stores the message once"),
    ...callerOptions
  },
  (input) =>
    Effect.gen(function* () {
      const pairs = [...input.fields]
      const flag = (key: string, v: Option.Option<string>) => {
        if (Option.isSome(v)) pairs.push(`${key}=${v.value}`)
      }
      flag("to", input.to)
      flag("type", input.type)
      flag("body", input.body)
      flag("summary", input.summary)
      flag("from", input.from)
      flag("reply_to", input.replyTo)
      flag("correlation_id", input.correlationId)
      // Outside an actor the sender defaults to coordinator (docs/cli.md), also where the
      // target needs an explicit one (a room); inside one the daemon takes the run's token.
      if (!pairs.some((p) => p.startsWith("from=")) && Option.isNone((yield* callerEnvironment).token)) pairs.push("from=coordinator")
      const envelope = yield* Envelope.envelopeFromPairs(pairs).pipe(Effect.mapError((e) => new UsageError({ message: e.message })))
      const remote = yield* connect(input)
      const out = yield* remote.actors.message(envelope, { idempotencyKey: Option.getOrUndefined(input.idempotencyKey) })
      yield* printResult(input.json, out, (out) =>
        out.consumer === "run-control"
          ? `${out.to} ${out.delivered ? out.state : `unchanged (${out.reason ?? out.state})`}`
          : `${out.id} to=${out.to} from=${out.from}${out.sender === undefined ? "" : ` sender=${out.sender}`} consumer=${out.consumer} delivered=${out.delivered} queued=${out.queued}` +
            (out.reason === undefined ? "" : ` reason=${out.reason}`) + (out.run === undefined ? "" : ` run=run:${out.run}`)
      )
    })
).pipe(
  Command.withDescription(
    withExamples("Send one message (an envelope) to an address; prints the delivery outcome.", [
      "troupe message to=run:nap type=control.cancel",
      "troupe message to=run:player type=control.continue body=continue",
      "troupe message --to room:swarm --type note.posted --from coordinator --body 'round 2'",
      "troupe message to=room:review from=branch:review/security type=actor.join 'body={\"role\":\"reviewer\",\"caps\":[\"security-review\"]}'",
      "troupe message to=tool:shout type=tool.call 'body={\"word\":\"hi\"}'"
    ])
  )
)

/** A message body as text: strings as they are, anything else as JSON. */
const bodyText = (body: unknown) => (typeof body === "string" ? body : JSON.stringify(body))

/** One inbox record without its body. */
const inboxLine = (r: { readonly id: string; readonly state: string; readonly envelope: { readonly from: string; readonly sender?: string | undefined; readonly type: string } }) =>
  `${r.id} state=${r.state} from=${r.envelope.from} sender=${r.envelope.sender ?? ""} type=${r.envelope.type}`

const addressArg = Args.text({ name: "address" }).pipe(Args.withDescription("run:<id> or branch:<run>/<label>"))

const inboxNext = Command.make(
  "next",
  {
    address: addressArg,
    claim: Options.boolean("claim").pipe(Options.withDescription("Take the message exclusively (state claimed)")),
    wait: optText("wait", "Wait this long for a message (500ms, 30s); exit 3 when none came"),
    ...callerOptions
  },
  (input) =>
    Effect.gen(function* () {
      const waitMs = Option.isSome(input.wait) ? yield* parseDuration(input.wait.value) : undefined
      const remote = yield* connect(input)
      const next = yield* remote.actors.inboxNext(input.address, { claim: input.claim, waitMs })
      if (Option.isNone(next)) {
        if (input.json) yield* printJson(null)
        else yield* Console.error(`no message in ${input.address}`)
        return yield* new CliExit({ code: 3 })
      }
      yield* printResult(input.json, next.value, (r) => `${inboxLine(r)}${r.envelope.body === undefined ? "" : `\n${bodyText(r.envelope.body)}`}`)
    })
).pipe(Command.withDescription(withExamples("Read the oldest unhandled message of an inbox (pull delivery).", ["troupe inbox next run:worker --claim", "troupe inbox next run:worker --wait 30s --json"])))

const inboxAck = Command.make("ack", { address: addressArg, id: Args.text({ name: "id" }), ...callerOptions }, (input) =>
  Effect.gen(function* () {
    const remote = yield* connect(input)
    yield* printResult(input.json, yield* remote.actors.inboxSettle(input.address, input.id), (r) => `${r.id} ${r.state}`)
  })
).pipe(Command.withDescription("Mark an inbox message handled (idempotent)."))

const inboxFail = Command.make(
  "fail",
  { address: addressArg, id: Args.text({ name: "id" }), error: Options.text("error").pipe(Options.withDescription("Why handling failed"), Options.withDefault("failed")), ...callerOptions },
  (input) =>
    Effect.gen(function* () {
      const remote = yield* connect(input)
      yield* printResult(input.json, yield* remote.actors.inboxSettle(input.address, input.id, { error: input.error }), (r) => `${r.id} ${r.state}`)
    })
).pipe(Command.withDescription("Mark an inbox message failed, with --error (idempotent)."))

const inboxList = Command.make(
  "list",
  { address: addressArg, lines: Options.integer("lines").pipe(Options.withDefault(40)), ...callerOptions },
  (input) =>
    Effect.gen(function* () {
      const remote = yield* connect(input)
      const records = yield* remote.actors.inboxList(input.address, { limit: input.lines })
      yield* printResult(input.json, records, (records) => (records.length === 0 ? "no messages" : records.map(inboxLine).join("\n")))
    })
).pipe(Command.withDescription("List an inbox's messages with their states."))

const inbox = Command.make("inbox").pipe(
  Command.withDescription("Pull delivery: read and settle the messages of run:<id> or branch:<run>/<label> inboxes."),
  Command.withSubcommands([inboxNext, inboxAck, inboxFail, inboxList])
)

const roomArg = Args.text({ name: "run" }).pipe(Args.withDescription("The run whose room (room:<run>) to use"))
const roomOf = (run: string) => (run.startsWith("room:") ? run : `room:${run.replace(/^run:/, "")}`)

const roomPost = Command.make(
  "post",
  {
    run: roomArg,
    type: Options.text("type").pipe(Options.withDefault("note.posted"), Options.withDescription("Message type (default note.posted)")),
    body: Args.text({ name: "body" }).pipe(Args.withDescription("Text, or JSON when it starts with { or [")),
    summary: optText("summary", "One-line summary"),
    from: optText("from", "Sender (default: this actor's run, or coordinator; a session may post as a run it owns or its branches)"),
    ...callerOptions
  },
  (input) =>
    Effect.gen(function* () {
      const pairs = [`to=${roomOf(input.run)}`, `type=${input.type}`, `body=${input.body}`]
      if (Option.isSome(input.summary)) pairs.push(`summary=${input.summary.value}`)
      const env = yield* callerEnvironment
      const inActor = Option.isSome(env.token)
      pairs.push(`from=${Option.getOrElse(input.from, () => (inActor ? `run:${Option.getOrElse(env.run, () => "")}` : "coordinator"))}`)
      const envelope = yield* Envelope.envelopeFromPairs(pairs).pipe(Effect.mapError((e) => new UsageError({ message: e.message })))
      const remote = yield* connect(input)
      yield* printResult(input.json, yield* remote.actors.message(envelope), (out) => `${out.id} posted to ${out.to} from=${out.from}`)
    })
).pipe(Command.withDescription(withExamples("Post to a run's room.", ["troupe room post swarm 'hello everyone'", "troupe room post swarm --type plan.proposed '{\"step\":1}'"])))

const roomTail = Command.make(
  "tail",
  {
    run: roomArg,
    follow: followOption("Stay open and print new posts"),
    after: cursorOption("after", "Cursor: only entries with a larger seq"),
    ...callerOptions
  },
  (input) =>
    Effect.gen(function* () {
      const remote = yield* connect(input)
      yield* remote.actors.roomTail(roomOf(input.run), { afterSeq: Option.getOrUndefined(input.after), follow: input.follow }).pipe(
        Stream.runForEach((entry) =>
          printResult(input.json, entry, (e) => `#${e.seq} ${e.envelope.from} ${e.envelope.type}${e.envelope.summary === undefined ? "" : ` ${e.envelope.summary}`}${e.envelope.body === undefined ? "" : `: ${bodyText(e.envelope.body)}`}`)
        )
      )
    })
).pipe(Command.withDescription(withExamples("Print a run's room timeline.", ["troupe room tail swarm", "troupe room tail swarm --follow"])))

const room = Command.make("room").pipe(
  Command.withDescription("A run's room (room:<run>): post to its timeline, tail it."),
  Command.withSubcommands([roomPost, roomTail])
)

/** `message`, `inbox`, `room`. */
export const messageCommands = [message, inbox, room] as const
