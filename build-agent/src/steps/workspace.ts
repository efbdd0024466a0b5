import { posix } from "node:path";
import { combineTars, type TarSource } from "../util/tar.js";
import { helper, jobPath, mkdirp, type StepContext, type StepOutcome } from "./context.js";

/** Stores `paths` (relative to `root`; `*` globs allowed) as a workspace layer of this job. */
export async function persistToWorkspace(
  ctx: StepContext,
  step: { root: string; paths: string[] },
): Promise<StepOutcome> {
  const root = jobPath(ctx, step.root);
  const sources: TarSource[] = [];
  for (const p of step.paths) {
    const matches = /[*?[]/.test(p)
      ? (
          await helper(
            ctx,
            'cd "$1" && for f in $2; do [ -e "$f" ] && echo "$f"; done; true',
            root,
            p,
          )
        )
          .split("\n")
          .filter(Boolean)
      : [p];
    for (const m of matches) {
      const abs = jobPath(ctx, m, root);
      const tar = await ctx.executor.getArchive(abs);
      if (!tar) {
        ctx.log(`Error: ${abs} does not exist\n`);
        return {
          status: "failed",
          exitCode: 1,
          message: `persist_to_workspace: ${abs} does not exist`,
        };
      }
      sources.push({ tar, base: posix.dirname(abs) });
      ctx.log(`Persisting ${abs}\n`);
    }
  }
  await ctx.storage.putWorkspaceLayer(combineTars(sources, root));
  ctx.log(`Persisted ${sources.length} path(s) from ${root} to the workspace\n`);
  return { status: "success", exitCode: 0 };
}

/** Applies the workflow's upstream layers, in order, under `at`. */
export async function attachWorkspace(
  ctx: StepContext,
  step: { at: string },
): Promise<StepOutcome> {
  const at = jobPath(ctx, step.at);
  const layers = await ctx.storage.listWorkspaceLayers();
  await mkdirp(ctx, at);
  for (const layer of layers) {
    await ctx.executor.putArchive(at, await ctx.storage.getWorkspaceLayer(layer.id));
  }
  ctx.log(`Attached ${layers.length} workspace layer(s) at ${at}\n`);
  return { status: "success", exitCode: 0 };
}
