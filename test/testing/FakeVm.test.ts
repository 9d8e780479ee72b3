/**
 * FakeVm over real TLS + SSH (the raw ssh2 Client): routing by SNI to each VM's own root,
 * authentication with the VM's key only, refusal while paused or after delete, and exec —
 * exit codes, signals, stdin, env, and the process group killed when a channel closes early.
 */
import { readFileSync } from "node:fs"
import { afterEach, describe, expect, it } from "vitest"
import ssh2 from "ssh2"
import { pollUntil } from "../support/exec.js"
import { api, connect, exec, newVm, startFleet, type StartedFleet } from "../support/fakeFleet.js"
import { alive } from "../support/procs.js"

/** Gone: no such process, or a zombie (killed; its reaper — here init — has not collected it yet). */
const gone = (pid: number) => {
  if (!alive(pid)) return true
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1")
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z"
  } catch {
    return true
  }
}

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

describe("FakeVm connections", () => {
  it("routes by SNI: each VM runs in its own root", async () => {
    const fleet = await start()
    const a = await newVm(fleet)
    const b = await newVm(fleet)
    const ca = await open(fleet, a.id, a.key)
    const cb = await open(fleet, b.id, b.key)
    expect((await exec(ca.client, "pwd")).stdout.trim()).toBe(fleet.ssh.vm(a.id)!.root)
    expect((await exec(cb.client, "echo $HOME")).stdout.trim()).toBe(fleet.ssh.vm(b.id)!.root)
    expect((await exec(ca.client, "printf x > mine && cat mine")).stdout).toBe("x")
    expect((await exec(cb.client, "test -e mine; echo $?")).stdout.trim()).toBe("1")
    // Each VM has its own host key.
    expect(ca.hostKey.equals(cb.hostKey)).toBe(false)
    expect(fleet.ssh.vm(a.id)!.hostPublicKey).toBe(`ssh-ed25519 ${ca.hostKey.toString("base64")}`)
  })

  it("accepts only the VM's own key for root", async () => {
    const fleet = await start()
    const a = await newVm(fleet)
    const b = await newVm(fleet)
    await expect(open(fleet, a.id, b.key)).rejects.toThrow(/authentication/i)
    const own = await open(fleet, a.id, a.key)
    expect((await exec(own.client, "echo ok")).stdout).toBe("ok\n")
  })

  it("refuses unknown, paused and deleted VMs; accepts a resumed one", async () => {
    const fleet = await start()
    const a = await newVm(fleet)
    await expect(open(fleet, "00000000-0000-4000-8000-000000000000", a.key)).rejects.toThrow()
    expect((await api(fleet, "PATCH", `/vm/${a.id}/state`, { state: "Paused" })).status).toBe(200)
    await expect(open(fleet, a.id, a.key)).rejects.toThrow()
    expect((await api(fleet, "PATCH", `/vm/${a.id}/state`, { state: "Running" })).status).toBe(200)
    const c = await open(fleet, a.id, a.key)
    expect((await exec(c.client, "echo back")).stdout).toBe("back\n")
    const root = fleet.ssh.vm(a.id)!.root
    expect((await api(fleet, "DELETE", `/vm/${a.id}`)).status).toBe(200)
    await expect(open(fleet, a.id, a.key)).rejects.toThrow()
    expect(() => readFileSync(root)).toThrow(/ENOENT/)
  })

  it.each([
    ["paused", "PATCH", "/state", { state: "Paused" }],
    ["deleted", "DELETE", "", undefined]
  ] as const)("cuts a running command when its VM is %s: no exit status, group gone", async (_what, method, suffix, body) => {
    const fleet = await start()
    const a = await newVm(fleet)
    const c = await open(fleet, a.id, a.key)
    const result = exec(c.client, "echo started; exec sleep 30")
    expect(await pollUntil(() => fleet.ssh.vm(a.id)!.runningGroups.length === 1, 10_000)).toBe(true)
    const [pgid] = fleet.ssh.vm(a.id)!.runningGroups
    expect(alive(pgid!)).toBe(true)
    expect((await api(fleet, method, `/vm/${a.id}${suffix}`, body)).status).toBe(200)
    const r = await result
    expect(r.exited).toBe(false)
    expect(await pollUntil(() => gone(pgid!), 10_000)).toBe(true)
  })
})

describe("FakeVm exec", () => {
  it("reports exit codes, signals, stdin and env", async () => {
    const fleet = await start()
    const a = await newVm(fleet)
    const { client } = await open(fleet, a.id, a.key)
    expect(await exec(client, "echo out; echo err >&2; exit 7")).toMatchObject({ code: 7, stdout: "out\n", stderr: "err\n", exited: true })
    expect(await exec(client, "kill -TERM $$")).toMatchObject({ code: null, signal: "SIGTERM", exited: true })
    expect((await exec(client, "cat; printf '|'; wc -c", { stdin: "line one\nline two" })).stdout).toBe("line one\nline two|0\n")
    expect((await exec(client, "wc -c", { stdin: Buffer.alloc(300_000, 1) })).stdout.trim()).toBe("300000")
    expect((await exec(client, 'printf "%s/%s" "$GREETING" "$USER"', { env: { GREETING: "hello there" } })).stdout).toBe("hello there/root")
  })

  it("kills the process group when the channel closes early", async () => {
    const fleet = await start()
    const a = await newVm(fleet)
    const { client } = await open(fleet, a.id, a.key)
    const pids = await new Promise<{ shell: number; child: number; channel: ssh2.ClientChannel }>((resolve, reject) =>
      client.exec("sleep 30 & echo $$ $!; wait", (err, ch) => {
        if (err) return reject(err)
        ch.once("data", (d: Buffer) => {
          const [shell, child] = d.toString().trim().split(" ").map(Number)
          resolve({ shell: shell!, child: child!, channel: ch })
        })
      })
    )
    // The background child is in the shell's group, and both live.
    const pgrpOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, "latin1").split(")")[1]!.trim().split(" ")[2])
    expect(pgrpOf(pids.child)).toBe(pids.shell)
    expect(alive(pids.shell) && alive(pids.child)).toBe(true)
    pids.channel.close()
    expect(await pollUntil(() => gone(pids.shell) && gone(pids.child), 10_000)).toBe(true)
  })
})
