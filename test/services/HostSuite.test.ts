/**
 * The shared host behaviour suite (test/support/hostSuite.ts) against every host of
 * test/support/hosts.ts — today `local`; adding a host is one line there.
 */
import { describe } from "@effect/vitest"
import { hostSuite } from "../support/hostSuite.js"
import { testHosts } from "../support/hosts.js"

for (const entry of testHosts) {
  describe(`host ${entry.name}`, () => hostSuite(entry))
}
