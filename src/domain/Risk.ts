/**
 * Risk labels for obvious risk shapes in planned leaves (SPEC-runtime §1.7). Templates are
 * trusted and the runtime is not a sandbox; the labels only make risk visible at spawn and
 * registration, each with a hint on how to narrow the template.
 */
import type { PlannedNode, RiskWarning } from "./Plan.js"

const base = (p: string) => p.slice(p.lastIndexOf("/") + 1)

const shells = new Set(["bash", "sh", "zsh", "dash", "ksh", "fish", "ash"])
const evalFlags: Record<string, ReadonlyArray<string>> = {
  node: ["-e", "--eval", "-p", "--print"],
  deno: ["eval"],
  bun: ["-e", "--eval"],
  python: ["-c"],
  python3: ["-c"],
  perl: ["-e", "-E"],
  ruby: ["-e"],
  php: ["-r"]
}
const networkTools = new Set(["curl", "wget", "ssh", "scp", "sftp", "rsync", "nc", "ncat", "telnet", "ftp", "http", "https"])
const sideEffects: ReadonlyArray<readonly [string, string]> = [
  ["npm", "publish"],
  ["pnpm", "publish"],
  ["yarn", "publish"],
  ["git", "push"],
  ["gh", "release"],
  ["gh", "pr"],
  ["docker", "push"],
  ["kubectl", "apply"],
  ["kubectl", "delete"],
  ["terraform", "apply"],
  ["cargo", "publish"]
]
const secretPattern = /(^|[/._-])(\.ssh|id_rsa|id_ed25519|\.env|\.npmrc|\.netrc|credentials|secrets?|api[_-]?key|token|password|passwd)($|[/._-])/i
const broadTargets = new Set(["/", "~", "/*", "/etc", "/usr", "/var", "/home", "/root", "$HOME"])

const hints: Record<RiskWarning["label"], string> = {
  "risk.shell": "Call the program directly with its arguments, or move the script into a file and run that file.",
  "risk.eval": "Move the inline code into a script file in the recipe and run the file.",
  "risk.destructive_fs": "Delete only a specific path under {state_dir} or the workspace, without -r on broad paths.",
  "risk.broad_fs_write": "Write to a path under {state_dir} or the workspace instead of a system or home-wide location.",
  "risk.network": "Pin the host and path in the template and keep secrets out of argv.",
  "risk.external_side_effect": "Keep publishing steps out of reusable recipes, or gate them behind an explicit `when` flag.",
  "risk.secret_touching": "Pass secrets through the environment of the daemon, never as template values or argv.",
  "risk.long_running": "Give the node a `timeout` (ms) so it cannot run unbounded."
}

/** Risk labels of one argv (with `hasTimeout` telling whether the leaf is time-bounded). */
export const argvRisks = (argv: ReadonlyArray<string>, hasTimeout: boolean): ReadonlyArray<RiskWarning["label"]> => {
  const out = new Set<RiskWarning["label"]>()
  const cmd = base(argv[0] ?? "")
  const args = argv.slice(1)
  if (shells.has(cmd) && args.some((a) => /^-[a-z]*c[a-z]*$/.test(a))) out.add("risk.shell")
  const ev = evalFlags[cmd.replace(/[0-9.]+$/, "")] ?? evalFlags[cmd]
  if (ev !== undefined && args.some((a) => ev.includes(a))) out.add("risk.eval")
  if (cmd === "rm" && args.some((a) => /^-[a-zA-Z]*[rR]/.test(a) || a === "--recursive")) out.add("risk.destructive_fs")
  if ((cmd === "find" && args.includes("-delete")) || cmd === "mkfs" || cmd === "dd" || cmd === "shred") out.add("risk.destructive_fs")
  if (args.some((a) => broadTargets.has(a)) && ["rm", "chmod", "chown", "cp", "mv", "tee", "touch", "mkdir", "rsync"].includes(cmd)) {
    out.add("risk.broad_fs_write")
  }
  if ((cmd === "chmod" || cmd === "chown") && args.some((a) => a === "-R")) out.add("risk.broad_fs_write")
  if (networkTools.has(cmd)) out.add("risk.network")
  if (sideEffects.some(([c, sub]) => cmd === c && args[0] === sub)) out.add("risk.external_side_effect")
  if (argv.some((a) => secretPattern.test(a))) out.add("risk.secret_touching")
  if (!hasTimeout) {
    const longFlag = args.some((a) => a === "-f" || a === "-F" || a === "--follow" || a === "--watch" || a === "-w")
    const longSleep = cmd === "sleep" && args.some((a) => Number(a) >= 300)
    if ((cmd === "tail" && longFlag) || cmd === "watch" || longSleep || (args.includes("--watch") && cmd !== "tail")) out.add("risk.long_running")
  }
  return [...out]
}

/** Every risk warning of a planned template, one per (leaf, label). */
export const planRisks = (node: PlannedNode, inheritedTimeout = false): ReadonlyArray<RiskWarning> => {
  const timed = inheritedTimeout || node.timeoutMs !== undefined
  const own: Array<RiskWarning> =
    node._tag === "Leaf" ? argvRisks(node.argv, timed).map((label) => ({ label, path: node.path, hint: hints[label] })) : []
  const kids: ReadonlyArray<PlannedNode> =
    node._tag === "Sequence" ? node.steps : node._tag === "Parallel" ? node.children : []
  const recover = node.recover === undefined ? [] : planRisks(node.recover, false)
  return [...own, ...kids.flatMap((k) => planRisks(k, timed)), ...recover]
}

/** One line per warning: `risk.network at root.1: <hint>`. */
export const riskText = (w: RiskWarning) => `${w.label} at ${w.path}: ${w.hint}`
