/**
 * `troupe fleet fake`: serve the fake Vers fleet (`src/testing/FakeFleet.ts`: the API and the
 * VMs' SSH side) on loopback for demos and for trying VM commands without a Vers account. The
 * fake loads with `import()` only when the command runs, so the CLI's start stays thin
 * (test/cli/CliImports.test.ts).
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { UsageError } from "./Common.js"
import { json, print, printJson, withExamples } from "./Session.js"

/** A value safe in a POSIX shell `export` line (the host template has braces). */
const shellQuote = (v: string) => (/^[\w@%+=:,./-]+$/.test(v) ? v : `'${v.replace(/'/g, "'\\''")}'`)

const fake = Command.make(
  "fake",
  {
    port: Options.integer("port").pipe(Options.withDescription("Port on 127.0.0.1 (default: any free port)"), Options.optional),
    sshPort: Options.integer("ssh-port").pipe(Options.withDescription("Port of the SSH (TLS) listener on 127.0.0.1 (default: any free port)"), Options.optional),
    dir: Options.directory("dir").pipe(Options.withDescription("Fleet directory for VM roots, commits and ca.pem (default: a temp dir removed on exit)"), Options.optional),
    bootMs: Options.integer("boot-ms").pipe(Options.withDescription("How long a new VM stays booting, in ms (default 50)"), Options.optional),
    json
  },
  (input) =>
    Effect.gen(function* () {
      const port = Option.getOrElse(input.port, () => 0)
      if (port < 0 || port > 65_535) return yield* new UsageError({ message: `--port must be within 0..65535, not ${port}` })
      const sshPort = Option.getOrElse(input.sshPort, () => 0)
      if (sshPort < 0 || sshPort > 65_535) return yield* new UsageError({ message: `--ssh-port must be within 0..65535, not ${sshPort}` })
      const bootMs = Option.getOrElse(input.bootMs, () => 50)
      if (bootMs < 0) return yield* new UsageError({ message: `--boot-ms must not be negative, not ${bootMs}` })
      const FakeFleet = yield* Effect.promise(() => import("../testing/FakeFleet.js"))
      const fleet = yield* FakeFleet.make({ port, bootMs, sshPort, ...Option.match(input.dir, { onNone: () => ({}), onSome: (dir) => ({ dir }) }) })
      const env = fleet.env
      if (input.json) yield* printJson({ base_url: fleet.vers.baseUrl, api_key: fleet.vers.apiKey, port: fleet.vers.port, ssh_port: fleet.ssh.port, dir: fleet.dir, env })
      else yield* print(Object.entries(env).map(([k, v]) => `export ${k}=${shellQuote(v)}`).join("\n"))
      yield* Console.error(`troupe fleet fake: serving ${fleet.vers.baseUrl} (SSH on ${fleet.ssh.host}:${fleet.ssh.port}, VMs under ${fleet.dir}) until SIGINT or SIGTERM`)
      // SIGINT/SIGTERM interrupt the program (NodeRuntime.runMain), which closes the fake and exits 0.
      return yield* Effect.never
    }).pipe(Effect.scoped)
).pipe(
  Command.withDescription(
    withExamples(
      "Serve a fake Vers fleet on 127.0.0.1 until SIGINT or SIGTERM: the VM operations of the Vers API (in memory) and each VM's SSH " +
        "side (TLS routed by SNI, commands run as local processes in the VM's root directory; not a sandbox). " +
        "Prints the VERS_BASE_URL, VERS_API_KEY, VERS_SSH_HOST, VERS_SSH_ADDRESS, VERS_SSH_PORT and VERS_SSH_CA to use (or one JSON object with --json).",
      ["troupe fleet fake", "troupe fleet fake --port 8765 --json", "curl -H \"Authorization: Bearer $VERS_API_KEY\" \"$VERS_BASE_URL/vms\""]
    )
  )
)

/** `troupe fleet …`: the fleet of Vers VMs (for now its fake). */
export const fleet = Command.make("fleet").pipe(
  Command.withDescription("Vers fleets: `fleet fake` serves a fake one for demos and tests."),
  Command.withSubcommands([fake])
)
