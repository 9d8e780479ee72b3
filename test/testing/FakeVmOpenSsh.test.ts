/**
 * OpenSSH interop: the real `ssh` client against FakeVm, connecting as pi-vers does — TLS by
 * `openssl s_client` as the ProxyCommand (SNI = the VM's name, the fleet's CA), then SSH as
 * root with the VM's key — so the fake is not only consistent with ssh2's own client.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { run } from "../support/exec.js"
import { newVm, startFleet, type StartedFleet } from "../support/fakeFleet.js"

const fleets: Array<StartedFleet> = []
afterEach(async () => {
  await Promise.all(fleets.splice(0).map((f) => f.close()))
})

const sshArgs = (fleet: StartedFleet, keyFile: string, knownHosts: string, strict: boolean) => [
  "-F", "/dev/null",
  "-i", keyFile,
  "-o", "IdentitiesOnly=yes",
  "-o", "BatchMode=yes",
  "-o", "LogLevel=ERROR",
  "-o", `StrictHostKeyChecking=${strict ? "yes" : "no"}`,
  "-o", `UserKnownHostsFile=${knownHosts}`,
  "-o", `ProxyCommand=openssl s_client -connect 127.0.0.1:${fleet.ssh.port} -servername %h -quiet -verify_return_error -CAfile ${fleet.ssh.caFile}`
]

describe("FakeVm with OpenSSH's ssh", () => {
  it("runs a command and reports its exit code; the host key verifies against known_hosts", async () => {
    const fleet = await startFleet()
    fleets.push(fleet)
    const vm = await newVm(fleet)
    const keyFile = join(fleet.dir, "id_vm")
    writeFileSync(keyFile, vm.key, { mode: 0o600 })
    const host = `${vm.id}.vm.vers.sh`

    const loose = await run("ssh", [...sshArgs(fleet, keyFile, "/dev/null", false), `root@${host}`, "echo hi; exit 3"], { timeout: 20_000 })
    expect(loose).toMatchObject({ code: 3, stdout: "hi\n" })

    const knownHosts = join(fleet.dir, "known_hosts")
    writeFileSync(knownHosts, `${host} ${fleet.ssh.vm(vm.id)!.hostPublicKey}\n`)
    const strict = await run("ssh", [...sshArgs(fleet, keyFile, knownHosts, true), `root@${host}`, "cat; pwd"], { input: "piped\n", timeout: 20_000 })
    expect(strict).toMatchObject({ code: 0, stdout: `piped\n${fleet.ssh.vm(vm.id)!.root}\n` })
  })
})
