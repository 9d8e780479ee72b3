/**
 * Nesting depth of JSON values, measured without recursion: recipe files and command templates
 * are user input, and Schema decoding, the recipe checks, import linking and graph planning all
 * walk them recursively, so a value nested a few thousand levels deep would overflow the stack
 * (`RangeError: Maximum call stack size exceeded`). Checking the depth first, with an explicit
 * stack, turns that into one diagnostic.
 */

/**
 * Deepest nesting accepted in a recipe file: 64 levels of arrays and objects. The packaged
 * recipes and the pi-actors 0.17 fixtures nest at most 7.
 */
export const maxRecipeDepth = 64

/**
 * Deepest nesting accepted in a linked template (a recipe with its imports inlined): 256
 * levels, room for a chain of imports whose files are each within {@link maxRecipeDepth}.
 */
export const maxTemplateDepth = 256

/**
 * Deepest nesting accepted in a run's `values` (spawn `values`, `--values`): 64 levels. Values
 * are substituted into command text; deeper JSON cannot even be serialised for the daemon.
 */
export const maxValuesDepth = 64

/**
 * Whether `value` nests arrays/objects deeper than `limit` levels (a scalar is depth 0,
 * `[]` and `{}` depth 1). Iterative; stops at the first branch past the limit.
 */
export const deeperThan = (value: unknown, limit: number): boolean => {
  const stack: Array<readonly [unknown, number]> = [[value, 0]]
  while (stack.length > 0) {
    const [v, d] = stack.pop()!
    if (typeof v !== "object" || v === null) continue
    const depth = d + 1
    if (depth > limit) return true
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === "object" && child !== null) stack.push([child, depth])
    }
  }
  return false
}
