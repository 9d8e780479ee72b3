/**
 * The provisioning steps of a golden image build (docs/vers.md "Golden images"): one small
 * POSIX `sh` script per step, run over SSH one after another so progress and failures name a
 * step. Every script checks before it changes anything: a tool that is present in a good
 * version is reported `present` and left alone (no package manager runs then), and everything
 * troupe writes lives under `$HOME` (`~/.troupe`, `~/.gitconfig`, `~/workspace`). A script ends
 * with one report line, `troupe-golden: <installed|present|configured> <version|->`.
 *
 * Facts from pi-vers' golden bootstrap: Node comes from NodeSource (`setup_22.x`) on Debian and
 * Ubuntu, Pi from npm (`npm install -g`), git is configured non-interactively, and the default
 * 1 GiB disk is too small for Pi and its packages (hence a 4 GiB build VM by default).
 */
import { shellQuote } from "../ssh/Exec.js"

/** The Pi package troupe supports and installs (Pi 0.82 through 1.6; docs/pi.md). */
export const piPackage = "@earendil-works/pi-coding-agent@1.6.0"
/** The oldest Pi troupe supports: an older `pi` on the VM is replaced. */
export const piMinimumVersion = "0.82.0"
/** The oldest Node the exec broker and Pi run on. */
export const nodeMinimumMajor = 20

/** One step: its name (`node`, …), a progress title, the script and its stdin (never argv). */
export interface GoldenStep {
  readonly name: string
  readonly title: string
  readonly script: string
  readonly stdin?: string | undefined
}

/** What the steps need to know; none of it secret. */
export interface StepOptions {
  /** npm package spec or tarball path for Pi (default {@link piPackage}). */
  readonly piPackage?: string | undefined
  /** Install Pi under this npm prefix (`npm install -g --prefix`), e.g. `$HOME/.npm-global`; default npm's own. */
  readonly npmPrefix?: string | undefined
}

/** The report line's prefix. */
export const reportPrefix = "troupe-golden: "

/** PATH for every step: troupe's bin dir and the npm prefix's (where a Pi install lands) first. */
const prelude = (options: StepOptions) =>
  [
    "set -eu",
    `npm_prefix=${options.npmPrefix === undefined ? "''" : `"${options.npmPrefix.replace(/["\\`]/g, "\\$&")}"`}`,
    `PATH="$HOME/.troupe/bin\${npm_prefix:+:$npm_prefix/bin}:$PATH"; export PATH`,
    "report() { echo \"troupe-golden: $1 $2\"; }",
    // System-wide installs only where HOME is the user's own home (a real VM): on a fake VM,
    // whose HOME is a directory of the host running it, they would change that host.
    "system_ok() { [ \"$(awk -F: -v u=\"$(id -un)\" '$1 == u { print $6 }' /etc/passwd 2>/dev/null)\" = \"$HOME\" ]; }",
    "refuse_system() { echo \"$1 would be installed system-wide, but HOME ($HOME) is not this user's home directory (a fake VM?): use a base image that has it\" >&2; exit 6; }",
    "debian() { command -v apt-get >/dev/null 2>&1 && [ -r /etc/os-release ] && grep -Eq '^(ID|ID_LIKE)=.*(debian|ubuntu)' /etc/os-release; }"
  ].join("\n")

/** `a >= b` for dotted versions, in Node (present by the time it is used). */
const versionAtLeast = `version_at_least() { node -e 'const [a,b]=process.argv.slice(1).map((s)=>s.replace(/^v/,"").split(/[.-]/).map(Number));for(let i=0;i<3;i++){const x=a[i]||0,y=b[i]||0;if(Number.isNaN(x))process.exit(1);if(x!==y)process.exit(x>y?0:1)}' "$1" "$2"; }`

const nodeScript = `
if command -v node >/dev/null 2>&1; then
  v=$(node -p 'process.versions.node')
  if [ "\${v%%.*}" -ge ${nodeMinimumMajor} ]; then report present "$v"; exit 0; fi
  echo "node $v is older than ${nodeMinimumMajor}: installing a newer one"
fi
if ! debian; then
  echo "Node >= ${nodeMinimumMajor} is missing and this VM is not Debian or Ubuntu: use a base image with Node (troupe vm golden build --from <commit>)" >&2
  exit 3
fi
system_ok || refuse_system "Node >= ${nodeMinimumMajor}"
export DEBIAN_FRONTEND=noninteractive
command -v curl >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq curl ca-certificates >/dev/null; }
curl -fsSL https://deb.nodesource.com/setup_22.x | bash - >/dev/null
apt-get install -y -qq nodejs >/dev/null
report installed "$(node -p 'process.versions.node')"
`

const gitScript = `
if command -v git >/dev/null 2>&1; then action=present; else
  if ! debian; then echo "git is missing and this VM is not Debian or Ubuntu: use a base image with git" >&2; exit 3; fi
  system_ok || refuse_system git
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq git >/dev/null
  action=installed
