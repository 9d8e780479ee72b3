/**
 * Staging a recipe folder on a FakeFleet VM (src/services/vmhost/Stage.ts). FakeVm's absolute
 * paths are this machine's, so a staged folder would be its own source there; to see real
 * copies, most tests use an `Ssh` that maps every VM path under a separate "VM disk" directory
 * (as a real VM has its own filesystem) and counts writes. The last test stages through
 * `VmHost` on the unmapped FakeVm: nothing is written.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { VmId } from "../../../src/domain/Vers.js"
import { Ssh, type SshShape } from "../../../src/services/Ssh.js"
import { VmHost } from "../../../src/services/VmHost.js"
import { stageDir } from "../../../src/services/vmhost/Stage.js"
import { scratch } from "../../support/graph.js"
import { mappedSsh as mapped, newCounts, type SshCounts as Counts } from "../../support/mappedSsh.js"
import { closeVmFleet, sshLayerOf, vmFleet } from "../../support/vmHosts.js"

afterAll(closeVmFleet, 30_000)

/** A recipe folder: a script (0755), a binary file, a subfolder, a link inside, a link out. */
const recipeFolder = () => {
  const dir = join(scratch("troupe-stage-src-"), "recipe")
  mkdirSync(join(dir, "lib"), { recursive: true })
  writeFileSync(join(dir, "check.sh"), "#!/bin/sh\necho ok\n")
  chmodSync(join(dir, "check.sh"), 0o755)
  writeFileSync(join(dir, "lib", "data.bin"), Buffer.from([0, 1, 2, 255, 10, 13]))
  chmodSync(join(dir, "lib", "data.bin"), 0o600)
  writeFileSync(join(dir, "recipe.json"), '{"template":"sh {recipe_dir}/check.sh"}')
  symlinkSync("lib/data.bin", join(dir, "alias.bin"))
  const outside = join(scratch("troupe-stage-out-"), "secret.txt")
  writeFileSync(outside, "not part of the recipe")
  symlinkSync(outside, join(dir, "outside.txt"))
  return dir
}

const mode = (p: string) => statSync(p).mode & 0o7777

/** Runs `f` with the fleet's VM id and a mapped Ssh. */
const withMapped = <A, E>(f: (ssh: SshShape, vm: VmId, src: string, disk: string, counts: Counts) => Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const { fleet, vm } = yield* Effect.promise(vmFleet)
    const src = recipeFolder()
    const disk = scratch("troupe-stage-disk-")
    const counts = newCounts()
    return yield* Effect.flatMap(Ssh, (ssh) => f(mapped(ssh, src, disk, counts), VmId.make(vm), src, disk, counts)).pipe(Effect.provide(sshLayerOf(fleet)))
  })

