/**
 * Actor addresses (SPEC-messaging §1): the compact route strings `spawn`, `message` and
 * `inspect` take, parsed into a tagged union and printed back in one canonical form.
 *
 * ```text
 * run:<id>                one run actor
 * branch:<run>/<branch>   a branch-local actor of a run
 * room:<run>              the run's shared room (room:<run>/main is accepted and means room:<run>)
 * coordinator             the launching session's attention path
 * session:<id>            a session's actor surface; session:all = every session (inventory only)
 * tool:<name>             a registered tool
 * vm:<id>                 a Vers VM (inspect only)
 * recipes                 the recipe registry (inspect only)
 * ```
 *
 * Corresponds to pi-actors 0.17's address parser, with its error texts
 * (`Actor address must include kind: review`, `run address is required`, …) kept verbatim.
 *
 * Parsing rules (all of them documented in docs/messaging.md):
 * - leading and trailing whitespace (`String.prototype.trim`) is ignored; whitespace inside is
 *   an invalid id;
 * - the kind is everything before the first `:` and is case-sensitive;
 * - every id token matches `^[A-Za-z0-9_.-]+$`, is not `.` or `..` (ids name directories), and
 *   is at most 128 characters (session ids: 256, like `SessionId`);
 * - a bare kind that needs an id (`run`, `branch`, `room`, `session`, `tool`, `vm`) fails like
 *   the same kind with an empty id (`run` → `run address is required`);
 * - input echoed in messages is cut to 120 characters (`…`) with control characters escaped, so
 *   every message is one bounded line.
 */
import { Either, Option, ParseResult, Schema } from "effect"
import { RunId } from "./Run.js"

// ---------------------------------------------------------------------------------------------
// Tokens

/** The pattern every id token of an address matches. */
export const tokenPattern = /^[A-Za-z0-9_.-]+$/

/** Longest id token (run, branch, tool, vm ids), characters. Same bound as `RunId`. */
export const maxTokenLength = 128

/** Longest session id in a `session:<id>` address, characters. Same bound as `SessionId`. */
export const maxSessionTokenLength = 256

const tokenSchema = (what: string, max: number) =>
  Schema.String.pipe(
    Schema.pattern(tokenPattern, { message: () => `${what} must match ^[A-Za-z0-9_.-]+$` }),
    Schema.maxLength(max, { message: () => `${what} must be at most ${max} characters` }),
    Schema.filter((s) => (s !== "." && s !== ".." ? undefined : `${what} must not be . or ..`))
  )

/** A branch id inside a run (`branch:<run>/<branch>`): same rules as `RunId`. */
export const BranchId = tokenSchema("branch id", maxTokenLength).pipe(Schema.brand("BranchId"))
export type BranchId = typeof BranchId.Type

/** The session id of a `session:<id>` address (`all` is reserved for `session:all`). */
export const SessionToken = tokenSchema("session id", maxSessionTokenLength)

/** The name of a registered tool (`tool:<name>`). */
export const ToolName = tokenSchema("tool name", maxTokenLength)

/** A Vers VM id (`vm:<id>`). */
export const VmId = tokenSchema("vm id", maxTokenLength)

// ---------------------------------------------------------------------------------------------
// The union

/** `run:<id>` — one run actor. */
export const RunAddress = Schema.TaggedStruct("Run", { run: RunId })
/** `branch:<run>/<branch>` — a branch-local actor of a run (a parallel branch, a swarm worker). */
export const BranchAddress = Schema.TaggedStruct("Branch", { run: RunId, branch: BranchId })
/** `room:<run>` — the run's shared room (one per run; no named subrooms). */
export const RoomAddress = Schema.TaggedStruct("Room", { run: RunId })
/** `coordinator` — the launching session's attention path. */
export const CoordinatorAddress = Schema.TaggedStruct("Coordinator", {})
/** `session:<id>` — a session's actor surface. */
export const SessionAddress = Schema.TaggedStruct("Session", { session: SessionToken })
/** `session:all` — every session; inventory only (operator, read-only rows). */
export const SessionAllAddress = Schema.TaggedStruct("SessionAll", {})
/** `tool:<name>` — a registered tool, invoked with the envelope body as parameters. */
export const ToolAddress = Schema.TaggedStruct("Tool", { name: ToolName })
/** `vm:<id>` — a Vers VM; inspect only. */
export const VmAddress = Schema.TaggedStruct("Vm", { id: VmId })
/** `recipes` — the recipe registry; inspect only. */
export const RecipesAddress = Schema.TaggedStruct("Recipes", {})

/** A parsed actor address (`_tag`: Run, Branch, Room, Coordinator, Session, SessionAll, Tool, Vm, Recipes). */
export const Address = Schema.Union(
  RunAddress,
  BranchAddress,
  RoomAddress,
  CoordinatorAddress,
  SessionAddress,
  SessionAllAddress,
  ToolAddress,
  VmAddress,
  RecipesAddress
)
export type Address = typeof Address.Type

