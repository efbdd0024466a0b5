import { Readable } from "node:stream";
import type { TestCase } from "@drover/task-api";
import { forEachEntry, readEntry } from "../util/tar.js";
import { jobPath, type StepContext, type StepOutcome } from "./context.js";
import { parseJUnit } from "./junit.js";
import { artifactPathProblem, normalizeRelative, stepInputError } from "./paths.js";

/** Entry name without the archive's root component (docker tars start at the path's basename). */
function inner(name: string): string {
  const i = name.indexOf("/");
  return i < 0 ? "" : name.slice(i + 1).replace(/\/$/, "");
}

/** Where `store_artifacts` puts its files: `destination`, else `path` as written with `~/` dropped. */
function artifactPrefix(step: { path: string; destination?: string }): string {
  if (step.destination !== undefined) {
    const prefix = normalizeRelative(step.destination);
    if (prefix === undefined) {
      throw stepInputError(
        "store_artifacts",
        `destination '${step.destination}' leaves the job's artifacts: '..' may not climb above its start`,
      );
    }
    return prefix;
  }
  const prefix = normalizeRelative(step.path.replace(/^~\/?/, ""));
  if (prefix === undefined) {
    throw stepInputError(
      "store_artifacts",
      `path '${step.path}' climbs above the working directory, so it cannot name the artifacts: set a destination`,
    );
  }
  return prefix;
}

/**
 * Uploads every file under `path` to `destination` (default: the path as written, `~/` dropped).
 * Files whose names the control plane cannot store are skipped and fail the step, naming them.
 */
export async function storeArtifacts(
  ctx: StepContext,
  step: { path: string; destination?: string },
): Promise<StepOutcome> {
  const abs = jobPath(ctx, step.path);
  const prefix = artifactPrefix(step);
  const tar = await ctx.executor.getArchive(abs);
  if (!tar) {
    ctx.log(`No artifact files found at ${abs}\n`);
    return { status: "success", exitCode: 0 };
  }
  let count = 0;
  const refused: string[] = [];
  await forEachEntry(tar, async (h, body) => {
    if (h.type !== "file") return;
    const rel = inner(h.name);
    const dest = rel ? (prefix ? `${prefix}/${rel}` : rel) : prefix || h.name;
    const problem = artifactPathProblem(dest);
    if (problem) {
      refused.push(`'${dest}' (${problem})`);
      ctx.log(`Warning: cannot store '${dest}' as an artifact: ${problem}\n`);
      return;
    }
    await ctx.storage.putArtifact(dest, Readable.from(body));
    count++;
    ctx.log(`Uploading ${dest} (${h.size ?? 0} bytes)\n`);
  });
  ctx.log(`Uploaded ${count} artifact(s)\n`);
  if (refused.length > 0) {
    const message = `store_artifacts: ${refused.length} file(s) not uploaded: ${refused.slice(0, 10).join(", ")}${refused.length > 10 ? ", ..." : ""}`;
    ctx.log(`${message}\n`);
    return { status: "failed", exitCode: null, message };
  }
  return { status: "success", exitCode: 0 };
}

/** Parses every `*.xml` JUnit report under `path` and sends the cases. */
export async function storeTestResults(
  ctx: StepContext,
  step: { path: string },
): Promise<StepOutcome> {
  const abs = jobPath(ctx, step.path);
  const tar = await ctx.executor.getArchive(abs);
  if (!tar) {
    ctx.log(`No test results found at ${abs}\n`);
    return { status: "success", exitCode: 0 };
  }
  const cases: TestCase[] = [];
  let files = 0;
  await forEachEntry(tar, async (h, body) => {
    if (h.type !== "file" || !h.name.endsWith(".xml")) return;
    const source = inner(h.name) || h.name;
    try {
      const parsed = parseJUnit((await readEntry(body, 64 * 1024 * 1024)).toString("utf8"), source);
      for (const c of parsed) {
        cases.push({
          ...c,
          name: ctx.mask(c.name),
          classname: ctx.mask(c.classname),
          ...(c.message ? { message: ctx.mask(c.message) } : {}),
        });
      }
      files++;
    } catch (err) {
      ctx.log(`Warning: ${source} is not JUnit XML: ${(err as Error).message}\n`);
    }
  });
  for (let i = 0; i < cases.length; i += 1000)
    await ctx.storage.sendTests(cases.slice(i, i + 1000));
  const failed = cases.filter((c) => c.result === "failure" || c.result === "error").length;
  ctx.log(`Stored ${cases.length} test result(s) from ${files} file(s); ${failed} failed\n`);
  return { status: "success", exitCode: 0 };
}
