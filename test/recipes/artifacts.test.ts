/**
 * The artifact utilities (recipes/artifact-write.json, artifact-bundle.json) through the built
 * binary: atomic writes (the target is absent or complete, never partial), create-only mode,
 * and a .tar.gz bundle whose manifest matches the real archive (`tar -tzf`, extracted sha256).
 */
import { createHash } from "node:crypto"
import { linkSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { run } from "../support/exec.js"
import { scratch } from "../support/graph.js"
import { troupe } from "./support.js"

const sha256 = (b: Buffer | string) => createHash("sha256").update(b).digest("hex")

describe("artifact-write", () => {
  it("writes content to a new file (creating parent dirs) and prints path, bytes and sha256", async () => {
    const dir = scratch("troupe-artifact-")
    const content = "# Report\n\nline with \"quotes\", it's {braces} and  spaces\n"
    const r = await troupe(["run", "artifact-write", "path=out/deep/report.md", `content=${content}`], { cwd: dir })
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    const target = join(dir, "out/deep/report.md")
    expect(readFileSync(target, "utf8")).toBe(content)
    expect(JSON.parse(r.stdout)).toEqual({ path: target, bytes: Buffer.byteLength(content), sha256: sha256(content), mode: "overwrite" })
    expect(readdirSync(join(dir, "out/deep"))).toEqual(["report.md"])
  })

  it("overwrite replaces; create refuses an existing file and leaves it untouched", async () => {
    const dir = scratch("troupe-artifact-")
    expect((await troupe(["run", "artifact-write", "path=a.txt", "content=one"], { cwd: dir })).code).toBe(0)
    expect((await troupe(["run", "artifact-write", "path=a.txt", "content=two"], { cwd: dir })).code).toBe(0)
    expect(readFileSync(join(dir, "a.txt"), "utf8")).toBe("two")
    const create = await troupe(["run", "artifact-write", "path=a.txt", "content=three", "mode=create"], { cwd: dir })
    expect(create.code).toBe(3)
    expect(create.stderr).toContain(`artifact-write: exists: ${join(dir, "a.txt")} (mode=create never replaces a file)`)
    expect(readFileSync(join(dir, "a.txt"), "utf8")).toBe("two")
    expect((await troupe(["run", "artifact-write", "path=b.txt", "content=new", "mode=create"], { cwd: dir })).code).toBe(0)
    expect(readdirSync(dir).sort()).toEqual(["a.txt", "b.txt"])
  })

  it("empty content is refused unless allow_empty=true", async () => {
    const dir = scratch("troupe-artifact-")
    const empty = await troupe(["run", "artifact-write", "path=c.txt"], { cwd: dir })
    expect(empty.code).toBe(2)
    expect(empty.stderr).toContain("nothing to write")
    expect((await troupe(["run", "artifact-write", "path=c.txt", "allow_empty=true"], { cwd: dir })).code).toBe(0)
    expect(readFileSync(join(dir, "c.txt"), "utf8")).toBe("")
    expect(readdirSync(dir)).toEqual(["c.txt"])
  })

  it("a reader never sees a partial file: every read is the old content or the complete new one", async () => {
    const dir = scratch("troupe-artifact-")
    const target = join(dir, "big.txt")
    const old = "old\n".repeat(10_000)
    writeFileSync(target, old)
    const next = "0123456789abcdef".repeat(6_000) // 96 KB, one argument
    const writer = troupe(["run", "artifact-write", "path=big.txt", `content=${next}`], { cwd: dir })
    let done = false
    void writer.then(() => (done = true))
    const seen = new Set<string>()
    while (!done) {
      const text = readFileSync(target, "utf8")
      seen.add(text === old ? "old" : text === next ? "new" : `partial ${text.length}`)
      await new Promise((r) => setImmediate(r))
    }
    expect((await writer).code).toBe(0)
    expect(readFileSync(target, "utf8")).toBe(next)
    expect([...seen].filter((s) => s.startsWith("partial"))).toEqual([])
    expect(seen.has("old")).toBe(true)
  })

  it("writes the previous step's stdout when no content is given", async () => {
    const dir = scratch("troupe-artifact-")
    const script = join(process.cwd(), "recipes/scripts/artifact-write.mjs")
    const r = await troupe(["run", "--template", JSON.stringify(["printf %s\\n piped-text", `${script} --path=piped.txt --mode=create --`])], { cwd: dir })
    expect(r.code).toBe(0)
    expect(readFileSync(join(dir, "piped.txt"), "utf8")).toBe("piped-text\n")
    expect(JSON.parse(r.stdout)).toMatchObject({ bytes: 11, sha256: sha256("piped-text\n"), mode: "create" })
  })
})

interface Manifest {
  path: string
  bytes: number
  sha256: string
  files: Array<{ name: string; bytes: number; sha256: string }>
  dirs: Array<string>
  symlinks: Array<{ name: string; target: string }>
}

describe("artifact-bundle", () => {
  const tree = () => {
    const dir = scratch("troupe-bundle-")
    mkdirSync(join(dir, "src/sub"), { recursive: true })
    writeFileSync(join(dir, "README.md"), "# hi\n")
    writeFileSync(join(dir, "src/a.ts"), "export const a = 1\n")
    writeFileSync(join(dir, "src/sub/data.bin"), Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251)))
    const long = "very-long-directory-name-".repeat(5)
    mkdirSync(join(dir, "src", long))
    writeFileSync(join(dir, "src", long, "naïve file.txt"), "unicode and spaces\n")
    symlinkSync("../README.md", join(dir, "src/readme-link"))
    writeFileSync(join(dir, "not-bundled.txt"), "x")
    return { dir, long }
  }

  it("the manifest lists exactly the archive's entries, with the extracted files' sizes and sha256", async () => {
    const { dir, long } = tree()
    const r = await troupe(["run", "artifact-bundle", "path=dist/bundle.tar.gz", `files=${JSON.stringify(["README.md", "src"])}`], { cwd: dir })
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    const manifest = JSON.parse(r.stdout) as Manifest
    const archive = join(dir, "dist/bundle.tar.gz")
    expect(manifest.path).toBe(archive)
    const bytes = readFileSync(archive)
    expect(manifest).toMatchObject({ bytes: bytes.length, sha256: sha256(bytes) })
    const listed = (await run("tar", ["-tzf", archive])).stdout.trim().split("\n")
    expect(listed.sort()).toEqual([...manifest.files.map((f) => f.name), ...manifest.dirs, ...manifest.symlinks.map((s) => s.name)].sort())
    expect(manifest.files.map((f) => f.name)).toEqual(["README.md", "src/a.ts", "src/sub/data.bin", `src/${long}/naïve file.txt`])
    expect(manifest.symlinks).toEqual([{ name: "src/readme-link", target: "../README.md" }])
    const out = scratch("troupe-unbundle-")
    expect((await run("tar", ["-xzf", archive, "-C", out])).code).toBe(0)
    for (const f of manifest.files) {
      const extracted = readFileSync(join(out, f.name))
      expect({ name: f.name, bytes: extracted.length, sha256: sha256(extracted) }).toEqual(f)
      expect(extracted.equals(readFileSync(join(dir, f.name)))).toBe(true)
    }
    expect(readdirSync(join(dir, "dist"))).toEqual(["bundle.tar.gz"])
  })

  it("a missing file or a path outside base fails before anything is written", async () => {
    const { dir } = tree()
    const missing = await troupe(["run", "artifact-bundle", "path=out.tar.gz", `files=${JSON.stringify(["README.md", "nope.txt"])}`], { cwd: dir })
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain("artifact-bundle: no such file: nope.txt")
    const outside = await troupe(["run", "artifact-bundle", "path=out.tar.gz", `files=${JSON.stringify(["../"])}`], { cwd: dir })
    expect(outside.code).toBe(2)
    expect(outside.stderr).toContain("is not inside base")
    expect(readdirSync(dir).sort()).toEqual(["README.md", "not-bundled.txt", "src"])
  })

  it("hard-linked files are each archived in full (node-tar's async Pack can deadlock on them)", async () => {
    const dir = scratch("troupe-bundle-")
    writeFileSync(join(dir, "a"), "shared content\n")
    linkSync(join(dir, "a"), join(dir, "hard"))
    writeFileSync(join(dir, "b"), "b\n")
    writeFileSync(join(dir, "empty"), "")
    symlinkSync("t", join(dir, "link"))
    mkdirSync(join(dir, "sub"))
    writeFileSync(join(dir, "sub/y"), "y\n")
    const r = await troupe(["run", "artifact-bundle", "path=out/links.tar.gz", `files=["."]`], { cwd: dir })
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    const manifest = JSON.parse(r.stdout) as Manifest
    expect(manifest.files.map((f) => f.name)).toEqual(["a", "b", "empty", "hard", "sub/y"])
    const shared = { bytes: 15, sha256: sha256("shared content\n") }
    expect(manifest.files.filter((f) => f.name === "a" || f.name === "hard")).toEqual([{ name: "a", ...shared }, { name: "hard", ...shared }])
    const archive = join(dir, "out/links.tar.gz")
    const verbose = (await run("tar", ["-tvzf", archive])).stdout
    expect(verbose.split("\n").filter((l) => l.startsWith("h"))).toEqual([])
    const out = scratch("troupe-unbundle-")
    expect((await run("tar", ["-xzf", archive, "-C", out])).code).toBe(0)
    expect(readFileSync(join(out, "hard"), "utf8")).toBe("shared content\n")
  })

  it("base=. bundles the directory's contents and leaves the archive itself out", async () => {
    const { dir } = tree()
    const r = await troupe(["run", "artifact-bundle", "path=all.tar.gz", `files=["."]`], { cwd: dir })
    expect(r.code).toBe(0)
    const manifest = JSON.parse(r.stdout) as Manifest
    expect(manifest.files.map((f) => f.name)).toContain("not-bundled.txt")
    expect(manifest.files.map((f) => f.name)).not.toContain("all.tar.gz")
    expect((await run("tar", ["-tzf", join(dir, "all.tar.gz")])).stdout).not.toContain("all.tar.gz")
  })
})
