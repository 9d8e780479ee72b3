/**
 * JSON values inside envelopes (`body`, `metadata`; SPEC-messaging §2): whether a value is JSON
 * and how many UTF-8 bytes its `JSON.stringify` encoding takes, exactly below a cap. Used by the
 * envelope checks in `Envelope.ts`.
 */

/** Deepest nesting of arrays/objects inside `body` and `metadata`. */
export const maxJsonDepth = 128

// JSON measurement: iterative (no stack overflow at any depth), bounded work (stops past the
// cap, so neither huge sparse arrays nor shared sub-objects make it slow), exact below the cap.

export type Measured =
  | { readonly _tag: "ok"; readonly bytes: number }
  | { readonly _tag: "over"; readonly bytes: number; readonly exact: boolean }
  | { readonly _tag: "invalid"; readonly at: string; readonly problem: string }

interface PathNode {
  readonly parent: PathNode | undefined
  readonly key: string | number
}

type Frame =
  | { readonly _tag: "visit"; readonly value: unknown; readonly at: PathNode | undefined; readonly depth: number }
  | { readonly _tag: "leave"; readonly container: object }

const pathText = (root: string, node: PathNode | undefined): string => {
  const keys: Array<string | number> = []
  for (let n = node; n !== undefined; n = n.parent) keys.push(n.key)
  let out = root
  for (let i = keys.length - 1; i >= 0; i--) {
    const k = keys[i]!
    out += typeof k === "number" ? `[${k}]` : /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`
  }
  return out
}

export const stringBytes = (s: string): number => Buffer.byteLength(JSON.stringify(s), "utf8")

export const isPlainObject = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false
  const proto: unknown = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

export const kindOf = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v)

/** The exact UTF-8 byte length of `JSON.stringify(root)` (up to `cap`), or why it is not JSON. */
export const measureJson = (root: string, value: unknown, cap: number): Measured => {
  let bytes = 0
  const open = new Set<object>()
  const stack: Array<Frame> = [{ _tag: "visit", value, at: undefined, depth: 0 }]
  const invalid = (at: PathNode | undefined, problem: string): Measured => ({ _tag: "invalid", at: pathText(root, at), problem })
  while (stack.length > 0) {
    const frame = stack.pop()!
    if (frame._tag === "leave") {
      open.delete(frame.container)
      continue
    }
    const v = frame.value
    switch (typeof v) {
      case "string":
        bytes += stringBytes(v)
        break
      case "number":
        if (!Number.isFinite(v)) return invalid(frame.at, `is ${String(v)}, not a JSON number`)
        bytes += JSON.stringify(v).length
        break
      case "boolean":
        bytes += v ? 4 : 5
        break
      case "object": {
        if (v === null) {
          bytes += 4
          break
        }
        if (open.has(v)) return invalid(frame.at, "is a circular reference")
        if (frame.depth >= maxJsonDepth) return invalid(frame.at, `is nested deeper than ${maxJsonDepth} levels`)
        const depth = frame.depth + 1
        const children: Array<Frame> = []
        if (Array.isArray(v)) {
          bytes += 2 + Math.max(0, v.length - 1)
          if (bytes > cap) return { _tag: "over", bytes, exact: false }
          for (let i = 0; i < v.length; i++) children.push({ _tag: "visit", value: v[i], at: { parent: frame.at, key: i }, depth })
        } else {
          if (!isPlainObject(v)) return invalid(frame.at, "is not a plain JSON object")
          const keys = Object.keys(v)
          bytes += 2 + Math.max(0, keys.length - 1) + keys.length
          for (const k of keys) {
            if (bytes > cap) return { _tag: "over", bytes, exact: false }
            bytes += stringBytes(k)
            children.push({ _tag: "visit", value: v[k], at: { parent: frame.at, key: k }, depth })
          }
        }
        open.add(v)
        stack.push({ _tag: "leave", container: v })
        for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!)
        break
      }
      default:
        return invalid(frame.at, `is ${v === undefined ? "undefined" : `a ${typeof v}`}, not JSON`)
    }
    // A lone string is measured exactly whatever its size; structures stop at the cap.
    if (bytes > cap) return { _tag: "over", bytes, exact: stack.length === 0 }
  }
  return { _tag: "ok", bytes }
}

/**
 * The fast path of `measureJson` for the common case: plain JSON within every limit. Returns
 * the exact byte count, or -1 when the value needs the full walk (anything not JSON, too deep,
 * a cycle — it shows up as too deep —, over `budget` inside a structure; a lone string is
 * measured whatever its size), which then says what is wrong. Recursion
 * is bounded by `maxJsonDepth`, work by the byte limit (every value adds at least one byte).
 */
export const quickJsonBytes = (value: unknown, depth: number, budget: number): number => {
  switch (typeof value) {
    case "string":
      return stringBytes(value)
    case "number":
      return Number.isFinite(value) ? JSON.stringify(value).length : -1
    case "boolean":
      return value ? 4 : 5
    case "object": {
      if (value === null) return 4
      if (depth >= maxJsonDepth) return -1
      if (Array.isArray(value)) {
        let bytes = 2 + Math.max(0, value.length - 1)
        if (bytes > budget) return -1
        for (let i = 0; i < value.length; i++) {
          const b = quickJsonBytes(value[i], depth + 1, budget - bytes)
          if (b < 0) return -1
          bytes += b
          if (bytes > budget) return -1
        }
        return bytes
      }
      if (!isPlainObject(value)) return -1
      const keys = Object.keys(value)
      let bytes = 2 + Math.max(0, keys.length - 1) + keys.length
      for (const k of keys) {
        if (bytes > budget) return -1
        bytes += stringBytes(k)
        const b = quickJsonBytes(value[k], depth + 1, budget - bytes)
        if (b < 0) return -1
        bytes += b
      }
      return bytes > budget ? -1 : bytes
    }
    default:
      return -1
  }
}

/**
 * The UTF-8 byte length of a body's JSON encoding, as the 64 KiB limit counts it (a string body
 * counts with its quotes and escapes: `"héllo"` is 8 bytes). Undefined when it is not JSON.
 */
export const encodedBytes = (value: unknown): number | undefined => {
  const m = measureJson("value", value, Number.POSITIVE_INFINITY)
  return m._tag === "invalid" ? undefined : m.bytes
}
