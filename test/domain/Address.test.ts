/**
 * Actor addresses (SPEC-messaging §1): every valid form with its canonical text, every invalid
 * form with its exact message, and properties (parsing never throws; format∘parse is the
 * identity on generated addresses; the Schemas agree with the parser).
 */
import { describe, expect, it } from "@effect/vitest"
import { Either, Option, Schema } from "effect"
import * as fc from "fast-check"
import {
  type Address,
  AddressError,
  AddressFromString,
  AddressString,
  canonicalAddress,
  formatAddress,
  isInspectOnly,
  parseAddress,
  runOf
} from "../../src/domain/Address.js"

const ok = (text: string): Address => {
  const r = parseAddress(text)
  if (Either.isLeft(r)) throw new Error(`expected ${JSON.stringify(text)} to parse, got: ${r.left.message}`)
  return r.right
}

const err = (text: string): AddressError => {
  const r = parseAddress(text)
  if (Either.isRight(r)) throw new Error(`expected ${JSON.stringify(text)} to fail, got ${formatAddress(r.right)}`)
  return r.left
}

const long = (n: number) => "a".repeat(n)

describe("parseAddress: valid forms", () => {
  const table: ReadonlyArray<readonly [input: string, address: unknown, canonical: string]> = [
    ["run:review", { _tag: "Run", run: "review" }, "run:review"],
    ["run:a.b-c_D9", { _tag: "Run", run: "a.b-c_D9" }, "run:a.b-c_D9"],
    ["run:...", { _tag: "Run", run: "..." }, "run:..."],
    [`run:${long(128)}`, { _tag: "Run", run: long(128) }, `run:${long(128)}`],
    ["branch:review/a", { _tag: "Branch", run: "review", branch: "a" }, "branch:review/a"],
    ["branch:swarm.1/worker-02", { _tag: "Branch", run: "swarm.1", branch: "worker-02" }, "branch:swarm.1/worker-02"],
    ["branch:review/main", { _tag: "Branch", run: "review", branch: "main" }, "branch:review/main"],
    ["room:review", { _tag: "Room", run: "review" }, "room:review"],
    ["room:review/main", { _tag: "Room", run: "review" }, "room:review"],
    ["coordinator", { _tag: "Coordinator" }, "coordinator"],
    ["session:cli", { _tag: "Session", session: "cli" }, "session:cli"],
    ["session:3f2a9c1e-7b4d-4e8f-9a0b-1c2d3e4f5a6b", { _tag: "Session", session: "3f2a9c1e-7b4d-4e8f-9a0b-1c2d3e4f5a6b" }, "session:3f2a9c1e-7b4d-4e8f-9a0b-1c2d3e4f5a6b"],
    [`session:${long(256)}`, { _tag: "Session", session: long(256) }, `session:${long(256)}`],
    ["session:all", { _tag: "SessionAll" }, "session:all"],
    ["session:ALL", { _tag: "Session", session: "ALL" }, "session:ALL"],
    ["session:all_of_them", { _tag: "Session", session: "all_of_them" }, "session:all_of_them"],
    ["tool:lint", { _tag: "Tool", name: "lint" }, "tool:lint"],
    ["tool:repo-health.v2", { _tag: "Tool", name: "repo-health.v2" }, "tool:repo-health.v2"],
    ["vm:0a1b2c3d-0000-4000-8000-000000000001", { _tag: "Vm", id: "0a1b2c3d-0000-4000-8000-000000000001" }, "vm:0a1b2c3d-0000-4000-8000-000000000001"],
    ["recipes", { _tag: "Recipes" }, "recipes"],
    // surrounding whitespace is trimmed
    ["  run:review  ", { _tag: "Run", run: "review" }, "run:review"],
    ["\trun:review\n", { _tag: "Run", run: "review" }, "run:review"],
    [" coordinator\r\n", { _tag: "Coordinator" }, "coordinator"],
    ["\u00a0room:review/main\u2003", { _tag: "Room", run: "review" }, "room:review"]
  ]

  it.each(table)("%j parses", (input, address, canonical) => {
    const a = ok(input)
    expect(a).toEqual(address)
    expect(formatAddress(a)).toBe(canonical)
    // round trip: the canonical text parses to the same address and prints the same
    expect(formatAddress(ok(formatAddress(a)))).toBe(canonical)
    expect(Either.getOrThrow(canonicalAddress(input))).toBe(canonical)
  })
})

