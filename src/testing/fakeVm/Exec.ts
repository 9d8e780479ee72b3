/**
 * One SSH `exec` request on a fake VM: `/bin/sh -c <command>` as a real local process in its
 * own process group, cwd = HOME = the VM's root, the channel's `env` requests on top of a small
 * login environment, stdin/stdout/stderr piped through the channel, and the exit status (or
 * exit signal) reported as OpenSSH's sshd reports it.
 *
 * The exit status is sent when the shell exits; the channel ends when its output does (a
 * background process holding stdout keeps it open, as with sshd). The shell's process group is
 * killed (SIGKILL) when the channel closes — early, when the client gives up, or after the
 * command, taking leftovers of that group with it — and when the VM is paused or
 * deleted (`cut`: the channel then closes with no exit status, as a dropped VM's would).
 */
import { spawn } from "node:child_process"
import type { ServerChannel } from "ssh2"

/** A running command, as the VM's connection bookkeeping sees it. */
export interface RunningCommand {
  /** The process group id (= the shell's pid), or undefined when the spawn failed. */
  readonly pgid: number | undefined
  /** Kills the group and closes the channel without an exit status. */
  readonly cut: () => void
}

/** The environment every command starts from (the channel's `env` requests override it). */
export const loginEnv = (root: string): Record<string, string> => ({
  PATH: process.env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  HOME: root,
  PWD: root,
  USER: "root",
  LOGNAME: "root",
  SHELL: "/bin/sh",
  LANG: "C.UTF-8"
})

/** SIGKILL to a whole process group; a group already gone is fine. */
export const killGroup = (pgid: number | undefined): void => {
  if (pgid === undefined) return
  try {
    process.kill(-pgid, "SIGKILL")
  } catch {
    // ESRCH: nothing left in the group.
  }
}

const signalNumbers: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGABRT: 6, SIGFPE: 8, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGUSR1: 10, SIGUSR2: 12 }

/**
 * Runs `command` on `channel` (already accepted). `onDone` runs once, after the channel closed
 * and the group was killed.
 */
export const runCommand = (channel: ServerChannel, command: string, root: string, env: Readonly<Record<string, string>>, onDone: () => void): RunningCommand => {
  let cut = false
  let finished = false
  const child = spawn("/bin/sh", ["-c", command], { cwd: root, env: { ...loginEnv(root), ...env }, detached: true, stdio: ["pipe", "pipe", "pipe"] })
  const pgid = child.pid
  // The client may stop reading stdin's other end; an EPIPE on it is not the server's failure.
  child.stdin.on("error", () => {})
  child.stdout.pipe(channel, { end: false })
  child.stderr.pipe(channel.stderr, { end: false })
  channel.pipe(child.stdin)
  const finish = () => {
    if (finished) return
    finished = true
    killGroup(pgid)
    onDone()
  }
  child.on("error", (e) => {
    if (cut) return
    channel.stderr.write(`sh: cannot start: ${e.message}\n`)
    channel.exit(127)
    channel.end()
  })
  // As OpenSSH's sshd: the exit status goes out when the shell exits, even while a background
  // process still holds its output open (the channel then stays open until that output ends).
  child.on("exit", (code, signal) => {
    if (cut) return
    if (code !== null) channel.exit(code)
    else if (signal !== null) {
      try {
        channel.exit(signal, false, "")
      } catch {
        // A signal SSH has no name for: report it as a shell would.
        channel.exit(128 + (signalNumbers[signal] ?? 0))
      }
    }
  })
  // The channel's end (EOF) does not wait for stderr's buffered writes: flush them first (an
  // empty write's callback runs once every earlier write went out), or stderr loses its tail.
  child.on("close", () => {
    if (cut) return
    channel.stderr.write(Buffer.alloc(0), () => {
      if (!cut) channel.end()
    })
  })
  channel.on("close", () => {
    child.stdout.unpipe(channel)
    child.stderr.unpipe(channel.stderr)
    finish()
  })
  return {
    pgid,
    cut: () => {
      cut = true
      killGroup(pgid)
      channel.close()
      finish()
    }
  }
}
