/**
 * Golden images (SPEC-vers §5 "Golden images", docs/vers.md "Golden images"): a Vers commit of
 * a VM on which Node, Pi, troupe's exec broker, git's non-interactive settings and the
 * workspace directories are installed, kept paused, with no secret in it. Swarms, lieutenants
 * and `on: golden` restore their VMs from it (`VERS_GOLDEN_COMMIT_ID`).
 *
 * pi-vers builds one with a bootstrap script run by hand on a VM and a commit the user notes
 * down; troupe builds, checks and records it in one command (`troupe vm golden build`) and lists
 * what it recorded (`troupe vm golden ls`). Pure data that crosses the CLI's `--json` boundary.
 */
import { Schema } from "effect"

/**
 * What one provisioning step did to one component: `installed` (it was missing or too old),
 * `present` (already there in a good version: skipped), `configured` (settings written).
 */
export const GoldenAction = Schema.Literal("installed", "present", "configured")
export type GoldenAction = typeof GoldenAction.Type

/** One component of a golden image: `node`, `pi`, `git`, `broker`, `workspace`, with its version when it has one. */
export class GoldenComponent extends Schema.Class<GoldenComponent>("GoldenComponent")({
  name: Schema.String,
  action: GoldenAction,
  /** The version found or installed (`20.20.2`, `1.6.0`, the broker's file name); null when none. */
  version: Schema.NullOr(Schema.String)
}) {}

/** A recorded golden image (`TROUPE_HOME/goldens.json`, newest last). */
export class GoldenImage extends Schema.Class<GoldenImage>("GoldenImage")({
  /** The Vers commit to restore (`VERS_GOLDEN_COMMIT_ID`). */
  commit_id: Schema.String,
  /** A human name (`--name`, default `golden-<date>`). */
  name: Schema.String,
  /** ms since the epoch. */
  created_at: Schema.Number,
  /** The build VM (deleted after the commit unless `--keep-vm`). */
  vm_id: Schema.String,
  /** The commit the build VM was restored from (`--from`), or null for a new root VM. */
  from: Schema.NullOr(Schema.String),
  /** The troupe version that built it. */
  troupe_version: Schema.String,
  components: Schema.Array(GoldenComponent),
  /** Whether the build VM was kept (`--keep-vm`). */
  vm_kept: Schema.Boolean
}) {}

/** The records file: `{"goldens": [GoldenImage…]}`, oldest first. */
export const GoldenFile = Schema.Struct({ goldens: Schema.Array(GoldenImage) })
export type GoldenFile = typeof GoldenFile.Type

/**
 * A golden image build that failed. `reason`: `vm` (creating, committing the VM), `step` (a
 * provisioning step failed; `step` names it), `secret` (a configured secret value was found on
 * the VM; `message` names the file, never the value), `records` (the records file could not be
 * read or written). `message` is one sentence naming the step and the VM.
 */
export class GoldenError extends Schema.TaggedError<GoldenError>()("GoldenError", {
  reason: Schema.Literal("vm", "step", "secret", "records"),
  step: Schema.NullOr(Schema.String),
  message: Schema.String
}) {}
