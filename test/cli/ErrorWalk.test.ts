/**
 * Every error class a user can see, walked (issue 19 item 5): the test finds each error class
 * defined in `src/` (outside `src/testing`) by grep, and fails when one is neither constructed
 * here nor listed as internal. Each is built with representative field values — through the
 * project's own message builders, and with a Schema `ParseError` as the cause where a builder
 * takes one — and its `message`, the CLI's printed line (`errorReport`) and the Pi tool
 * result text (`oneLine`) must each be one plain line: no schema tree, no stack, no
 * `[object Object]`, no `undefined`.
 */
import { Cause, Effect, Either, Schema } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"
import { describe, expect, it } from "vitest"
import { encodeFrame } from "../../src/broker/FrameCodec.js"
import { CliExit, UsageError } from "../../src/cli/Common.js"
import { errorReport } from "../../src/cli/ErrorReport.js"
import { VmCommandError } from "../../src/cli/VmCommands.js"
import { AddressError, parseAddress } from "../../src/domain/Address.js"
import { describeParseError, errorDetail } from "../../src/domain/Diagnostic.js"
import { decodeEnvelopeInput, EnvelopeError } from "../../src/domain/Envelope.js"
import { PersistenceError, persistenceError, storeFault } from "../../src/domain/PersistenceError.js"
import { PiRpcClosed, piRpcMessages, PiRpcProtocolError, PiRpcRejected } from "../../src/domain/PiRpc.js"
import { RecipeError } from "../../src/domain/Recipe.js"
import { ImportProblem } from "../../src/domain/RecipeImports.js"
import { ActorsError } from "../../src/domain/Run.js"
import {
  RemoteCommandFailed,
  SftpError,
  SshAuthError,
  SshConnectError,
  SshDisconnected,
  SshHostKeyChanged,
  SshMessages,
  SshTimeout
} from "../../src/domain/SshErrors.js"
import { GoldenError } from "../../src/domain/Golden.js"
import { SwarmError } from "../../src/domain/Swarm.js"
import { TemplateError } from "../../src/domain/Template.js"
import {
  VersAuthError,
  VersDecodeError,
  VersMessages,
  VersRateLimited,
  VersTimeout,
  VersUnavailable,
  VmConflict,
  VmDead,
  VmNotFound
} from "../../src/domain/VersErrors.js"
import { InvalidConfiguration } from "../../src/layers/Config.js"
import { oneLine } from "../../src/pi/Connection.js"
import { HostError } from "../../src/services/Host.js"
import { BrokerProtocolError, makeReader } from "../../src/services/internal/BrokerProtocol.js"
import { RegularFileError } from "../../src/services/internal/RegularFile.js"
import { CopyError } from "../../src/services/VmCopy.js"

/** The failure of an Either that must have failed. */
const left = <E>(e: Either.Either<unknown, E>): E => Either.getOrThrow(Either.flip(e))
const envelopeError = (input: unknown): EnvelopeError => Effect.runSync(Effect.flip(decodeEnvelopeInput(input)))

const vmId = "a1b2c3d4-0000-4000-8000-00000000abcd"

/** A real decode failure (a union and a nested wrong type: a multi-line tree as `message`). */
const parseError = left(
  Schema.decodeUnknownEither(Schema.Struct({ name: Schema.String, spec: Schema.Union(Schema.Number, Schema.Struct({ mem: Schema.Number })) }))({
    name: "x",
    spec: { mem: "lots" }
  })
)

/** The exec broker's reader given a frame whose header does not decode. */
const brokerError = (): BrokerProtocolError => {
  const step = makeReader().push(encodeFrame({ t: "exit", id: "seven" } as { t: string }))
  return left(step)
}

type Case = { readonly make: () => ReadonlyArray<unknown> } | { readonly internal: string }