describe("parseAddress: invalid forms and their exact messages", () => {
  const truncatedRun = `run:${long(129)}`.slice(0, 120) + "…"
  const table: ReadonlyArray<readonly [input: string, reason: AddressError["reason"], message: string]> = [
    // SPEC-messaging §1 texts
    ["review", "missing_kind", "Actor address must include kind: review"],
    ["run:", "missing_id", "run address is required"],
    ["branch:review", "missing_id", "branch id is required"],
    ["branch:review/a/b", "too_many_parts", "Branch address has too many parts"],
    ["room:review/side", "subroom", "Rooms do not support named subrooms; use room:review."],
    ["file:notes.md", "unsupported_kind", "Unsupported actor address kind: file"],
    // empty
    ["", "empty", "Actor address is required"],
    ["   \n\t", "empty", "Actor address is required"],
    // kinds
    [":review", "missing_kind", "Actor address must include kind: :review"],
    ["some words", "missing_kind", "Actor address must include kind: some words"],
    ["RUN:review", "unsupported_kind", "Unsupported actor address kind: RUN"],
    ["Coordinator", "missing_kind", "Actor address must include kind: Coordinator"],
    ["http://example.com", "unsupported_kind", "Unsupported actor address kind: http"],
    ["chat:general", "unsupported_kind", "Unsupported actor address kind: chat"],
    // run
    ["run", "missing_id", "run address is required"],
    ["  run:  ", "missing_id", "run address is required"],
    ["run:a b", "invalid_id", "Invalid run id in address run:a b: ids match ^[A-Za-z0-9_.-]+$"],
    ["run:a/b", "invalid_id", "Invalid run id in address run:a/b: ids match ^[A-Za-z0-9_.-]+$"],
    ["run:a:b", "invalid_id", "Invalid run id in address run:a:b: ids match ^[A-Za-z0-9_.-]+$"],
    ["run:ré", "invalid_id", "Invalid run id in address run:ré: ids match ^[A-Za-z0-9_.-]+$"],
    ["run:a\nb", "invalid_id", "Invalid run id in address run:a\\u000ab: ids match ^[A-Za-z0-9_.-]+$"],
    ["run:.", "invalid_id", "Invalid run id in address run:.: ids must not be . or .."],
    ["run:..", "invalid_id", "Invalid run id in address run:..: ids must not be . or .."],
    [`run:${long(129)}`, "invalid_id", `Invalid run id in address ${truncatedRun}: ids are at most 128 characters`],
    // branch
    ["branch", "missing_id", "run address is required"],
    ["branch:", "missing_id", "run address is required"],
    ["branch:/a", "missing_id", "run address is required"],
    ["branch:review/", "missing_id", "branch id is required"],
    ["branch:review//", "missing_id", "branch id is required"],
    ["branch:review/a/", "too_many_parts", "Branch address has too many parts"],
    ["branch:re view/a", "invalid_id", "Invalid run id in address branch:re view/a: ids match ^[A-Za-z0-9_.-]+$"],
    ["branch:review/a b", "invalid_id", "Invalid branch id in address branch:review/a b: ids match ^[A-Za-z0-9_.-]+$"],
    ["branch:review/..", "invalid_id", "Invalid branch id in address branch:review/..: ids must not be . or .."],
    // room
    ["room", "missing_id", "run address is required"],
    ["room:", "missing_id", "run address is required"],
    ["room:/main", "missing_id", "run address is required"],
    ["room:review/", "subroom", "Rooms do not support named subrooms; use room:review."],
    ["room:review/main/x", "subroom", "Rooms do not support named subrooms; use room:review."],
    ["room:review/Main", "subroom", "Rooms do not support named subrooms; use room:review."],
    ["room:re view", "invalid_id", "Invalid run id in address room:re view: ids match ^[A-Za-z0-9_.-]+$"],
    ["room:../main", "invalid_id", "Invalid run id in address room:../main: ids must not be . or .."],
    // coordinator / recipes take no id
    ["coordinator:", "unexpected_id", "coordinator address takes no id: coordinator:"],
    ["coordinator:me", "unexpected_id", "coordinator address takes no id: coordinator:me"],
    ["recipes:lint", "unexpected_id", "recipes address takes no id: recipes:lint"],
    // session
    ["session", "missing_id", "session id is required"],
    ["session:", "missing_id", "session id is required"],
    ["session:a b", "invalid_id", "Invalid session id in address session:a b: ids match ^[A-Za-z0-9_.-]+$"],
    ["session:all/x", "invalid_id", "Invalid session id in address session:all/x: ids match ^[A-Za-z0-9_.-]+$"],
    // tool / vm
    ["tool", "missing_id", "tool name is required"],
    ["tool:", "missing_id", "tool name is required"],
    ["tool:a/b", "invalid_id", "Invalid tool name in address tool:a/b: ids match ^[A-Za-z0-9_.-]+$"],
    ["vm", "missing_id", "vm id is required"],
    ["vm:", "missing_id", "vm id is required"],
    ["vm:x y", "invalid_id", "Invalid vm id in address vm:x y: ids match ^[A-Za-z0-9_.-]+$"]
  ]

  it.each(table)("%j fails: %s", (input, reason, message) => {
    const e = err(input)
    expect(e).toBeInstanceOf(AddressError)
    expect(e._tag).toBe("AddressError")
    expect(e.reason).toBe(reason)
    expect(e.message).toBe(message)
    expect(e.message).not.toMatch(/\n/)
  })

  it("messages echo at most 120 characters of the input", () => {
    const e = err(`nokind${"x".repeat(10_000)}`)
    expect(e.message).toBe(`Actor address must include kind: nokind${"x".repeat(114)}…`)
  })
})

