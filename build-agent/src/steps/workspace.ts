import { posix } from "node:path";
import { combineTars, type TarSource } from "../util/tar.js";
import {
  helper,
  jobPath,
  mkdirp,
  putConfined,
  type StepContext,
  type StepOutcome,
} from "./context.js";
import { isInside, stepInputError } from "./paths.js";

/** Stores `paths` (relative to `root`; `*` globs allowed) as a workspace layer of this job. */
export async function persistToWorkspace(
  ctx: StepContext,
  step: { root: string; paths: string[] },
): Promise<StepOutcome> {
  const root = jobPath(ctx, step.root);
  const sources: TarSource[] = [];
  for (const [i, p] of step.paths.entries()) {
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
      if (!isInside(root, abs)) {
        throw stepInputError(
          "persist_to_workspace",
          `paths[${i}] '${p}'${m !== p ? ` (match '${m}')` : ""} resolves to ${abs}, outside the root ${root}`,
        );
      }
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

/** Applies the workflow's upstream layers, in order, under `at` (and nowhere else). */
export async function attachWorkspace(
  ctx: StepContext,
  step: { at: string },
): Promise<StepOutcome> {
  const at = jobPath(ctx, step.at);
  const layers = await ctx.storage.listWorkspaceLayers();
  await mkdirp(ctx, at);
  for (const layer of layers) {
    await putConfined(ctx, at, await ctx.storage.getWorkspaceLayer(layer.id), (entry) =>
      stepInputError(
        "attach_workspace",
        `layer ${layer.id} has an entry '${entry}' outside ${at}; the layer was not applied past it`,
      ),
    );
  }
  ctx.log(`Attached ${layers.length} workspace layer(s) at ${at}\n`);
  return { status: "success", exitCode: 0 };
}