/** Every error class in `src/` (outside `src/testing`), by `file#Class`. */
const cases: Record<string, Case> = {
  "cli/Common.ts#CliExit": { internal: "carries an exit code after output was written; never printed (errorReport prints nothing for it)" },
  "cli/Common.ts#UsageError": { make: () => [new UsageError({ message: "Invalid value argument: x (expected key=value)" })] },
  "cli/VmCommands.ts#VmCommandError": { make: () => [new VmCommandError({ message: `VM ${vmId} is not in this session (troupe vm ls lists them)` })] },
  "domain/Address.ts#AddressError": {
    make: () => [left(parseAddress("run:a b")), left(parseAddress("nope:x")), new AddressError({ reason: "empty", message: "Address is empty" })]
  },
  "domain/Envelope.ts#EnvelopeError": {
    make: () => [
      envelopeError({ to: "run:x", type: "bad type!", body: {} }),
      envelopeError({ to: 5, type: "note" }),
      envelopeError({ to: "run:x", type: "note", tmeout: 1 }),
      new EnvelopeError({ reason: "too_large", message: "Message body exceeds 64 KiB (65537 bytes)", field: "body" })
    ]
  },
  "domain/PersistenceError.ts#PersistenceError": {
    make: () => [
      new PersistenceError({ operation: "Store.insertRun", detail: "SQLITE_FULL: database or disk is full" }),
      persistenceError("Store.read")(parseError),
      persistenceError("Store.read")({ message: `unreadable run record: ${errorDetail(parseError)}` }),
      persistenceError("Store.open")({ message: "Failed to open", cause: new Error("SQLITE_CANTOPEN\n    at Database (sqlite.js:1:1)") })
    ]
  },
  "domain/Golden.ts#GoldenError": {
    make: () => [
      new GoldenError({ reason: "step", step: "pi", message: "Golden image build failed at step pi on VM 1234abcd: npm could not install /nope.tgz: ENOENT." }),
      new GoldenError({ reason: "secret", step: "secrets", message: "Golden image build failed at step secrets on VM 1234abcd: a configured secret value or a private key is in .profile; nothing was committed." }),
      new GoldenError({ reason: "records", step: null, message: `The golden image records /h/goldens.json are not valid: ${describeParseError(parseError)}` })
    ]
  },
  "domain/PiRpc.ts#PiRpcRejected": { make: () => [new PiRpcRejected({ command: "prompt", error: "Model not found: p/m", message: piRpcMessages.rejected("prompt", "Model not found: p/m") })] },
  "domain/PiRpc.ts#PiRpcClosed": { make: () => [new PiRpcClosed({ message: `Pi's output failed: ${errorDetail(parseError)}`, stderr: "boom" })] },
  "domain/PiRpc.ts#PiRpcProtocolError": {
    make: () => [
      new PiRpcProtocolError({ line: "{}", message: piRpcMessages.badResponse("get_state", describeParseError(parseError)) }),
      new PiRpcProtocolError({ line: "x".repeat(300), message: piRpcMessages.notJson("x".repeat(300)) })
    ]
  },
  "domain/Recipe.ts#RecipeError": { make: () => [new RecipeError({ reason: "invalid", recipe: "r", message: `Recipe r: ${describeParseError(parseError)}` })] },
  "domain/RecipeImports.ts#ImportProblem": { make: () => [new ImportProblem("Unknown recipe import: helper")] },
  "domain/Run.ts#ActorsError": {
    make: () => [
      new ActorsError({ reason: "not_found", message: "No run r1" }), new ActorsError({ reason: "invalid", message: `status filter must be one of: running, exited` }),
      storeFault("Mailbox.read")({ message: "unreadable inbox record", cause: parseError })
    ]
  },
  "domain/SshErrors.ts#SshConnectError": { make: () => [new SshConnectError({ vmId, message: SshMessages.connect(vmId, "x.vm.vers.sh:443", "ECONNREFUSED") })] },
  "domain/SshErrors.ts#SshAuthError": { make: () => [new SshAuthError({ vmId, message: SshMessages.auth(vmId) })] },
  "domain/SshErrors.ts#SshTimeout": { make: () => [new SshTimeout({ vmId, timeoutMs: 5000, message: SshMessages.timeout(vmId, 5000) })] },
  "domain/SshErrors.ts#SshDisconnected": { make: () => [new SshDisconnected({ vmId, message: SshMessages.disconnected(vmId, "socket hang up") })] },
  "domain/SshErrors.ts#SshHostKeyChanged": {
    make: () => [new SshHostKeyChanged({ vmId, expected: "SHA256:a", actual: "SHA256:b", message: SshMessages.hostKeyChanged(vmId, "SHA256:a", "SHA256:b") })]
  },
  "domain/SshErrors.ts#SftpError": {
    make: () => [new SftpError({ vmId, operation: "stat", path: "/x", reason: "not-found", message: SshMessages.sftp(vmId, "stat", "/x", "no such file or directory") })]
  },
  "domain/SshErrors.ts#RemoteCommandFailed": {
    make: () => [
      new RemoteCommandFailed({ vmId, code: 2, signal: null, stderrTail: "line 1\nfatal: nope\n", message: SshMessages.failed(vmId, "git pull", 2, null, "line 1\nfatal: nope\n") })
    ]
  },
  "domain/Swarm.ts#SwarmError": { make: () => [new SwarmError({ reason: "budget", message: "A swarm of 5 needs 5 VMs; the budget allows 3 more" })] },
  "domain/Template.ts#TemplateError": { make: () => [new TemplateError({ reason: "syntax", message: `Command template: ${describeParseError(parseError)}` })] },
  "domain/VersErrors.ts#VersAuthError": {
    make: () => [new VersAuthError({ operation: "createRoot", message: VersMessages.noKey() }), new VersAuthError({ operation: "status", vmId, status: 401, message: VersMessages.auth("status", 401, vmId) })]
  },
  "domain/VersErrors.ts#VmNotFound": { make: () => [new VmNotFound({ operation: "status", vmId, message: VersMessages.notFound("status", vmId) })] },
  "domain/VersErrors.ts#VmConflict": { make: () => [new VmConflict({ operation: "resize", vmId, status: 409, message: VersMessages.conflict("resize", 409, "disk must grow", vmId) })] },
  "domain/VersErrors.ts#VersRateLimited": { make: () => [new VersRateLimited({ operation: "list", retryAfterMs: 2000, message: VersMessages.rateLimited("list", 2000) })] },
  "domain/VersErrors.ts#VersUnavailable": { make: () => [new VersUnavailable({ operation: "list", status: 503, message: VersMessages.unavailable("list", "HTTP 503") })] },
  "domain/VersErrors.ts#VersTimeout": { make: () => [new VersTimeout({ operation: "waitRunning", vmId, timeoutMs: 120000, message: VersMessages.timeout("waitRunning", 120000, vmId) })] },
  "domain/VersErrors.ts#VersDecodeError": {
    make: () => [new VersDecodeError({ operation: "status", vmId, message: VersMessages.decode("status", describeParseError(parseError), vmId) })]
  },
  "domain/VersErrors.ts#VmDead": { make: () => [new VmDead({ operation: "waitRunning", vmId, message: VersMessages.dead("waitRunning", vmId) })] },
  "layers/Config.ts#InvalidConfiguration": { make: () => [new InvalidConfiguration({ message: `TROUPE_LOCAL_HOST must be local or broker, not "x"` })] },
  "services/CommandGraph.ts#RootAbort": { internal: "carries a node result out of a fail-fast graph; never leaves CommandGraph" },
  "services/Host.ts#HostError": { make: () => [new HostError({ reason: "spawn", code: 127, message: "Command not found: frobnicate" })] },
  "services/VmCopy.ts#CopyError": { make: () => [new CopyError({ message: "vm:abc is not vm:<id>:<path> (a VM id and a path are both needed)" })] },
  "services/Worktrees.ts#GitError": { internal: "git's exit of one call; Worktrees maps it to an ActorsError sentence" },
  "services/internal/BrokerProtocol.ts#BrokerProtocolError": { make: () => [brokerError(), new BrokerProtocolError({ message: "the exec broker sent a malformed frame: length 0" })] },
  "services/internal/RegularFile.ts#RegularFileError": { make: () => [new RegularFileError({ reason: "too_large", message: "/x/r.json is larger than 1048576 bytes" })] }
}

