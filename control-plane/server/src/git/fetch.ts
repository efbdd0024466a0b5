import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { ControlPlaneError } from "../model/errors.js";

const exec = promisify(execFile);

export interface FetchRequest {
  url: string;
  branch?: string;
  tag?: string;
  /** A commit to use instead of the branch or tag head (webhooks know it). */
  revision?: string;
  /** Path of the config inside the repository. */
  path?: string;
}

export interface FetchedConfig {
  revision: string;
  branch?: string;
  tag?: string;
  /** The file's text, or null when the revision has no such file. */
  source: string | null;
  commit: { subject: string; body: string };
}

/**
 * Reads `.circleci/config.yml` of a repository revision with the git CLI. Each repository gets a
 * bare mirror under `cacheDir` (named by a hash of its URL); a fetch brings in just the asked
 * ref. Fetches of one repository are serialized in this process.
 */
export class GitConfigFetcher {
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly cacheDir: string,
    private readonly timeoutMs = 120_000,
  ) {}

  async fetch(req: FetchRequest): Promise<FetchedConfig> {
    const key = createHash("sha256").update(req.url).digest("hex").slice(0, 32);
    const prev = this.locks.get(key) ?? Promise.resolve();
    const run = prev
      .catch(() => undefined)
      .then(() => this.fetchLocked(join(this.cacheDir, key), req));
    this.locks.set(key, run);
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === run) this.locks.delete(key);
    }
  }

  /** The remote's default branch (`HEAD` symref), or null if it cannot tell. */
  async defaultBranch(url: string): Promise<string | null> {
    try {
      const out = await this.git(undefined, ["ls-remote", "--symref", "--", url, "HEAD"]);
      const m = /^ref: refs\/heads\/(\S+)\s+HEAD/m.exec(out);
      return m?.[1] ?? null;
    } catch {
      return null;
    }
  }

  private async fetchLocked(dir: string, req: FetchRequest): Promise<FetchedConfig> {
    if (!(await exists(join(dir, "HEAD")))) {
      await mkdir(dir, { recursive: true });
      await this.git(dir, ["init", "--bare", "--quiet"]);
    }
    const ref = req.tag ? `refs/tags/${req.tag}` : `refs/heads/${req.branch ?? "main"}`;
    const local = req.tag ? `refs/tags/${req.tag}` : `refs/remotes/origin/${req.branch ?? "main"}`;
    try {
      await this.git(dir, [
        "fetch",
        "--quiet",
        "--force",
        "--no-tags",
        "--",
        req.url,
        `+${ref}:${local}`,
      ]);
    } catch (err) {
      throw new ControlPlaneError(
        "DROVER_ERR_GIT_FETCH",
        `cannot fetch ${ref} from ${req.url}: ${gitMessage(err)}`,
        { cause: err },
      );
    }
    let revision: string;
    try {
      revision = (
        await this.git(dir, ["rev-parse", "--verify", `${req.revision ?? local}^{commit}`])
      ).trim();
    } catch (err) {
      throw new ControlPlaneError(
        "DROVER_ERR_GIT_FETCH",
        `revision ${req.revision ?? ref} not found in ${req.url}`,
        { cause: err },
      );
    }
    const log = await this.git(dir, ["log", "-1", "--format=%s%x00%b", revision]);
    const [subject = "", body = ""] = log.split("\0");
    let source: string | null;
    try {
      source = await this.git(dir, ["show", `${revision}:${req.path ?? ".circleci/config.yml"}`]);
    } catch {
      source = null;
    }
    return {
      revision,
      ...(req.branch && !req.tag ? { branch: req.branch } : {}),
      ...(req.tag ? { tag: req.tag } : {}),
      source,
      commit: { subject: subject.trim(), body: body.trim() },
    };
  }

  private async git(cwd: string | undefined, args: string[]): Promise<string> {
    const { stdout } = await exec("git", args, {
      ...(cwd ? { cwd } : {}),
      timeout: this.timeoutMs,
      maxBuffer: 16 * 1024 * 1024,
      env: { ...process.env, GIT_TERMINAL_PROMPT: "0", GIT_ASKPASS: "true" },
    });
    return stdout;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function gitMessage(err: unknown): string {
  const stderr = (err as { stderr?: unknown }).stderr;
  return typeof stderr === "string" && stderr.trim()
    ? (stderr.trim().split("\n").pop() ?? "")
    : String(err);
}
