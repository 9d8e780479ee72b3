/**
 * A Pi extension for the PiRpc end-to-end test (loaded by Pi with `-e`): the `e2e_confirm` tool
 * asks a `confirm` dialog through `ctx.ui` and returns what the dialog answered, so the test
 * sees that an RPC client's `extension_ui_response` reached the extension.
 */
import type { ExtensionAPI } from "@earendil-works/pi-coding-agent"
import { Type } from "typebox"

export default function dialogExtension(pi: ExtensionAPI): void {
  pi.registerTool({
    name: "e2e_confirm",
    label: "e2e confirm",
    description: "Ask the user to confirm (troupe end-to-end harness).",
    parameters: Type.Object({ question: Type.String() }),
    async execute(_toolCallId, params, _signal, _onUpdate, ctx) {
      const ok = await ctx.ui.confirm("e2e", params.question)
      return { content: [{ type: "text", text: `confirmed: ${String(ok)}` }], details: undefined }
    }
  })
}
