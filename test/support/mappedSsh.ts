/**
 * An `Ssh` whose VM has a filesystem of its own, over a FakeFleet VM (whose absolute paths are
 * this machine's): every path under `src` is mapped to `disk + path` for SFTP and in `run` and
 * `exec` commands (`run`'s stdout mapped back), and writes and chmods are counted. Staging tests
 * use it to see real copies of a folder that exists only on "this machine".
 */
import { Effect } from "effect"
import type { SshShape } from "../../src/services/Ssh.js"

export interface SshCounts {
  /** Paths written (`writeFile`), as asked (unmapped). */
  readonly writes: Array<string>
  /** Paths chmod-ed, as asked. */
  readonly chmods: Array<string>
  /** Runs before each write (a test's fault). */
  beforeWrite?: ((path: string) => void) | undefined
}

export const newCounts = (): SshCounts => ({ writes: [], chmods: [] })

/** `ssh` with paths under `src` mapped under `disk` (see the module doc), counting into `counts`. */
export const mappedSsh = (ssh: SshShape, src: string, disk: string, counts: SshCounts): SshShape => {
  const to = (p: string) => (p.startsWith(src) ? disk + p : p)
  return {
    ...ssh,
    run: (vm, command, options) =>
      Effect.map(ssh.run(vm, command.split(src).join(disk + src), options), (r) => ({
        ...r,
        stdout: new TextEncoder().encode(new TextDecoder().decode(r.stdout).split(disk + src).join(src))
      })),
    exec: (vm, command, options) => ssh.exec(vm, command.split(src).join(disk + src), options),
    stat: (vm, p) => ssh.stat(vm, to(p)),
    readDir: (vm, p) => ssh.readDir(vm, to(p)),
    mkdir: (vm, p, o) => ssh.mkdir(vm, to(p), o),
    chmod: (vm, p, mode) => Effect.zipRight(Effect.sync(() => void counts.chmods.push(p)), ssh.chmod(vm, to(p), mode)),
    writeFile: (vm, p, data, o) =>
      Effect.zipRight(Effect.sync(() => (counts.writes.push(p), counts.beforeWrite?.(p))), ssh.writeFile(vm, to(p), data, o))
  }
}