describe("Stage", () => {
  it.live("copies the folder to the same path on the VM (bytes, modes, links inside followed, links out skipped); a second run writes nothing", () =>
    withMapped((ssh, vm, src, disk, counts) =>
      Effect.gen(function* () {
        expect(existsSync(disk + src)).toBe(false)
        const first = yield* stageDir(ssh, vm, src)
        expect(first).toMatchObject({ files: 4, written: 4, chmods: 0 })
        expect(counts.writes.sort()).toEqual([join(src, "alias.bin"), join(src, "check.sh"), join(src, "lib", "data.bin"), join(src, "recipe.json")])
        expect(readFileSync(disk + join(src, "check.sh"), "utf8")).toBe("#!/bin/sh\necho ok\n")
        expect(mode(disk + join(src, "check.sh"))).toBe(0o755)
        expect([...readFileSync(disk + join(src, "lib", "data.bin"))]).toEqual([0, 1, 2, 255, 10, 13])
        expect(mode(disk + join(src, "lib", "data.bin"))).toBe(0o600)
        expect(readFileSync(disk + join(src, "alias.bin"))).toEqual(readFileSync(join(src, "lib", "data.bin")))
        expect(existsSync(disk + join(src, "outside.txt"))).toBe(false)

        counts.writes.length = 0
        const second = yield* stageDir(ssh, vm, src)
        expect(second).toEqual({ files: 4, written: 0, bytes: 0, chmods: 0 })
        expect(counts.writes).toEqual([])
      })
    ), 60_000)

  it.live("skip logic: a same-size file with other bytes is copied again, a matching one with another mode only gets a chmod", () =>
    withMapped((ssh, vm, src, disk, counts) =>
      Effect.gen(function* () {
        yield* stageDir(ssh, vm, src)
        expect(counts.writes.length).toBe(4)
        counts.writes.length = 0
        writeFileSync(join(src, "recipe.json"), '{"template":"sh {recipe_dir}/check.sX"}')
        chmodSync(join(src, "check.sh"), 0o700)
        const again = yield* stageDir(ssh, vm, src)
        expect(again).toMatchObject({ written: 1, chmods: 1 })
        expect(counts.writes).toEqual([join(src, "recipe.json")])
        expect(counts.chmods).toEqual([join(src, "check.sh")])
        expect(readFileSync(disk + join(src, "recipe.json"), "utf8")).toContain("check.sX")
        expect(mode(disk + join(src, "check.sh"))).toBe(0o700)
      })
    ), 60_000)

  it.live("a file gone mid-way fails with one sentence; nothing half-written, no temp file left", () =>
    withMapped((ssh, vm, src, disk, counts) =>
      Effect.gen(function* () {
        const victim = join(src, "recipe.json")
        expect(existsSync(victim)).toBe(true)
        counts.beforeWrite = (p) => {
          if (p !== victim) rmSync(victim, { force: true })
        }
        const error = yield* Effect.flip(stageDir(ssh, vm, src))
        expect(error).toMatchObject({ _tag: "HostError", reason: "spawn", code: 1 })
        expect(error.message).toBe(`Could not stage recipe folder ${src} on VM ${vm.length > 12 ? `${vm.slice(0, 8)}…` : vm}: cannot read ${victim} (no such file or directory).`)
        expect(existsSync(disk + victim)).toBe(false)
        const left = (dir: string): Array<string> =>
          readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? left(join(dir, e.name)) : [e.name]))
        expect(left(disk + src).filter((n) => n.includes("troupe-tmp"))).toEqual([])
      })
    ), 60_000)

  it.live("a folder past the size cap fails with one sentence before anything is written", () =>
    withMapped((ssh, vm, src, _disk, counts) =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(stageDir(ssh, vm, src, { maxBytes: 10 }))
        expect(error.message).toMatch(/^Could not stage recipe folder .+: it holds more than 10 bytes \(the limit of a staged recipe folder\)\.$/)
        expect(counts.writes).toEqual([])
      })
    ), 60_000)

  it.live("a VM that cannot be reached: `unavailable`, one sentence", () =>
    Effect.gen(function* () {
      const { fleet } = yield* Effect.promise(vmFleet)
      const src = recipeFolder()
      const error = yield* Effect.flip(Effect.flatMap(Ssh, (ssh) => stageDir(ssh, VmId.make("0b5e8a52-3f57-4e5b-9d0c-7a1f2e3d4c5b"), src))).pipe(
        Effect.provide(sshLayerOf(fleet))
      )
      expect(error).toMatchObject({ _tag: "HostError", reason: "unavailable", code: 1 })
      expect(error.message).toMatch(new RegExp(`^Could not stage recipe folder ${src} on VM 0b5e8a52…: [^\\n]+\\.$`))
    }), 60_000)

  it.live("VmHost.stage on FakeVm (whose paths are this machine's) writes nothing: every file is already there", () =>
    Effect.gen(function* () {
      const { fleet, vm } = yield* Effect.promise(vmFleet)
      const src = recipeFolder()
      const before = statSync(join(src, "check.sh")).mtimeMs
      const counts = newCounts()
      yield* Effect.scoped(
        Effect.gen(function* () {
          const ssh = yield* Ssh
          const host = yield* VmHost.make(VmId.make(vm), { mode: "exec", graceMs: 300 }).pipe(Effect.provideService(Ssh, mapped(ssh, "/nowhere-mapped", "", counts)))
          expect(host.stage).toBeDefined()
          yield* host.stage!(src)
        })
      ).pipe(Effect.provide(sshLayerOf(fleet)))
      expect(counts).toEqual({ writes: [], chmods: [] })
      expect(statSync(join(src, "check.sh")).mtimeMs).toBe(before)
    }), 60_000)
})
