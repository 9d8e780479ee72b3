/**
 * Command-position resolution on the broker's machine (SPEC-runtime §1.2 step 4), the same
 * rules CommandGraph applies locally: `~` → `home`, a relative path with a `/` against `cwd`,
 * and a `.js`/`.mjs`/`.cjs`/`.sh` file that is not an executable with a `#!` line run through
 * the broker's Node or `bash`. Bare names stay bare (the spawn looks them up in `PATH`).
 */
import * as fs from "node:fs"
import * as path from "node:path"

/** Returns the argv to spawn; throws nothing (an unreadable file is simply not run directly). */
export const resolveArgv = (argv: ReadonlyArray<string>, cwd: string, home: string): Array<string> => {
  const rest = argv.slice(1)
  let cmd = argv[0] ?? ""
  if (cmd === "~" || cmd.startsWith("~/")) cmd = home + cmd.slice(1)
  else if (!path.isAbsolute(cmd) && cmd.includes("/")) cmd = path.resolve(cwd, cmd)
  if (!cmd.includes("/")) return [cmd, ...rest]
  const ext = path.extname(cmd)
  if (ext !== ".js" && ext !== ".mjs" && ext !== ".cjs" && ext !== ".sh") return [cmd, ...rest]
  if (runsDirectly(cmd)) return [cmd, ...rest]
  return [ext === ".sh" ? "bash" : process.execPath, cmd, ...rest]
}

/** A regular, executable file starting with `#!`. */
const runsDirectly = (file: string): boolean => {
  try {
    const info = fs.statSync(file)
    if (!info.isFile() || (info.mode & 0o111) === 0) return false
    const fd = fs.openSync(file, "r")
    try {
      const head = Buffer.alloc(2)
      return fs.readSync(fd, head, 0, 2, 0) === 2 && head[0] === 0x23 && head[1] === 0x21
    } finally {
      fs.closeSync(fd)
    }
  } catch {
    return false
  }
}
