/**
 * The scripted model for `npm run test:pi`, loaded by a real Pi with `-e` (through jiti, so it
 * is TypeScript without a build). It registers Pi's `faux` provider — no API key, no network —
 * whose every response is produced by `brain` from the transcript Pi sends it, and a tiny
 * `e2e_echo` tool that lets the harness be checked without the troupe adapter.
 *
 * The test's prompt is the script: `E2E:` followed by JSON {@link Script}. The model makes the
 * tool calls of `steps[0]` (one assistant message, parallel calls), then `steps[1]` after their
 * results, and so on; then it answers `SCRIPT-DONE` with the tool results and/or the tools it can
 * see. Any later user-role message that is not a script — a follow-up such as troupe's
 * `troupe-run` custom message, which Pi hands to the model as a user message — gets the answer
 * `FOLLOWUP-SEEN <<text of that message>>`, so a test can tell the model read it.
 *
 * Typechecked with the rest of the tests against the Pi devDependency's types (1.6.0); at run
 * time Pi resolves `@earendil-works/*` and `typebox` to its own copies (jiti aliases), so the
 * same file runs on every Pi that `npm run test:pi` tests (0.82.1 and 1.6.0 in CI).
 */
import {
  type AssistantMessage,
  fauxAssistantMessage,
  fauxProvider,
  fauxText,
  fauxToolCall,
  type Message,
  type ToolCall,
  type TranscriptContext
} from "@earendil-works/pi-ai"
import type { ExtensionAPI } from "@earendil-works/pi-coding-agent"
import { Type } from "typebox"

/** One scripted tool call. */
interface Call {
  readonly name: string
  readonly arguments: ToolCall["arguments"]
}

/** What the test's `E2E:` prompt asks the model to do. */
interface Script {
  /** Rounds of tool calls; the calls of one round go out in one assistant message. */
  readonly steps: ReadonlyArray<ReadonlyArray<Call>>
  /** What the closing `SCRIPT-DONE` answer carries: tool results, the visible tool names. */
  readonly report?: ReadonlyArray<"results" | "tools">
}

const scriptTag = "E2E:"

const textOf = (message: Message): string => {
  if (message.role === "assistant") return message.content.flatMap((c) => (c.type === "text" ? [c.text] : [])).join("")
  const content = message.content
  if (typeof content === "string") return content
  return content.flatMap((c) => (c.type === "text" ? [c.text] : [])).join("")
}

/**
 * Tool names the model can see. Pi 0.87 and 1.x send them as system messages (additions minus
 * removals, in order); Pi 0.82 as `context.tools`.
 */
const visibleTools = (context: TranscriptContext): Array<string> => {
  const listed = (context as { readonly tools?: ReadonlyArray<{ readonly name: string }> }).tools
  if (listed !== undefined) return listed.map((t) => t.name).sort()
  const messages = context.messages
  const tools = new Set<string>()
  for (const m of messages) {
    if (m.role !== "system") continue
    for (const t of m.toolsAdded ?? []) tools.add(t.name)
    for (const t of m.toolsRemoved ?? []) tools.delete(t.name)
  }
  return [...tools].sort()
}

const brain = (context: TranscriptContext): AssistantMessage => {
  const messages = context.messages
  const last = messages[messages.length - 1]
  let scriptAt = -1
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!
    if (m.role === "user" && textOf(m).startsWith(scriptTag)) {
      scriptAt = i
      break
    }
  }
  if (last !== undefined && last.role === "user" && messages.indexOf(last) !== scriptAt) {
    return fauxAssistantMessage(`FOLLOWUP-SEEN <<${textOf(last)}>>`)
  }
  if (scriptAt < 0) return fauxAssistantMessage("NO-SCRIPT")
  const script = JSON.parse(textOf(messages[scriptAt]!).slice(scriptTag.length)) as Script
  const since = messages.slice(scriptAt + 1)
  const done = since.filter((m) => m.role === "assistant" && m.content.some((c) => c.type === "toolCall")).length
  const step = script.steps[done]
  if (step !== undefined) {
    return fauxAssistantMessage(
      step.map((call, i) => fauxToolCall(call.name, call.arguments, { id: `e2e-${done}-${i}` })),
      { stopReason: "toolUse" }
    )
  }
  const lines = ["SCRIPT-DONE"]
  const report = script.report ?? []
  if (report.includes("results")) {
    for (const m of since) {
      if (m.role === "toolResult") lines.push(`RESULT ${m.toolName}${m.isError ? " (error)" : ""}: ${textOf(m)}`)
    }
  }
  if (report.includes("tools")) lines.push(`TOOLS: ${visibleTools(context).join(" ")}`)
  return fauxAssistantMessage(fauxText(lines.join("\n")))
}

export default function fauxExtension(pi: ExtensionAPI): void {
  const faux = fauxProvider({ provider: "faux", models: [{ id: "faux-1", name: "Faux (troupe e2e)" }] })
  // Every model request takes the next queued step; all of them are the same transcript-driven brain.
  faux.setResponses(Array.from({ length: 1000 }, () => brain))
  pi.registerProvider(faux.provider)
  pi.registerTool({
    name: "e2e_echo",
    label: "e2e echo",
    description: "Echo the given text back (troupe end-to-end harness).",
    parameters: Type.Object({ text: Type.String() }),
    async execute(_toolCallId, params) {
      return { content: [{ type: "text", text: `echo: ${params.text}` }], details: undefined }
    }
  })
}
