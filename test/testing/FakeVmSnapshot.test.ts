/**
 * FakeFleet end to end: commit → restore/branch copies the VM's root and host key (a restored
 * VM is a snapshot, later changes to its source do not show), and FakeVers' exec/files
 * operations act on the same root as SSH.
 */
import { readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import ssh2 from "ssh2"
import { afterEach, describe, expect, it } from "vitest"
import { startFakeVers } from "../../src/testing/index.js"
import { api, connect, exec, newVm, sshKey, startFleet, type StartedFleet } from "../support/fakeFleet.js"

const fleets: Array<StartedFleet> = []
const clients: Array<ssh2.Client> = []
afterEach(async () => {
  for (const c of clients.splice(0)) c.end()
  await Promise.all(fleets.splice(0).map((f) => f.close()))
})

const start = async () => {
  const f = await startFleet()
  fleets.push(f)
  return f
}

const open = async (...args: Parameters<typeof connect>) => {
  const c = await connect(...args)
  clients.push(c.client)
  return c
}

describe("FakeFleet snapshots", () => {
  it("restore copies the committed root and the host key; later changes to the source do not show", async () => {
    const fleet = await start()
    const src = await newVm(fleet)
    const s = await open(fleet, src.id, src.key)
    await exec(s.client, "mkdir -p repo && printf v1 > repo/file && chmod 750 repo/file")
    const commit = await api(fleet, "POST", `/vm/${src.id}/commit`, {})
    expect(commit.status).toBe(201)
    const commitId: string = commit.json.commit_id
    expect(readFileSync(join(fleet.ssh.commitRoot(commitId), "repo/file"), "utf8")).toBe("v1")
    await exec(s.client, "printf v2 > repo/file && touch later")

    const restored = await api(fleet, "POST", "/vm/from_commit", { commit_id: commitId })
    expect(restored.status).toBe(201)
    const id: string = restored.json.vm_id
    const r = await open(fleet, id, await sshKey(fleet, id))
    expect((await exec(r.client, "cat repo/file; test -e later || echo ' no later'")).stdout).toBe("v1 no later\n")
    expect(statSync(join(fleet.ssh.vm(id)!.root, "repo/file")).mode & 0o777).toBe(0o750)
    // The same host identity as the source: a snapshot, so a client's pinned key still matches.
    expect(r.hostKey.equals(s.hostKey)).toBe(true)
    expect(fleet.ssh.vm(id)!.hostPublicKey).toBe(fleet.ssh.vm(src.id)!.hostPublicKey)
    // Its own client key, though (the API gives each VM a new one).
    expect(fleet.vers.vm(id)!.ssh_private_key).not.toBe(src.key)
  })

  it("branching a VM copies its root and host key into each new VM", async () => {
    const fleet = await start()
    const src = await newVm(fleet)
    writeFileSync(join(fleet.ssh.vm(src.id)!.root, "marker"), "from source")
    const branched = await api(fleet, "POST", `/vm/${src.id}/branch?count=2`)
    expect(branched.status).toBe(201)
    for (const { vm_id } of branched.json.vms as Array<{ vm_id: string }>) {
      expect(readFileSync(join(fleet.ssh.vm(vm_id)!.root, "marker"), "utf8")).toBe("from source")
      expect(fleet.ssh.vm(vm_id)!.hostPublicKey).toBe(fleet.ssh.vm(src.id)!.hostPublicKey)
    }
  })
})

describe("FakeVers exec and files on the VM's root", () => {
  it("exec runs an argv in the root with env, stdin and a timeout", async () => {
    const fleet = await start()
    const vm = await newVm(fleet)
    const { client } = await open(fleet, vm.id, vm.key)
    await exec(client, "printf ssh-side > shared")
    const r = await api(fleet, "POST", `/vm/${vm.id}/exec`, { command: ["sh", "-c", 'cat shared; printf " $X "; cat; pwd; exit 3'], env: { X: "y" }, stdin: "in" })
    expect(r).toEqual({ status: 200, json: { exec_id: null, exit_code: 3, stdout: `ssh-side y in${fleet.ssh.vm(vm.id)!.root}\n`, stderr: "" } })
    const slow = await api(fleet, "POST", `/vm/${vm.id}/exec`, { command: ["sleep", "30"], timeout_secs: 1 })
    expect(slow.json.exit_code).toBe(124)
    expect((await api(fleet, "POST", `/vm/${vm.id}/exec`, { command: [] })).status).toBe(400)
  })

  it("files read and write the same root SSH sees", async () => {
    const fleet = await start()
    const vm = await newVm(fleet)
    const { client } = await open(fleet, vm.id, vm.key)
    const bytes = Buffer.from([0, 0xff, 0x0a, 0xc3])
    const put = await api(fleet, "PUT", `/vm/${vm.id}/files`, { path: "deep/dir/f.bin", content_b64: bytes.toString("base64"), create_dirs: true, mode: 0o600 })
    expect(put.status).toBe(200)
    expect((await exec(client, "stat -c %a deep/dir/f.bin; od -An -tx1 deep/dir/f.bin")).stdout.replace(/\s+/g, " ").trim()).toBe("600 00 ff 0a c3")
    await exec(client, "printf from-ssh > back")
    const got = await api(fleet, "GET", `/vm/${vm.id}/files?path=${encodeURIComponent(`${fleet.ssh.vm(vm.id)!.root}/back`)}`)
    expect(Buffer.from(got.json.content_b64, "base64").toString()).toBe("from-ssh")
    expect((await api(fleet, "GET", `/vm/${vm.id}/files?path=missing`)).status).toBe(404)
    await api(fleet, "PATCH", `/vm/${vm.id}/state`, { state: "Paused" })
    expect((await api(fleet, "GET", `/vm/${vm.id}/files?path=back`)).status).toBe(400)
  })

  it("answers 404 for an unknown VM, and 500 from FakeVers alone (no VM filesystem)", async () => {
    const fleet = await start()
    expect((await api(fleet, "POST", "/vm/00000000-0000-4000-8000-000000000000/exec", { command: ["true"] })).status).toBe(404)
    const alone = await startFakeVers({ bootMs: 0 })
    try {
      const auth = { authorization: `Bearer ${alone.apiKey}`, "content-type": "application/json" }
      const created = (await (await fetch(`${alone.baseUrl}/vm/new_root`, { method: "POST", headers: auth, body: JSON.stringify({ vm_config: {} }) })).json()) as { vm_id: string }
      const r = await fetch(`${alone.baseUrl}/vm/${created.vm_id}/exec`, { method: "POST", headers: auth, body: JSON.stringify({ command: ["true"] }) })
      expect(r.status).toBe(500)
      expect(((await r.json()) as { error: string }).error).toMatch(/no filesystem in this fake/)
    } finally {
      await alone.close()
    }
  })
})