describe("Schemas", () => {
  it("AddressFromString decodes to the union and encodes the canonical text", () => {
    const decode = Schema.decodeUnknownSync(AddressFromString)
    expect(decode("room:r/main")).toEqual({ _tag: "Room", run: "r" })
    expect(Schema.encodeSync(AddressFromString)(decode("room:r/main"))).toBe("room:r")
    expect(Schema.encodeSync(AddressFromString)(decode("session:all"))).toBe("session:all")
  })

  it("AddressFromString fails with the AddressError message", () => {
    const r = Schema.decodeUnknownEither(AddressFromString)("room:r/side")
    expect(Either.isLeft(r)).toBe(true)
    if (Either.isLeft(r)) expect(r.left.message).toContain("Rooms do not support named subrooms; use room:r.")
    expect(Either.isLeft(Schema.decodeUnknownEither(AddressFromString)(42))).toBe(true)
  })

  it("AddressString normalizes", () => {
    expect(Schema.decodeUnknownSync(AddressString)(" room:r/main ")).toBe("room:r")
    expect(() => Schema.decodeUnknownSync(AddressString)("review")).toThrow("Actor address must include kind: review")
  })

  it("AddressError is a Schema.TaggedError that round-trips", () => {
    const e = err("review")
    const encoded = Schema.encodeSync(AddressError)(e)
    expect(encoded).toEqual({ _tag: "AddressError", reason: "missing_kind", message: "Actor address must include kind: review" })
    expect(Schema.decodeUnknownSync(AddressError)(encoded)).toEqual(e)
  })
})

