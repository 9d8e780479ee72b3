/**
 * GoldenImages.build on a FakeFleet (real HTTP, real SSH; VM commands are local processes in the
 * VM's root, so Node and git are `present` and never installed). Pi is installed from a local
 * tarball under an npm prefix inside the VM root: no network, nothing outside the VM root. The
 * VM service is the daemon's `Vms` in-process (ledger, labels); leak checks use the fake's ledger.
 */
import { FetchHttpClient, type FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Queue, Redacted, Stream } from "effect"
import * as fs from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Caller } from "../../src/domain/Run.js"
import { CommitId, VmId } from "../../src/domain/Vers.js"
import * as Runtime from "../../src/layers/Runtime.js"
import { build, type GoldenBuildRequest, type GoldenVms, listGoldens } from "../../src/services/GoldenImages.js"
import { Ssh, SshHostKeys } from "../../src/services/Ssh.js"
import { VersApi } from "../../src/services/VersApi.js"
import { VersConfig } from "../../src/services/VersConfig.js"
import { VmHosts } from "../../src/services/VmHosts.js"
import { Vms } from "../../src/services/Vms.js"
import * as FakeFleet from "../../src/testing/FakeFleet.js"
import type { StartedFleet } from "../support/fakeFleet.js"
import { fakePiTarball, filesContaining, vmNpmPrefix } from "../support/golden.js"
import { testRuntime } from "../support/runtime.js"
import { sshLayerOf } from "../support/vmHosts.js"

const caller: Caller = { session: "golden-test", all: false }

/** A fleet, the daemon's `Vms` over it (as a `GoldenVms`), `Ssh` to its VMs and a records home. */
const setup = Effect.gen(function* () {
  const fleet = yield* FakeFleet.make({ bootMs: 0 })
  const rt = yield* Layer.build(testRuntime({ config: { environment: process.env } }))
  const versConfig = VersConfig.layerFrom({ baseUrl: fleet.vers.baseUrl, apiKey: fleet.vers.apiKey })
  const vms = Context.get(yield* Layer.build(Runtime.vms({ versConfig }).pipe(Layer.provide(Layer.succeedContext(rt)))), Vms)
  const sshCtx = yield* Layer.build(sshLayerOf(fleet as StartedFleet))
  const ssh = Context.get(sshCtx, Ssh)
  const goldenVms: GoldenVms = {
    create: (req) =>
      vms.create(caller, req.how._tag === "restore" ? { _tag: "restore", commitId: req.how.commit_id } : req.how._tag === "branch" ? { _tag: "branch", vmId: req.how.vm_id } : { _tag: "root", config: { vcpuCount: req.how.vcpu_count, memSizeMib: req.how.mem_size_mib, fsSizeMib: req.how.fs_size_mib } }, { wait: req.wait }),
    commit: (vmId, o) => vms.commit(caller, vmId, o),
    delete: (vmId) => vms.delete(caller, vmId)
  }
  const home = fs.mkdtempSync(join(tmpdir(), "troupe-golden-home-"))
  const lines: Array<string> = []
  const progressQueue = yield* Queue.unbounded<string>()
  const deps = { vms: goldenVms, ssh, progress: (line: string) => Effect.zipRight(Effect.sync(() => lines.push(line)), Queue.offer(progressQueue, line)) }
  const base: GoldenBuildRequest = { home, piPackage: fakePiTarball(), npmPrefix: vmNpmPrefix }
  return { fleet, vms, ssh, deps, base, home, lines, progressQueue }
})

const run = <A, E>(effect: Effect.Effect<A, E, FileSystem.FileSystem>) => Effect.provide(effect, NodeFileSystem.layer)

