/**
 * The compact widget under Pi's `/troupe` key (`ctx.ui.setWidget`, above the editor, as
 * pi-actors 0.17 shows): this session's latest room posts, direct-message previews and, when
 * the session has them, one line per swarm and one for its lieutenants with each one's status
 * (idle / streaming / failed …, `../view/Team.ts`). Pure: the state and its lines; the adapter
 * (`./Surfaces.ts`) feeds it from the session's event stream and status tick.
 *
 * Bounded: at most {@link widgetMaxLines} lines of at most {@link widgetLineChars} characters.
 */
import { Option, Schema } from "effect"
import type { SessionEvent } from "../domain/Run.js"
import { teamLines, type TeamMember } from "../view/Team.js"

/** The widget key (`ctx.ui.setWidget`). */
export const widgetKey = "troupe"
/** Most lines the widget shows: 6. */
export const widgetMaxLines = 6
/** Longest line, characters (longer ones end with `…`). */
export const widgetLineChars = 120
/** Room posts shown: 2 (the newest). */
const postsShown = 2
/** Direct messages shown: 2 (the newest). */
const messagesShown = 2

/** One room post (`room`: `room:<run>`; `at`: ms since the epoch, for ordering). */
export interface WidgetPost {
  readonly room: string
  readonly from: string
  readonly type: string
  readonly summary: string
  readonly at: number
}

/** One direct message to this session (a `message` session event). */
export interface WidgetMessage {
  readonly from: string
  readonly type: string
  readonly summary: string
}

export interface WidgetState {
  /** Newest first. */
  readonly posts: ReadonlyArray<WidgetPost>
  /** Newest first. */
  readonly messages: ReadonlyArray<WidgetMessage>
  readonly team: ReadonlyArray<TeamMember>
}

export const emptyWidget: WidgetState = { posts: [], messages: [], team: [] }

const Envelope = Schema.Struct({
  from: Schema.String,
  type: Schema.String,
  summary: Schema.optional(Schema.String),
  body: Schema.optional(Schema.Unknown)
})
const decodeEnvelope = Schema.decodeUnknownOption(Envelope)

const oneLine = (s: string) => s.replace(/\s+/g, " ").trim()

const bodyPreview = (body: unknown): string =>
  body === undefined ? "" : typeof body === "string" ? oneLine(body) : oneLine(JSON.stringify(body) ?? "")

/** The preview of a `message` session event (undefined for other events). */
export const messageOf = (e: SessionEvent): WidgetMessage | undefined => {
  if (e.type !== "message") return undefined
  return Option.match(decodeEnvelope(e.data.envelope), {
    onNone: () => ({ from: `run:${e.run_id}`, type: "message", summary: oneLine(e.text.split("\n", 1)[0] ?? "") }),
    onSome: (env) => ({ from: env.from, type: env.type, summary: oneLine(env.summary ?? "") || bodyPreview(env.body) })
  })
}

/** Adds a direct message (newest first, only the shown ones kept). */
export const withMessage = (state: WidgetState, message: WidgetMessage): WidgetState => ({
  ...state,
  messages: [message, ...state.messages].slice(0, messagesShown)
})

/** Replaces the room posts (any order in; newest first kept). */
export const withPosts = (state: WidgetState, posts: ReadonlyArray<WidgetPost>): WidgetState => ({
  ...state,
  posts: [...posts].sort((a, b) => b.at - a.at).slice(0, postsShown)
})

export const withTeam = (state: WidgetState, team: ReadonlyArray<TeamMember>): WidgetState => ({ ...state, team })

const clip = (line: string) => (line.length > widgetLineChars ? `${line.slice(0, widgetLineChars - 1)}…` : line)

const said = (type: string, summary: string) => `${type}${summary === "" ? "" : `: ${summary}`}`

/**
 * The widget's lines: room posts (`room:<run> <from> <type>: <summary>`), direct messages
 * (`✉ <from> <type>: <summary>`), then team lines; at most {@link widgetMaxLines}, team lines
 * kept first when they do not all fit. Undefined when there is nothing to show (the widget is
 * cleared).
 */
export const widgetLines = (state: WidgetState): ReadonlyArray<string> | undefined => {
  const team = teamLines(state.team).slice(0, widgetMaxLines)
  const chat = [
    ...state.posts.map((p) => `${p.room} ${p.from} ${said(p.type, p.summary)}`),
    ...state.messages.map((m) => `✉ ${m.from} ${said(m.type, m.summary)}`)
  ].slice(0, widgetMaxLines - team.length)
  const lines = [...chat, ...team].map(clip)
  return lines.length === 0 ? undefined : lines
}
