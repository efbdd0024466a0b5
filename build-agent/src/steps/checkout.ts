import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { AgentError, ErrorCodes } from "../errors.js";
import { jobPath, mkdirp, type StepContext, type StepOutcome } from "./context.js";

function git(args: string[], cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("git", args, {
      cwd,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        GIT_TERMINAL_PROMPT: "0",
        GIT_CONFIG_COUNT: "1",
        GIT_CONFIG_KEY_0: "safe.directory",
        GIT_CONFIG_VALUE_0: "*",
      },
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`git ${args[0]} exited ${code}: ${out.trim()}`)),
    );
  });
}

/**
 * Clones the pipeline's repository at its revision on the agent's host (git CLI), then copies the
 * tree, `.git` included, into the job's working directory owned by the primary's user.
 */
export async function checkout(ctx: StepContext, step: { path?: string }): Promise<StepOutcome> {
  const { task } = ctx;
  const target = jobPath(ctx, step.path ?? ctx.info.workingDirectory);
  const tmp = await mkdtemp(path.join(os.tmpdir(), "drover-checkout-"));
  try {
    const repo = path.join(tmp, "repo");
    ctx.log(`Cloning git repository ${task.project.gitUrl}\n`);
    try {
      await git(["clone", "--quiet", "--no-checkout", task.project.gitUrl, repo]);
      const branch = task.pipeline.branch;
      await git(
        branch
          ? ["checkout", "--quiet", "-B", branch, task.pipeline.revision]
          : ["checkout", "--quiet", "--detach", task.pipeline.revision],
        repo,
      );
      if (branch)
        await git(["branch", "--quiet", "--set-upstream-to", `origin/${branch}`], repo).catch(
          () => "",
        );
    } catch (err) {
      throw new AgentError(ErrorCodes.checkout, `checkout failed: ${(err as Error).message}`, {
        infrastructure: false,
        cause: err,
      });
    }
    ctx.log(
      `Checked out ${task.pipeline.revision}${task.pipeline.branch ? ` (${task.pipeline.branch})` : ""}\n`,
    );
    await mkdirp(ctx, target);
    const tar = spawn(
      "tar",
      [
        "-C",
        repo,
        "-c",
        "--numeric-owner",
        `--owner=${ctx.info.uid}`,
        `--group=${ctx.info.gid}`,
        ".",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let err = "";
    tar.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => tar.on("close", resolve));
    const put = ctx.executor.putArchive(target, tar.stdout);
    const code = await exited;
    // A tar that failed explains a failed extraction better than the extraction does.
    if (code !== 0) {
      await put.catch(() => undefined);
      throw new Error(`tar failed: ${err.trim()}`);
    }
    await put;
    ctx.log(`Copied the repository into ${target}\n`);
    return { status: "success", exitCode: 0 };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