describe("GoldenImages.build", () => {
  it.scopedLive("provisions, commits keep-paused, records, deletes the build VM; the commit restores and runs a leaf on `golden`", () =>
    Effect.gen(function* () {
      const { base, deps, fleet, home, lines } = yield* setup
      const llmKey = "sk-llm-golden-test-0123456789"
      const image = yield* run(build(deps, { ...base, name: "g1", secrets: [Redacted.make(fleet.vers.apiKey), Redacted.make(llmKey)] }))

      // Recorded, with what was installed and what was already there.
      expect(yield* run(listGoldens(home))).toEqual([image])
      expect(image.name).toBe("g1")
      const byName = Object.fromEntries(image.components.map((c) => [c.name, c]))
      expect(byName.node).toMatchObject({ action: "present", version: process.versions.node })
      expect(byName.git?.action).toBe("present")
      expect(byName.pi).toMatchObject({ action: "installed", version: "1.6.0" })
      expect(byName.workspace?.action).toBe("configured")
      expect(byName.broker?.action).toBe("installed")
      expect(lines.some((l) => /Node >= 20: present .* \(skipped\)$/.test(l))).toBe(true)

      // Committed keep-paused, and the build VM is gone.
      const keepPaused = fleet.vers.ledger.requests().find((r) => r.method === "POST" && r.path.includes("/commit"))
      expect(keepPaused?.path).toContain("keep_paused=true")
      expect(fleet.vers.ledger.created().map((v) => v.vm_id)).toEqual([image.vm_id])
      expect(fleet.vers.ledger.live()).toEqual([])

      // The committed root has the settings and no secret value.
      const root = fleet.ssh.commitRoot(image.commit_id)
      expect(fs.readFileSync(join(root, ".gitconfig"), "utf8")).toMatch(/defaultBranch = main/)
      expect(fs.existsSync(join(root, "workspace"))).toBe(true)
      expect(fs.existsSync(join(root, ".troupe", "agents"))).toBe(true)
      expect(filesContaining(root, [fleet.vers.apiKey, llmKey])).toEqual([])

      // `on: golden` with that commit: a restored VM runs a leaf with the image's tools.
      const versConfig = VersConfig.layerFrom({ ...fleetVersInput(fleet), goldenCommitId: CommitId.make(image.commit_id) })
      const api = Layer.provideMerge(VersApi.layer, Layer.merge(versConfig, FetchHttpClient.layer))
      const sshLayer = Layer.provideMerge(Ssh.layerWith({ readyTimeoutMs: 10_000 }), Layer.merge(api, SshHostKeys.layerMemory))
      const hosts = Layer.provide(VmHosts.layer({ mode: "broker", graceMs: 300 }), sshLayer)
      const out = yield* Effect.scoped(
        Effect.gen(function* () {
          const { families } = yield* VmHosts
          const host = yield* families.golden!("golden")
          const leaf = yield* host.start({ argv: ["sh", "-c", "PATH=$HOME/.npm-global/bin:$PATH; pi --version; git config --global init.defaultBranch; ls -d workspace"], cwd: "~", stdin: { _tag: "None" } })
          const [stdout, exit] = yield* Effect.all([Stream.runCollect(leaf.stdout), leaf.exit], { concurrency: 2 })
          expect(exit).toEqual({ code: 0 })
          return Buffer.concat([...stdout]).toString("utf8")
        })
      ).pipe(Effect.provide(hosts))
      expect(out).toBe("1.6.0\nmain\nworkspace\n")
      expect(fleet.vers.ledger.live()).toEqual([])
    }), 90_000)

  it.scopedLive("a rebuild from the golden commit skips what is present (Pi, broker) and records the parent", () =>
    Effect.gen(function* () {
      const { base, deps, fleet, home } = yield* setup
      const first = yield* run(build(deps, { ...base, name: "first" }))
      const second = yield* run(build(deps, { ...base, from: first.commit_id, name: "second", keepVm: true }))
      expect(second.from).toBe(first.commit_id)
      expect(second.vm_kept).toBe(true)
      expect(Object.fromEntries(second.components.map((c) => [c.name, c.action]))).toMatchObject({ node: "present", pi: "present", broker: "present" })
      expect((yield* run(listGoldens(home))).map((g) => g.name)).toEqual(["first", "second"])
      // --keep-vm: the second build VM is left (paused); the first is gone.
      expect(fleet.vers.ledger.live().map((v) => v.vm_id)).toEqual([second.vm_id])
    }), 90_000)

  it.scopedLive("a failing step names itself and the VM in one sentence, records nothing and deletes the build VM", () =>
    Effect.gen(function* () {
      const { base, deps, fleet, home } = yield* setup
      const error = yield* Effect.flip(run(build(deps, { ...base, piPackage: join(tmpdir(), "no-such-pi-0.0.0.tgz") })))
      expect(error).toMatchObject({ _tag: "GoldenError", reason: "step", step: "pi" })
      const vm = fleet.vers.ledger.created()[0]!.vm_id
      expect(error.message).toMatch(new RegExp(`^Golden image build failed at step pi on VM ${vm.slice(0, 8)}`))
      expect(error.message).toContain("npm could not install")
      expect(error.message.split("\n")).toHaveLength(1)
      expect(fleet.vers.ledger.created()).toHaveLength(1)
      expect(fleet.vers.ledger.live()).toEqual([])
      expect(yield* run(listGoldens(home))).toEqual([])
    }), 60_000)

  it.scopedLive("a secret value found on the VM fails the build before the commit, naming the file and not the value", () =>
    Effect.gen(function* () {
      const { base, deps, fleet, home, ssh, vms } = yield* setup
      const secret = "sk-leaked-golden-9876543210"
      // A base commit with an env file holding the secret.
      const dirty = yield* vms.create(caller, { _tag: "root" })
      yield* ssh.writeFile(VmId.make(dirty.vm_id), ".config/agent.env", Stream.make(new TextEncoder().encode(`LLM_PROXY_KEY=${secret}\n`)))
        .pipe(Effect.catchTag("SftpError", () => ssh.run(VmId.make(dirty.vm_id), `mkdir -p .config && printf 'LLM_PROXY_KEY=%s\\n' '${secret}' > .config/agent.env`)))
      const { commit_id } = yield* vms.commit(caller, dirty.vm_id)
      yield* vms.delete(caller, dirty.vm_id)
      expect(filesContaining(fleet.ssh.commitRoot(commit_id), [secret])).toHaveLength(1)
      const commitsBefore = fleet.vers.commits().length

      const error = yield* Effect.flip(run(build(deps, { ...base, from: commit_id, secrets: [Redacted.make(secret)] })))
      expect(error).toMatchObject({ _tag: "GoldenError", reason: "secret", step: "secrets" })
      expect(error.message).toContain("~/.config/agent.env")
      expect(error.message).not.toContain(secret)
      expect(fleet.vers.commits()).toHaveLength(commitsBefore)
      expect(fleet.vers.ledger.live()).toEqual([])
      expect(yield* run(listGoldens(home))).toEqual([])
    }), 60_000)

  it.scopedLive("an interruption mid-provision stops the step and deletes the build VM", () =>
    Effect.gen(function* () {
      const { base, deps, fleet, progressQueue } = yield* setup
      const fiber = yield* Effect.fork(run(build(deps, base)))
      // Wait for a step to start on the VM, then interrupt.
      for (;;) {
        const line = yield* Queue.take(progressQueue)
        if (line.startsWith("[2/")) break
      }
      expect(fleet.vers.ledger.live()).toHaveLength(1)
      const exit = yield* Fiber.interrupt(fiber)
      expect(Exit.isInterrupted(exit)).toBe(true)
      expect(fleet.vers.ledger.created()).toHaveLength(1)
      expect(fleet.vers.ledger.live()).toEqual([])
      expect(fleet.ssh.vm(fleet.vers.ledger.created()[0]!.vm_id)).toBeUndefined()
    }), 60_000)
})

const fleetVersInput = (fleet: FakeFleet.FakeFleetHandle) => ({
  baseUrl: fleet.env.VERS_BASE_URL,
  apiKey: fleet.env.VERS_API_KEY,
  sshHostTemplate: fleet.env.VERS_SSH_HOST,
  sshPort: Number(fleet.env.VERS_SSH_PORT),
  sshAddress: fleet.env.VERS_SSH_ADDRESS,
  sshCa: fleet.env.VERS_SSH_CA
})
