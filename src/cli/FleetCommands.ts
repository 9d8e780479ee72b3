/**
 * `troupe fleet fake`: serve the fake Vers fleet (`src/testing/FakeVers.ts`) on loopback for
 * demos and for trying VM commands without a Vers account. The fake loads with `import()` only
 * when the command runs, so the CLI's start stays thin (test/cli/CliImports.test.ts).
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { UsageError } from "./Common.js"
import { json, print, printJson, withExamples } from "./Session.js"

const fake = Command.make(
  "fake",
  {
    port: Options.integer("port").pipe(Options.withDescription("Port on 127.0.0.1 (default: any free port)"), Options.optional),
    bootMs: Options.integer("boot-ms").pipe(Options.withDescription("How long a new VM stays booting, in ms (default 50)"), Options.optional),
    json
  },
  (input) =>
    Effect.gen(function* () {
      const port = Option.getOrElse(input.port, () => 0)
      if (port < 0 || port > 65_535) return yield* new UsageError({ message: `--port must be within 0..65535, not ${port}` })
      const bootMs = Option.getOrElse(input.bootMs, () => 50)
      if (bootMs < 0) return yield* new UsageError({ message: `--boot-ms must not be negative, not ${bootMs}` })
      const FakeVers = yield* Effect.promise(() => import("../testing/FakeVers.js"))
      const fleet = yield* FakeVers.make({ port, bootMs })
      const env = { VERS_BASE_URL: fleet.baseUrl, VERS_API_KEY: fleet.apiKey }
      if (input.json) yield* printJson({ base_url: fleet.baseUrl, api_key: fleet.apiKey, port: fleet.port, env })
      else yield* print(Object.entries(env).map(([k, v]) => `export ${k}=${v}`).join("\n"))
      yield* Console.error(`troupe fleet fake: serving ${fleet.baseUrl} until SIGINT or SIGTERM`)
      // SIGINT/SIGTERM interrupt the program (NodeRuntime.runMain), which closes the fake and exits 0.
      return yield* Effect.never
    }).pipe(Effect.scoped)
).pipe(
  Command.withDescription(
    withExamples(
      "Serve a fake Vers fleet (the VM operations of the Vers API, in memory) on 127.0.0.1 until SIGINT or SIGTERM. " +
        "Prints the VERS_BASE_URL and VERS_API_KEY to use (or one JSON object with --json).",
      ["troupe fleet fake", "troupe fleet fake --port 8765 --json", "curl -H \"Authorization: Bearer $VERS_API_KEY\" \"$VERS_BASE_URL/vms\""]
    )
  )
)

/** `troupe fleet …`: the fleet of Vers VMs (for now its fake). */
export const fleet = Command.make("fleet").pipe(
  Command.withDescription("Vers fleets: `fleet fake` serves a fake one for demos and tests."),
  Command.withSubcommands([fake])
)
