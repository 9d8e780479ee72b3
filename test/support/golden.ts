/**
 * Golden image test helpers: a tarball of a tiny `pi` (prints `1.6.0` for `--version`), so a
 * build installs "Pi" from a local file under an npm prefix inside the VM root — no network,
 * nothing installed on this machine — and a byte scan of a directory for secret values.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

let made: string | undefined

/** The fake Pi tarball (packed once per test file). */
export const fakePiTarball = (): string => {
  if (made !== undefined) return made
  const dir = fs.mkdtempSync(join(tmpdir(), "troupe-golden-pi-"))
  const pkg = join(dir, "pkg")
  fs.mkdirSync(pkg)
  fs.writeFileSync(join(pkg, "package.json"), JSON.stringify({ name: "fake-pi", version: "1.6.0", bin: { pi: "pi.js" } }))
  fs.writeFileSync(join(pkg, "pi.js"), "#!/usr/bin/env node\nconsole.log('1.6.0')\n", { mode: 0o755 })
  const file = execFileSync("npm", ["pack", "--silent", "--pack-destination", dir], { cwd: pkg, encoding: "utf8" }).trim().split("\n").pop()!
  made = join(dir, file)
  return made
}

/** The npm prefix tests install Pi under: inside the VM root (`$HOME` is the root on FakeVm). */
export const vmNpmPrefix = "$HOME/.npm-global"

/** Every file under `dir` whose bytes contain one of `needles`. */
export const filesContaining = (dir: string, needles: ReadonlyArray<string>): Array<string> => {
  const hits: Array<string> = []
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue
    const file = join(entry.parentPath, entry.name)
    const bytes = fs.readFileSync(file)
    if (needles.some((n) => bytes.includes(n))) hits.push(file)
  }
  return hits
}