const srcRoot = join(process.cwd(), "src")
const errorClass = /class\s+(\w+)\s+extends\s+(?:Schema\.TaggedError|Data\.TaggedError|Data\.Error|Error)\b|class\s+(\w+)\s*\{\s*readonly\s+_tag\s*=/g

/** `file#Class` of every error class under src/ but src/testing (fakes are not user-facing). */
const discovered = (): ReadonlyArray<string> => {
  const found: Array<string> = []
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) {
        if (relative(srcRoot, path) !== "testing") walk(path)
      } else if (entry.name.endsWith(".ts")) {
        for (const m of readFileSync(path, "utf8").matchAll(errorClass)) found.push(`${relative(srcRoot, path)}#${m[1] ?? m[2]}`)
      }
    }
  }
  walk(srcRoot)
  return found.sort()
}

/** Fails on anything but one plain line a person reads. */
const readable = (where: string, text: string | undefined): void => {
  expect(text, where).toBeTypeOf("string")
  const t = text!.trim()
  expect(t, where).not.toBe("")
  expect(t.split("\n"), `${where}: one line: ${t}`).toHaveLength(1)
  for (const bad of ["└─", "├─", "Encoded side", "Type side", "(troupe/", "    at ", "[object Object]", "undefined"]) {
    expect(t, `${where}: ${JSON.stringify(bad)} in: ${t}`).not.toContain(bad)
  }
  expect(t, `${where}: schema dump in: ${t}`).not.toMatch(/Expected .+, actual /)
}

