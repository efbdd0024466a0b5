import { posix } from "node:path";
import { combineTars, forEachEntry, readEntry, type TarSource } from "../util/tar.js";
import { jobPath, putConfined, type StepContext, type StepOutcome } from "./context.js";
import { stepInputError } from "./paths.js";
import { renderKey, sha256, type TemplateValues } from "./templates.js";

/** The control plane's limit on a cache key. */
const MAX_KEY = 512;

function templateValues(ctx: StepContext): TemplateValues {
  return {
    branch: ctx.task.pipeline.branch ?? "",
    revision: ctx.task.pipeline.revision,
    buildNum: ctx.task.job.number,
    environment: ctx.env,
    machine: ctx.info.machine,
    checksum: async (file) => {
      const abs = jobPath(ctx, file);
      const tar = await ctx.executor.getArchive(abs);
      let digest: string | undefined;
      if (tar) {
        await forEachEntry(tar, async (h, body) => {
          if (digest === undefined && h.type === "file")
            digest = sha256(await readEntry(body, 1 << 30));
        });
      }
      if (digest === undefined)
        throw new Error(`checksum: ${abs} is not a file in the job's container`);
      return digest;
    },
  };
}

/** Archives `paths` under an immutable key; an existing key is left as it is. */
export async function saveCache(
  ctx: StepContext,
  step: { key: string; paths: string[] },
): Promise<StepOutcome> {
  const key = await renderKey(step.key, templateValues(ctx));
  if (key === "" || key === "." || key === "..") {
    throw stepInputError(
      "save_cache",
      `the key '${step.key}' renders to '${key}', which cannot name a cache`,
    );
  }
  if (key.length > MAX_KEY) {
    throw stepInputError(
      "save_cache",
      `the key '${key}' is ${key.length} characters; at most ${MAX_KEY}`,
    );
  }
  if ((await ctx.storage.findCache([key])) === key) {
    ctx.log(`Skipping cache generation, cache already exists for key: ${key}\n`);
    return { status: "success", exitCode: 0 };
  }
  const sources: TarSource[] = [];
  for (const p of step.paths) {
    const abs = jobPath(ctx, p);
    const tar = await ctx.executor.getArchive(abs);
    if (!tar) {
      ctx.log(`Warning: could not find ${abs}, skipping it\n`);
      continue;
    }
    sources.push({ tar, base: posix.dirname(abs) });
    ctx.log(`Archiving ${abs}\n`);
  }
  if (sources.length === 0) {
    ctx.log(`No paths to save; no cache stored for ${key}\n`);
    return { status: "success", exitCode: 0 };
  }
  const stored = await ctx.storage.putCache(key, combineTars(sources, "/"));
  ctx.log(
    stored
      ? `Stored cache ${key}\n`
      : `Cache ${key} was stored meanwhile by another job; kept it\n`,
  );
  return { status: "success", exitCode: 0 };
}

/** Restores the most recent cache whose key starts with one of `keys` (tried in order). */
export async function restoreCache(
  ctx: StepContext,
  step: { keys: string[] },
): Promise<StepOutcome> {
  const values = templateValues(ctx);
  const keys: string[] = [];
  for (const k of step.keys) keys.push(await renderKey(k, values));
  const found = await ctx.storage.findCache(keys);
  if (!found) {
    ctx.log(`No cache is found for keys: ${keys.join(", ")}\n`);
    return { status: "success", exitCode: 0 };
  }
  ctx.log(`Found a cache from key ${found}\n`);
  await putConfined(ctx, "/", await ctx.storage.getCache(found), (entry) =>
    stepInputError("restore_cache", `cache ${found} has an entry '${entry}' outside /`),
  );
  ctx.log(`Restored cache ${found}\n`);
  return { status: "success", exitCode: 0 };
}
