// ssh-exec: N sequential `true` on one VM through VmHost — the exec broker over one long-lived
// SSH channel, ssh2 over TLS in-process — against one OpenSSH `ssh` process per command through
// an `openssl s_client` ProxyCommand (how pi-vers runs every remote command), both against the
// same real OpenSSH sshd behind the same TLS front (`OpenSshd` from troupe/testing), interleaved
// so machine noise hits both alike. Target (QUALITY.md): median ratio ≥ 10×.
//
// Measured per command: VmHost `start` → exit (stdout and stderr drained); `ssh` spawn → exit.
// Needs /usr/sbin/sshd, ssh and openssl (.ci/run installs openssh-server).
import { spawn } from "node:child_process"
import { join } from "node:path"
import { Effect, Exit, Layer, ManagedRuntime, Redacted, Scope, Stream } from "effect"
import { atCleanup, median, progress, quantile, report, round, runMain, smoke } from "./lib.mjs"

const name = "ssh-exec"
const N = smoke ? 5 : 100
const WARMUP = smoke ? 1 : 5
const vm = "bench-vm"

const sshOnce = (fx) =>
  new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn("ssh", [
      "-i", join(fx.dir, "client"),
      "-o", "StrictHostKeyChecking=no",
      "-o", "UserKnownHostsFile=/dev/null",
      "-o", "LogLevel=ERROR",
      "-o", `ProxyCommand=openssl s_client -connect 127.0.0.1:${fx.proxyPort} -servername %h -quiet -CAfile ${fx.caFile}`,
      `root@${vm}.${fx.domain}`,
      "true"
    ], { stdio: ["ignore", "ignore", "pipe"] })
    let stderr = ""
    child.stderr.on("data", (b) => (stderr += b.toString()))
    child.once("error", reject)
    child.once("exit", (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`ssh exited ${code}: ${stderr.trim()}`))))
  })

runMain(async () => {
  const index = await import("../dist/src/index.js")
  const testing = await import("../dist/src/testing/index.js")
  const { Ssh, SshHostKeys, VersApi, VersConfig, VmHost } = index
  const fx = await testing.startOpenSshd()
  atCleanup(() => fx.close())
  const domain = testing.OpenSshd.sshDomain
  const api = Layer.succeed(
    VersApi,
    new Proxy({}, {
      get: (_, op) =>
        op === "sshKey"
          ? () => Effect.succeed({ sshPort: fx.proxyPort, sshPrivateKey: Redacted.make(fx.privateKey) })
          : () => Effect.dieMessage(`VersApi.${String(op)} is not used by the ssh-exec benchmark`)
    })
  )
  const config = VersConfig.layerFrom({
    baseUrl: "http://127.0.0.1:1/api/v1",
    sshHostTemplate: `{vm_id}.${domain}`,
    sshPort: fx.proxyPort,
    sshAddress: "127.0.0.1",
    sshCa: fx.caFile
  })
  const rt = ManagedRuntime.make(Ssh.layer.pipe(Layer.provide(Layer.mergeAll(api, config, SshHostKeys.layerMemory))))
  atCleanup(() => rt.dispose())

  // One VmHost for the whole benchmark, as a run keeps one per VM; its scope closes at the end.
  const held = await rt.runPromise(
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const host = yield* Scope.extend(VmHost.make(vm, { mode: "broker" }), scope)
      return { host, close: Scope.close(scope, Exit.void) }
    })
  )
  atCleanup(() => rt.runPromise(held.close))
  const vmHost = held.host

  const vmHostOnce = () =>
    rt.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const t0 = performance.now()
          const leaf = yield* vmHost.start({ argv: ["true"], cwd: "~", stdin: { _tag: "None" } })
          yield* Effect.all([Stream.runDrain(leaf.stdout), Stream.runDrain(leaf.stderr)], { concurrency: 2 })
          const exit = yield* leaf.exit
          if (exit.code !== 0) return yield* Effect.dieMessage(`true exited ${exit.code} on the VM`)
          return performance.now() - t0
        })
      )
    )

  for (let i = 0; i < WARMUP; i++) {
    await vmHostOnce()
    await sshOnce({ ...fx, domain })
  }
  const troupe = []
  const baseline = []
  for (let i = 0; i < N; i++) {
    if (i % 2 === 0) {
      troupe.push(await vmHostOnce())
      baseline.push(await sshOnce({ ...fx, domain }))
    } else {
      baseline.push(await sshOnce({ ...fx, domain }))
      troupe.push(await vmHostOnce())
    }
    if ((i + 1) % 25 === 0) progress(name, `${i + 1}/${N}`)
  }
  const troupeMedian = median(troupe)
  const baselineMedian = median(baseline)
  // Here the baseline is the slow side: the ratio is baseline / troupe (how many times faster).
  const ratio = baselineMedian / troupeMedian
  const measure = `${N} sequential \`true\` on one VM, start → exit`
  const target = "baseline / troupe ≥ 10"
  report({
    name,
    unit: "ms",
    measure,
    troupe: troupeMedian,
    baseline: baselineMedian,
    ratio,
    samples: N,
    target,
    met: ratio >= 10,
    rows: [{ measure, unit: "ms", troupe: round(troupeMedian), baseline: round(baselineMedian), ratio: round(ratio, 2), target, met: ratio >= 10, n: N }],
    details: {
      measured: "VmHost.start(['true']) → exit, streams drained (exec broker over one ssh2 channel over TLS); baseline: `ssh -o ProxyCommand='openssl s_client …' root@vm true` per command (pi-vers), same sshd and TLS front",
      ratio_is: "baseline median / troupe median (how many times faster VmHost is)",
      troupe_p90_ms: round(quantile(troupe, 0.9)),
      baseline_p90_ms: round(quantile(baseline, 0.9)),
      warmup: WARMUP
    },
    raw: { troupe: troupe.map((x) => round(x)), baseline: baseline.map((x) => round(x)) }
  })
})