/** The kinds an address string may start with, in SPEC order. */
export const addressKinds = ["run", "branch", "room", "coordinator", "session", "tool", "vm", "recipes"] as const

// ---------------------------------------------------------------------------------------------
// Errors

/**
 * Why an address string was rejected. `message` is one line; the SPEC-messaging §1 texts are
 * kept verbatim (see docs/messaging.md for the full table).
 *
 * - `empty`: nothing but whitespace (`Actor address is required`);
 * - `missing_kind`: no `kind:` prefix (`Actor address must include kind: review`);
 * - `unsupported_kind`: an unknown kind (`Unsupported actor address kind: file`);
 * - `missing_id`: the id part is empty (`run address is required`, `branch id is required`, …);
 * - `invalid_id`: an id token breaks the token rules (`Invalid run id in address run:a b: …`);
 * - `too_many_parts`: `branch:<run>/<branch>/<more>` (`Branch address has too many parts`);
 * - `subroom`: `room:<run>/<name>` other than `main` (`Rooms do not support named subrooms; use room:<run>.`);
 * - `unexpected_id`: `coordinator:<x>`, `recipes:<x>` (those addresses take no id).
 */
export class AddressError extends Schema.TaggedError<AddressError>("troupe/AddressError")("AddressError", {
  reason: Schema.Literal("empty", "missing_kind", "unsupported_kind", "missing_id", "invalid_id", "too_many_parts", "subroom", "unexpected_id"),
  message: Schema.String
}) {}

/** Longest piece of user input echoed in an error message, characters. */
const maxShown = 120

/** User input as it appears in a message: control characters escaped, cut to 120 characters. */
export const shown = (text: string): string => {
  const cut = text.length > maxShown ? `${text.slice(0, maxShown)}…` : text
  return cut.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
}

const fail = (reason: AddressError["reason"], message: string) => Either.left(new AddressError({ reason, message }))

/** Why `token` is not a valid id, or undefined when it is. */
const tokenProblem = (token: string, max: number): string | undefined => {
  if (!tokenPattern.test(token)) return "ids match ^[A-Za-z0-9_.-]+$"
  if (token === "." || token === "..") return "ids must not be . or .."
  if (token.length > max) return `ids are at most ${max} characters`
  return undefined
}

const checkToken = (what: string, token: string, text: string, max = maxTokenLength): Either.Either<string, AddressError> => {
  const problem = tokenProblem(token, max)
  return problem === undefined ? Either.right(token) : fail("invalid_id", `Invalid ${what} in address ${shown(text)}: ${problem}`)
}

// ---------------------------------------------------------------------------------------------
// Parse / format

// The parsed values are built directly: `checkToken` has applied exactly the rules of the id
// schemas (`RunId`, `BranchId`, …), and re-validating through `X.make` costs more than the
// whole parse (addresses are parsed several times per message).
const coordinator: Address = { _tag: "Coordinator" }
const recipes: Address = { _tag: "Recipes" }
const sessionAll: Address = { _tag: "SessionAll" }
const runAddress = (run: string): Address => ({ _tag: "Run", run: run as RunId })
const roomAddress = (run: string): Address => ({ _tag: "Room", run: run as RunId })
const branchAddress = (run: string, branch: string): Address => ({ _tag: "Branch", run: run as RunId, branch: branch as BranchId })

/**
 * Parses one address string. Never throws.
 *
 * - `room:<run>/main` → `Room{run}` (pi-actors' only room name); other subrooms fail.
 * - `session:all` → `SessionAll` (so no session can be addressed as `all`).
 *
 * @returns the address, or an `AddressError` whose `message` is the pi-actors text
 *   (`Actor address must include kind: review`, `run address is required`, `branch id is
 *   required`, `Branch address has too many parts`, `Rooms do not support named subrooms; use
 *   room:<run>.`, `Unsupported actor address kind: file`, …).
 */
