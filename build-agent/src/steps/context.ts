import type { Readable } from "node:stream";
import type { StepStatus, TaskApiClient, TaskSpec } from "@drover/task-api";
import type { EnvironmentInfo, Executor } from "../executor/types.js";
import { expandPath } from "../executor/types.js";
import { confineTar } from "../util/tar.js";

/** The part of the task API client the built-in steps use. */
export type StorageApi = Pick<
  TaskApiClient,
  | "findCache"
  | "getCache"
  | "putCache"
  | "putArtifact"
  | "sendTests"
  | "putWorkspaceLayer"
  | "listWorkspaceLayers"
  | "getWorkspaceLayer"
>;

export interface StepContext {
  task: TaskSpec;
  executor: Executor;
  info: EnvironmentInfo;
  storage: StorageApi;
  /** The job's environment (without step variables). */
  env: Record<string, string>;
  /** Masks secrets in what the agent uploads as text (test results). */
  mask(text: string): string;
  /** Writes a line of the agent's own output into the step's log. */
  log(text: string): void;
}

export interface StepOutcome {
  status: StepStatus;
  exitCode: number | null;
  message?: string;
}

/** A path as the job sees it: `~` expanded, relative paths under the working directory. */
export function jobPath(ctx: StepContext, path: string, base = ctx.info.workingDirectory): string {
  return expandPath(path, ctx.info.home, base);
}

/** Runs a helper command in the primary and returns stdout; throws with its output on failure. */
export async function helper(ctx: StepContext, script: string, ...args: string[]): Promise<string> {
  let out = "";
  const r = await ctx.executor.exec({
    argv: ["/bin/sh", "-c", script, "drover", ...args],
    onOutput: (_s, d) => {
      out += d;
    },
  }).result;
  if (r.exitCode !== 0) throw new Error(`'${script}' exited ${r.exitCode}: ${out.trim()}`);
  return out;
}

export async function mkdirp(ctx: StepContext, dir: string): Promise<void> {
  await helper(ctx, 'mkdir -p "$1"', dir);
}

/** Extracts `tar` into `dir`, stopping with `refuse(entry)` at an entry that would land outside. */
export async function putConfined(
  ctx: StepContext,
  dir: string,
  tar: Readable,
  refuse: (entry: string) => Error,
): Promise<void> {
  const confined = confineTar(tar);
  try {
    await ctx.executor.putArchive(dir, confined.tar);
  } catch (err) {
    if (confined.violation() === undefined) throw err;
  }
  const bad = confined.violation();
  if (bad !== undefined) throw refuse(bad);
}
