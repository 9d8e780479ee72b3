/**
 * One behaviour suite, every host: the leaf tests (test/support/leafSuite.ts), CommandGraph
 * composition (compositionSuite.ts) and the template case table (templateCases.ts), all on
 * one host. test/services/HostSuite.test.ts runs it for each entry of test/support/hosts.ts.
 */
import { compositionSuite } from "./compositionSuite.js"
import type { TestHost } from "./hosts.js"
import { leafSuite } from "./leafSuite.js"
import { templateCasesSuite } from "./templateCases.js"

export const hostSuite = (entry: TestHost) => {
  leafSuite(entry)
  compositionSuite(entry)
  templateCasesSuite(entry)
}
