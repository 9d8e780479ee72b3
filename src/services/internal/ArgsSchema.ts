/**
 * The JSON Schema of a command template's arguments (what `argsSchema`, the Pi recipe tools and
 * `recipes show` present): explicit `args`, inline declarations and defaults, in order of first
 * appearance. Pure; a conflict is a thrown TemplateError.
 */
import type { ArgsJsonSchema, TemplateInput, TemplateNodeInput } from "../../domain/Template.js"
import * as Text from "../../domain/TemplateText.js"
import { collectInline, injectedNames, whenFlag } from "./GraphPlan.js"

/**
 * JSON Schema of a template's args: explicit `args` win over inline declarations; a name is
 * required when it has no default anywhere (args, defaults, inline) and is not only read
 * optionally (`??`, ternary). Injected runtime names are excluded.
 *
 * @throws TemplateError (use through `CommandGraph.argsSchema` for an Either).
 */
export const templateArgsSchema = (
  template: TemplateInput,
  args: ReadonlyArray<string>,
  defaults: Readonly<Record<string, unknown>>
): ArgsJsonSchema => {
  const explicit = Text.parseArgDecls(args)
  const decls = Text.mergeDecls(explicit, collectInline(template, []))
  const required = new Set<string>()
  const optional = new Set<string>()
  const withDefault = new Set<string>(Object.keys(defaults))
  // `order` keeps first appearance; `ordered` makes each check O(1) (a template may hold tens
  // of thousands of placeholders).
  const order: Array<string> = explicit.map((d) => d.name)
  const ordered = new Set(order)
  const appendOrder = (name: string) => {
    if (ordered.has(name)) return
    ordered.add(name)
    order.push(name)
  }
  const visit = (t: TemplateInput) => {
    if (typeof t === "string") {
      const info = Text.inlineInfo(t)
      for (const n of info.required) required.add(n)
      for (const n of info.optional) optional.add(n)
      for (const n of info.withDefault) withDefault.add(n)
      for (const n of info.required) appendOrder(n)
      for (const n of info.optional) appendOrder(n)
    } else if (Array.isArray(t)) t.forEach(visit)
    else if (typeof t === "object" && t !== null) {
      const n = t as TemplateNodeInput
      for (const k of Object.keys(n.defaults ?? {})) withDefault.add(k)
      const flag = whenFlag(n.when)
      if (flag !== undefined) {
        withDefault.add(flag)
        appendOrder(flag)
      }
      if (n.template !== undefined) visit(n.template)
      if (n.recover !== undefined) visit(n.recover)
      for (const f of [n.timeout, n.delay, n.retry, n.repeat, n.concurrency, n.min_successful, n.when, n.label, n.output]) {
        if (typeof f === "string") visit(f)
      }
    }
  }
  visit(template)
  const properties: Record<string, ArgsJsonSchema["properties"][string]> = {}
  const req: Array<string> = []
  for (const name of order) {
    if (injectedNames.has(name)) continue
    const d = decls.get(name)
    const t = d?.type ?? { _tag: "string" as const }
    const def = d?.default ?? defaults[name]
    const jsonType =
      t._tag === "int" ? "integer" : t._tag === "number" ? "number" : t._tag === "bool" ? "boolean" : t._tag === "array" ? "array" : "string"
    properties[name] = {
      type: jsonType,
      ...(t._tag === "enum" ? { enum: t.options } : {}),
      ...(def !== undefined ? { default: def } : {}),
      ...(t._tag === "path" ? { description: "path" } : {})
    }
    const hasDefault = def !== undefined || withDefault.has(name)
    if (!hasDefault && (required.has(name) || d?.source === "args") && !(optional.has(name) && !required.has(name))) req.push(name)
  }
  return { type: "object", properties, required: req, additionalProperties: true }
}