fi
git config --global core.editor true
git config --global sequence.editor true
git config --global init.defaultBranch main
git config --global advice.detachedHead false
git config --global user.name >/dev/null 2>&1 || git config --global user.name "troupe agent"
git config --global user.email >/dev/null 2>&1 || git config --global user.email "agent@troupe.invalid"
mkdir -p "$HOME/.troupe"
printf '%s\\n' '# troupe golden image: non-interactive git for agents' 'export GIT_EDITOR=true' 'export GIT_TERMINAL_PROMPT=0' 'case ":$PATH:" in *":$HOME/.troupe/bin:"*) ;; *) PATH="$HOME/.troupe/bin:$PATH" ;; esac' > "$HOME/.troupe/env.sh"
for rc in .profile .bashrc; do
  grep -qs 'troupe/env.sh' "$HOME/$rc" || printf '%s\\n' '[ -r "$HOME/.troupe/env.sh" ] && . "$HOME/.troupe/env.sh"' >> "$HOME/$rc"
done
report "$action" "$(git --version | sed 's/^git version //')"
`

const piScript = (spec: string) => `
${versionAtLeast}
if command -v pi >/dev/null 2>&1; then
  v=$(pi --version 2>/dev/null | tail -n 1 | tr -d ' v') || v=
  if [ -n "$v" ] && version_at_least "$v" ${piMinimumVersion}; then report present "$v"; exit 0; fi
  echo "pi \${v:-of unknown version} is older than ${piMinimumVersion}: installing ${spec}"
fi
[ -n "$npm_prefix" ] || system_ok || { echo "Pi would be installed into npm's global prefix, but HOME ($HOME) is not this user's home directory (a fake VM?): pass --npm-prefix '\$HOME/.npm-global'" >&2; exit 6; }
log="$HOME/.troupe/pi-install.log"
mkdir -p "$HOME/.troupe"
if ! npm install -g --no-fund --no-audit --no-update-notifier --loglevel=error \${npm_prefix:+--prefix "$npm_prefix"} ${shellQuote([spec])} >"$log" 2>&1; then
  why=$(grep -E '^npm (error|ERR!)' "$log" | grep -vE 'complete log of this run|^npm (error|ERR!) *$' | sed -E 's/^npm (error|ERR!) *//' | grep -vE '^(code|errno|syscall|path) ' | head -n 1)
  rm -f "$log"
  echo "npm could not install ${spec.replace(/["\\`$]/g, "")}: \${why:-see npm's log on the VM}" >&2
  exit 5
fi
rm -f "$log"
hash -r
v=$(pi --version 2>/dev/null | tail -n 1 | tr -d ' v')
report installed "\${v:--}"
`

const workspaceScript = `
mkdir -p "$HOME/workspace" "$HOME/.troupe/agents" "$HOME/.troupe/bin"
report configured -
`

/**
 * Scans `$HOME` (and the agent env file of a VM that once ran an agent) for any line of stdin
 * (the secret values, one a line) and for private keys under `~/.ssh`; prints the files, never
 * the values, and exits 4 when it found one.
 */
const secretsScript = `
found=$( { grep -rlF -f - "$HOME" 2>/dev/null || true; [ -f /etc/profile.d/troupe-agent.sh ] && echo /etc/profile.d/troupe-agent.sh || true; [ -d "$HOME/.ssh" ] && grep -rl 'PRIVATE KEY' "$HOME/.ssh" 2>/dev/null || true; } | sort -u | head -n 5)
if [ -n "$found" ]; then echo "$found" | sed "s|^$HOME/|~/|" | tr '\\n' ' ' >&2; exit 4; fi
report checked -
`

/**
 * The steps in order: `node`, `git`, `pi`, `workspace` (the broker upload and the secret scan
 * are separate: the first is SFTP, the second takes the secrets on stdin).
 */
export const provisionSteps = (options: StepOptions): ReadonlyArray<GoldenStep> => {
  const head = prelude(options)
  return [
    { name: "node", title: `Node >= ${nodeMinimumMajor}`, script: `${head}\n${nodeScript}` },
    { name: "git", title: "git, non-interactive", script: `${head}\n${gitScript}` },
    { name: "pi", title: `Pi (${options.piPackage ?? piPackage})`, script: `${head}\n${piScript(options.piPackage ?? piPackage)}` },
    { name: "workspace", title: "workspace directories", script: `${head}\n${workspaceScript}` }
  ]
}

/** The secret scan: `secrets` go on stdin, one a line (blank ones dropped: they would match everything). */
export const secretsStep = (secrets: ReadonlyArray<string>): GoldenStep => ({
  name: "secrets",
  title: "no secret in the image",
  script: `set -eu\nreport() { echo "troupe-golden: $1 $2"; }\n${secretsScript}`,
  stdin: secrets.filter((s) => s.trim() !== "" && !s.includes("\n")).map((s) => `${s}\n`).join("")
})

/** The last report line of a step's stdout: its action and version (`-` = none). */
export const parseReport = (stdout: string): { readonly action: string; readonly version: string | null } | undefined => {
  const line = stdout.split("\n").reverse().find((l) => l.startsWith(reportPrefix))
  if (line === undefined) return undefined
  const [action = "", version = "-"] = line.slice(reportPrefix.length).trim().split(/\s+/)
  return { action, version: version === "-" || version === "" ? null : version }
}