describe("helpers", () => {
  it.each([
    ["vm:abc", true],
    ["recipes", true],
    ["session:all", true],
    ["session:cli", false],
    ["run:r", false],
    ["branch:r/a", false],
    ["room:r", false],
    ["coordinator", false],
    ["tool:t", false]
  ] as const)("isInspectOnly(%s) = %s", (text, expected) => {
    expect(isInspectOnly(ok(text))).toBe(expected)
  })

  it.each([
    ["run:r", Option.some("r")],
    ["branch:r/a", Option.some("r")],
    ["room:r/main", Option.some("r")],
    ["coordinator", Option.none()],
    ["session:cli", Option.none()],
    ["session:all", Option.none()],
    ["tool:r", Option.none()],
    ["vm:r", Option.none()],
    ["recipes", Option.none()]
  ] as const)("runOf(%s)", (text, expected) => {
    expect(runOf(ok(text))).toEqual(expected)
  })
})

// ---------------------------------------------------------------------------------------------
// Properties

const tokenChar = fc.constantFrom(..."abcXYZ019_.-".split(""))
const token = fc
  .array(tokenChar, { minLength: 1, maxLength: 20 })
  .map((cs) => cs.join(""))
  .filter((s) => s !== "." && s !== "..")

const address: fc.Arbitrary<Address> = fc.oneof(
  token.map((run) => ({ _tag: "Run", run }) as Address),
  fc.tuple(token, token).map(([run, branch]) => ({ _tag: "Branch", run, branch }) as Address),
  token.map((run) => ({ _tag: "Room", run }) as Address),
  fc.constant({ _tag: "Coordinator" } as Address),
  token.filter((s) => s !== "all").map((session) => ({ _tag: "Session", session }) as Address),
  fc.constant({ _tag: "SessionAll" } as Address),
  token.map((name) => ({ _tag: "Tool", name }) as Address),
  token.map((id) => ({ _tag: "Vm", id }) as Address),
  fc.constant({ _tag: "Recipes" } as Address)
)

// Address-ish text: kinds, separators, token characters, whitespace and a few odd characters.
const addressish = fc
  .array(
    fc.oneof(
      fc.constantFrom("run", "branch", "room", "coordinator", "session", "all", "tool", "vm", "recipes", "main", "file"),
      fc.constantFrom(":", "/", " ", "\n", ".", "..", "-", "_", "é", "\u0000", "😀"),
      token
    ),
    { maxLength: 8 }
  )
  .map((parts) => parts.join(""))

describe("properties", () => {
  it.prop("any string parses to an address or an AddressError, never a throw", [fc.oneof(fc.string(), fc.fullUnicodeString(), addressish)], ([text]) => {
    const r = parseAddress(text)
    if (Either.isLeft(r)) {
      expect(r.left).toBeInstanceOf(AddressError)
      expect(r.left.message.length).toBeGreaterThan(0)
      expect(r.left.message).not.toMatch(/[\n\r]/)
    } else {
      // whatever parses prints canonically, and the canonical text is a fixed point
      const canonical = formatAddress(r.right)
      expect(parseAddress(canonical)).toEqual(Either.right(r.right))
    }
  }, { fastCheck: { numRuns: 2000 } })

  it.prop("parse ∘ format is the identity on generated addresses", [address], ([a]) => {
    expect(parseAddress(formatAddress(a))).toEqual(Either.right(a))
    expect(Schema.decodeUnknownSync(AddressFromString)(formatAddress(a))).toEqual(a)
  }, { fastCheck: { numRuns: 1000 } })

  it.prop("canonical text is idempotent and agrees with AddressString", [addressish], ([text]) => {
    const once = canonicalAddress(text)
    const schema = Schema.decodeUnknownEither(AddressString)(text)
    expect(Either.isRight(once)).toBe(Either.isRight(schema))
    if (Either.isRight(once)) {
      expect(canonicalAddress(once.right)).toEqual(once)
      expect(Either.getOrThrow(schema)).toBe(once.right)
    }
  }, { fastCheck: { numRuns: 1000 } })
})