export const parseAddress = (input: string): Either.Either<Address, AddressError> => {
  const text = input.trim()
  if (text === "") return fail("empty", "Actor address is required")
  const colon = text.indexOf(":")
  const kind = colon < 0 ? text : text.slice(0, colon)
  const rest = colon < 0 ? "" : text.slice(colon + 1)
  switch (kind) {
    case "coordinator":
      return colon < 0 ? Either.right(coordinator) : fail("unexpected_id", `coordinator address takes no id: ${shown(text)}`)
    case "recipes":
      return colon < 0 ? Either.right(recipes) : fail("unexpected_id", `recipes address takes no id: ${shown(text)}`)
    case "run":
      if (rest === "") return fail("missing_id", "run address is required")
      return Either.map(checkToken("run id", rest, text), runAddress)
    case "room": {
      const slash = rest.indexOf("/")
      const run = slash < 0 ? rest : rest.slice(0, slash)
      if (run === "") return fail("missing_id", "run address is required")
      return Either.flatMap(checkToken("run id", run, text), (run) =>
        slash < 0 || rest.slice(slash + 1) === "main"
          ? Either.right(roomAddress(run))
          : fail("subroom", `Rooms do not support named subrooms; use room:${run}.`)
      )
    }
    case "branch": {
      const parts = rest.split("/")
      const run = parts[0] ?? ""
      const branch = parts[1] ?? ""
      if (run === "") return fail("missing_id", "run address is required")
      if (branch === "") return fail("missing_id", "branch id is required")
      if (parts.length > 2) return fail("too_many_parts", "Branch address has too many parts")
      return Either.flatMap(checkToken("run id", run, text), (run) =>
        Either.map(checkToken("branch id", branch, text), (branch) =>
          branchAddress(run, branch)
        )
      )
    }
    case "session":
      if (rest === "") return fail("missing_id", "session id is required")
      if (rest === "all") return Either.right(sessionAll)
      return Either.map(checkToken("session id", rest, text, maxSessionTokenLength), (session): Address => ({ _tag: "Session", session }))
    case "tool":
      if (rest === "") return fail("missing_id", "tool name is required")
      return Either.map(checkToken("tool name", rest, text), (name): Address => ({ _tag: "Tool", name }))
    case "vm":
      if (rest === "") return fail("missing_id", "vm id is required")
      return Either.map(checkToken("vm id", rest, text), (id): Address => ({ _tag: "Vm", id }))
    default:
      return colon <= 0
        ? fail("missing_kind", `Actor address must include kind: ${shown(text)}`)
        : fail("unsupported_kind", `Unsupported actor address kind: ${shown(kind)}`)
  }
}

/**
 * The canonical text of an address: `run:<id>`, `branch:<run>/<branch>`, `room:<run>` (never
 * `/main`), `coordinator`, `session:<id>`, `session:all`, `tool:<name>`, `vm:<id>`, `recipes`.
 * `parseAddress(formatAddress(a))` is `a`.
 */
export const formatAddress = (address: Address): string => {
  switch (address._tag) {
    case "Run":
      return `run:${address.run}`
    case "Branch":
      return `branch:${address.run}/${address.branch}`
    case "Room":
      return `room:${address.run}`
    case "Coordinator":
      return "coordinator"
    case "Session":
      return `session:${address.session}`
    case "SessionAll":
      return "session:all"
    case "Tool":
      return `tool:${address.name}`
    case "Vm":
      return `vm:${address.id}`
    case "Recipes":
      return "recipes"
  }
}

/**
 * The canonical form of an address string (`room:x/main` → `room:x`, surrounding whitespace
 * dropped), or the `AddressError` of `parseAddress`.
 */
export const canonicalAddress = (text: string): Either.Either<string, AddressError> => Either.map(parseAddress(text), formatAddress)

/**
 * `string ⇄ Address` for boundaries (CLI args, RPC, store rows). Decoding fails with the
 * `AddressError` message as the parse issue; encoding prints the canonical text.
 */
export const AddressFromString: Schema.Schema<Address, string> = Schema.transformOrFail(Schema.String, Address, {
  strict: true,
  decode: (text, _, ast) => Either.mapLeft(parseAddress(text), (e) => new ParseResult.Type(ast, text, e.message)),
  encode: (_encoded, _options, _ast, address) => ParseResult.succeed(formatAddress(address))
})

/**
 * `string → string`: a valid address string, normalized to its canonical text on decode (the
 * shape envelopes keep `to`, `from` and `metadata.recipients` in). Fails with the
 * `AddressError` message.
 */
export const AddressString: Schema.Schema<string> = Schema.transformOrFail(Schema.String, Schema.String, {
  strict: true,
  decode: (text, _, ast) => Either.mapLeft(canonicalAddress(text), (e) => new ParseResult.Type(ast, text, e.message)),
  encode: (text, _, ast) => Either.mapLeft(canonicalAddress(text), (e) => new ParseResult.Type(ast, text, e.message))
})

// ---------------------------------------------------------------------------------------------
// Helpers

/**
 * True for addresses that can be inspected but never messaged: `vm:<id>`, `recipes` and
 * `session:all` (SPEC-messaging §1: VMs and the registry are inspect only; `session:all` is an
 * inventory only).
 */
export const isInspectOnly = (address: Address): address is InspectOnlyAddress =>
  address._tag === "Vm" || address._tag === "Recipes" || address._tag === "SessionAll"

/** The addresses that can only be inspected: `vm:<id>`, `recipes`, `session:all`. */
export type InspectOnlyAddress = Extract<Address, { readonly _tag: "Vm" | "Recipes" | "SessionAll" }>

/** The addresses a message can be sent to or from (every address that is not inspect only). */
export type MessageableAddress = Exclude<Address, InspectOnlyAddress>

/** The run a `run:`, `branch:` or `room:` address belongs to; none for the other kinds. */
export const runOf = (address: Address): Option.Option<RunId> => {
  switch (address._tag) {
    case "Run":
    case "Branch":
    case "Room":
      return Option.some(address.run)
    default:
      return Option.none()
  }
}
