/**
 * The fake fleet's in-VM operations, acting on the same root directories as the SSH side
 * (FakeVm): `exec_vm` (`POST /vm/{id}/exec`), `read_file_vm` (`GET /vm/{id}/files?path=`) and
 * `write_file_vm` (`PUT /vm/{id}/files`), with the document's VmExecRequest/VmExecResponse,
 * VmReadFileResponse and VmWriteFileRequest shapes (Schemas written here from the document).
 *
 * `exec_vm` runs `command` as an argv (no shell) in `working_dir` (default the VM's root, which
 * is also HOME), with `env` over a small login environment and `stdin` as its standard input;
 * it answers once the process exits, stdout and stderr decoded as UTF-8 (lossy). A
 * `timeout_secs` that runs out kills the process group and answers exit code 124 (as
 * `timeout(1)`); a command that cannot start answers 127. Relative paths resolve against the
 * VM's root; absolute paths are the host's own (the fake is not a sandbox).
 *
 * A VM that is not `running` answers 400; without a root (FakeVers alone, no FakeVm) 500.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Effect, Schema } from "effect"
import { killGroup, loginEnv } from "../fakeVm/Exec.js"
import { ApiFailure, type FakeVmRecord } from "./Model.js"

/** The document's VmExecRequest. */
export const VmExecRequest = Schema.Struct({
  command: Schema.NonEmptyArray(Schema.String),
  env: Schema.optional(Schema.NullOr(Schema.Record({ key: Schema.String, value: Schema.String }))),
  exec_id: Schema.optional(Schema.NullOr(Schema.UUID)),
  stdin: Schema.optional(Schema.NullOr(Schema.String)),
  timeout_secs: Schema.optional(Schema.NullOr(Schema.Int.pipe(Schema.nonNegative()))),
  working_dir: Schema.optional(Schema.NullOr(Schema.String))
})

/** The document's VmWriteFileRequest. */
export const VmWriteFileRequest = Schema.Struct({
  path: Schema.String,
  content_b64: Schema.String,
  create_dirs: Schema.optional(Schema.Boolean),
  mode: Schema.optional(Schema.Int.pipe(Schema.nonNegative()))
})

/** The VM's root directory, or undefined when no SSH side follows the fleet. */
export type VmRoot = (vmId: string) => string | undefined

const rootOf = (vm: FakeVmRecord, vmRoot: VmRoot | undefined) => {
  if (vm.state !== "running") return Effect.fail(new ApiFailure({ status: 400, message: `VM ${vm.vm_id} is ${vm.state}; only a running VM can run commands or serve files` }))
  const root = vmRoot?.(vm.vm_id)
  return root === undefined
    ? Effect.fail(new ApiFailure({ status: 500, message: `VM ${vm.vm_id} has no filesystem in this fake (start FakeFleet, not FakeVers alone, for exec and files)` }))
    : Effect.succeed(root)
}

const fsFailure = (what: string, e: unknown) => {
  const code = (e as NodeJS.ErrnoException | undefined)?.code
  const status = code === "ENOENT" || code === "ENOTDIR" ? 404 : code === "EACCES" || code === "EPERM" || code === "EISDIR" ? 403 : 500
  return new ApiFailure({ status, message: `Cannot ${what}: ${code ?? (e instanceof Error ? e.message : String(e))}` })
}

/** `POST /vm/{id}/exec`: the VmExecResponse body. */
export const execVm = (vm: FakeVmRecord, vmRoot: VmRoot | undefined, request: typeof VmExecRequest.Type) =>
  Effect.gen(function* () {
    const root = yield* rootOf(vm, vmRoot)
    const cwd = path.resolve(root, request.working_dir ?? ".")
    const out: Array<Buffer> = []
    const err: Array<Buffer> = []
    let pgid: number | undefined
    const body = (exit_code: number) => ({
      exec_id: request.exec_id ?? null,
      exit_code,
      stdout: Buffer.concat(out).toString("utf8"),
      stderr: Buffer.concat(err).toString("utf8")
    })
    const run = Effect.async<number>((resume) => {
      const [file, ...args] = request.command
      const child = spawn(file, args, { cwd, env: { ...loginEnv(root), ...request.env }, detached: true, stdio: ["pipe", "pipe", "pipe"] })
      pgid = child.pid
      child.stdout.on("data", (c: Buffer) => out.push(c))
      child.stderr.on("data", (c: Buffer) => err.push(c))
      child.stdin.on("error", () => {})
      child.stdin.end(request.stdin ?? "")
      child.on("error", (e) => {
        err.push(Buffer.from(`${file}: ${e.message}\n`))
        resume(Effect.succeed(127))
      })
      child.on("close", (code, signal) => resume(Effect.succeed(code ?? 128 + (signal === "SIGKILL" ? 9 : 15))))
      return Effect.sync(() => killGroup(pgid))
    })
    const timeout = request.timeout_secs ?? 0
    const code = timeout === 0 ? yield* run : yield* Effect.timeoutTo(run, { duration: `${timeout} seconds`, onSuccess: (c) => c, onTimeout: () => 124 })
    killGroup(pgid)
    return body(code)
  })

/** `GET /vm/{id}/files?path=`: the VmReadFileResponse body. */
export const readFileVm = (vm: FakeVmRecord, vmRoot: VmRoot | undefined, filePath: string | null) =>
  Effect.gen(function* () {
    if (filePath === null || filePath === "") return yield* new ApiFailure({ status: 400, message: "Query parameter path is required" })
    const root = yield* rootOf(vm, vmRoot)
    const bytes = yield* Effect.tryPromise({ try: () => fs.readFile(path.resolve(root, filePath)), catch: (e) => fsFailure(`read ${filePath}`, e) })
    return { content_b64: bytes.toString("base64") }
  })

/** `PUT /vm/{id}/files`: writes the file (mode default 0644, applied even to an existing file). */
export const writeFileVm = (vm: FakeVmRecord, vmRoot: VmRoot | undefined, request: typeof VmWriteFileRequest.Type) =>
  Effect.gen(function* () {
    const root = yield* rootOf(vm, vmRoot)
    const target = path.resolve(root, request.path)
    const mode = (request.mode ?? 0o644) & 0o7777
    yield* Effect.tryPromise({
      try: async () => {
        if (request.create_dirs === true) await fs.mkdir(path.dirname(target), { recursive: true })
        await fs.writeFile(target, Buffer.from(request.content_b64, "base64"), { mode })
        await fs.chmod(target, mode)
      },
      catch: (e) => fsFailure(`write ${request.path}`, e)
    })
  })