describe("every error a user can see is one plain sentence", () => {
  it("the walk covers every error class in src/", () => {
    const found = discovered()
    // A negative check must see the things it checks: the scan finds the known classes.
    expect(found).toContain("domain/VersErrors.ts#VmDead")
    expect(found.filter((k) => !(k in cases)), "error classes the walk does not cover: add them to `cases`").toEqual([])
    expect(Object.keys(cases).filter((k) => !found.includes(k)), "cases for classes that no longer exist").toEqual([])
  })

  for (const [key, c] of Object.entries(cases)) {
    if ("internal" in c) continue
    it(key, () => {
      const errors = c.make()
      expect(errors.length).toBeGreaterThan(0)
      for (const e of errors) {
        const name = key.split("#")[1]!
        expect((e as { constructor: { name: string } }).constructor.name, key).toBe(name)
        readable(`${key} message`, (e as { message?: string }).message)
        const cli = errorReport(name === "InvalidConfiguration" ? Cause.die(e) : Cause.fail(e))
        readable(`${key} CLI`, cli.line)
        expect(cli.line!.startsWith("error: ")).toBe(true)
        expect(cli.line).not.toContain("internal error")
        readable(`${key} Pi`, oneLine(Cause.fail(e)))
      }
    })
  }

  it("the CLI printer turns a defect, a bare object and an interruption into one line or none", () => {
    readable("defect", errorReport(Cause.die(new Error("boom\n    at x (y.js:1:1)"))).line)
    readable("ParseError failure", errorReport(Cause.fail(parseError)).line)
    readable("tagged object without message", errorReport(Cause.fail({ _tag: "Weird" })).line)
    readable("plain object", errorReport(Cause.fail({ a: 1 })).line)
    expect(errorReport(Cause.interrupt(0 as never))).toEqual({ exitCode: 130, line: undefined })
    expect(errorReport(Cause.fail(new CliExit({ code: 3 })))).toEqual({ exitCode: 3, line: undefined })
    readable("Pi defect", oneLine(Cause.die(new Error("boom\n    at x (y.js:1:1)"))))
  })
})
