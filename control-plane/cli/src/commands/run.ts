/** `drover run [dir]`: build a checkout's working-tree config now and follow it to the end. */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, realpathSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { homedir, userInfo } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import process from "node:process";
import { promisify } from "node:util";
import { DroverApiError, DroverClient } from "../client.js";
import { followPipeline, resultLines } from "../follow.js";
import { findCliFile, loadCliSettings, type CliSettings } from "../settings.js";
import { LiveOutput, discoverOutputUrl } from "../live-output.js";
import { keyValues, parseCommand } from "../args.js";

const exec = promisify(execFile);
const GIT_IDENTITY = {
  GIT_AUTHOR_NAME: "drover",
  GIT_AUTHOR_EMAIL: "drover@localhost",
  GIT_COMMITTER_NAME: "drover",
  GIT_COMMITTER_EMAIL: "drover@localhost",
};
const git = async (cwd: string, ...args: string[]) =>
  (await exec("git", args, { cwd, env: { ...process.env, ...GIT_IDENTITY } })).stdout.trim();
const clean = (s: string) => s.replace(/[^A-Za-z0-9_.-]+/g, "-").replace(/^-+|-+$/g, "") || "x";

/** What a pipeline is built from: a repository URL, a revision on a branch, and the config. */
interface Source {
  top: string;
  repositoryUrl: string;
  revision: string;
  branch: string | undefined;
  /** Set when the working tree was committed into a snapshot repository. */
  snapshot?: string;
}

/**
 * Commits the working tree of `dir` into a cache repository (`<cacheRoot>/<hash of dir>.git`),
 * without writing anything into `dir`: for directories that are not the top of a git checkout
 * (`examples/demo` inside this repository, or no repository at all). Reuses the last commit
 * when nothing changed.
 */
async function snapshotTree(dir: string, cacheRoot: string): Promise<Source> {
  const id = createHash("sha256").update(dir).digest("hex").slice(0, 16);
  const repo = join(cacheRoot, `${clean(basename(dir))}-${id}.git`);
  if (!existsSync(join(repo, "HEAD"))) {
    await mkdir(repo, { recursive: true });
    await git(repo, "init", "--bare", "-q", "-b", "main");
  }
  await mkdir(join(repo, "info"), { recursive: true });
  await writeFile(join(repo, "info", "exclude"), ".git\n.drover/\nnode_modules/\n");
  const tree = (...args: string[]) => git(dir, `--git-dir=${repo}`, `--work-tree=${dir}`, ...args);
  await tree("add", "-A");
  let head: string | undefined;
  try {
    head = await tree("rev-parse", "--verify", "-q", "HEAD");
  } catch {
    head = undefined;
  }
  let unchanged = false;
  if (head) {
    try {
      await tree("diff", "--cached", "--quiet", "HEAD");
      unchanged = true;
    } catch {
      unchanged = false;
    }
  }
  if (!unchanged) {
    await tree("commit", "-q", "--allow-empty", "-m", `drover run: working tree of ${dir}`);
  }
  const revision = await tree("rev-parse", "HEAD");
  return { top: dir, repositoryUrl: `file://${repo}`, revision, branch: "main", snapshot: repo };
}

async function sourceOf(dir: string, cacheRoot: string): Promise<Source> {
  let top: string | undefined;
  try {
    top = await git(dir, "rev-parse", "--show-toplevel");
  } catch {
    top = undefined;
  }
  if (top && resolve(top) === dir) {
    const revision = await git(top, "rev-parse", "HEAD");
    const ref = await git(top, "rev-parse", "--abbrev-ref", "HEAD");
    return {
      top,
      repositoryUrl: `file://${top}`,
      revision,
      branch: ref === "HEAD" ? undefined : ref,
    };
  }
  return snapshotTree(dir, cacheRoot);
}

/** Where snapshots of non-checkouts are kept: next to the server's `cli.json`, else the user cache. */
function defaultCacheRoot(dir: string): string {
  if (process.env.DROVER_CACHE_DIR) return resolve(process.env.DROVER_CACHE_DIR, "snapshots");
  const cli = findCliFile(dir) ?? findCliFile(process.cwd());
  if (cli) return join(dirname(cli), "snapshots");
  return join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "drover", "snapshots");
}

export interface RunPipelineOptions {
  dir: string;
  settings: CliSettings;
  project?: string;
  parameters?: Record<string, string | number | boolean>;
  /** Snapshot repositories of directories that are not a checkout's top. */
  cacheRoot?: string;
  write?: (line: string) => void;
  /** Stream step output (default true). */
  live?: boolean;
  /** How long to keep reconnecting to a server that went away (default 10 minutes). */
  reconnectForMs?: number;
}

/** Triggers the pipeline of `dir` and follows it, streaming output; resolves to the exit code. */
export async function runPipeline(opts: RunPipelineOptions): Promise<number> {
  const write = opts.write ?? ((l: string) => void process.stdout.write(`${l}\n`));
  const dir = existsSync(opts.dir) ? realpathSync(resolve(opts.dir)) : resolve(opts.dir);
  const configFile = join(dir, ".circleci", "config.yml");
  let source: Source;
  if (!existsSync(configFile)) {
    // A checkout's subdirectory without its own config: the checkout's config is meant.
    let top: string | undefined;
    try {
      top = await git(dir, "rev-parse", "--show-toplevel");
    } catch {
      top = undefined;
    }
    if (!top) {
      process.stderr.write(`drover run: ${dir} is not a git checkout and has no ${configFile}\n`);
      return 2;
    }
    return runPipeline({ ...opts, dir: top });
  }
  try {
    source = await sourceOf(dir, opts.cacheRoot ?? defaultCacheRoot(dir));
  } catch (err) {
    process.stderr.write(
      `drover run: cannot read the revision of ${dir}: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    return 2;
  }
  const config = await readFile(configFile, "utf8");
  const { settings } = opts;
  const client = new DroverClient(settings.url, settings.token, settings);
  const slug = opts.project ?? `local/${clean(userInfo().username)}/${clean(basename(dir))}`;
  try {
    await client.getProject(slug);
  } catch (err) {
    if (!(err instanceof DroverApiError) || err.status !== 404) throw err;
    await client.addProject({
      slug,
      repository_url: source.repositoryUrl,
      ...(source.branch ? { default_branch: source.branch } : {}),
    });
    write(`added project ${slug} (${source.repositoryUrl})`);
  }
  if (source.snapshot) write(`working tree of ${dir} committed to ${source.snapshot}`);
  const parameters = opts.parameters ?? {};
  const p = await client.trigger(slug, {
    ...(source.branch ? { branch: source.branch } : {}),
    revision: source.revision,
    config,
    ...(Object.keys(parameters).length ? { parameters } : {}),
  });
  write(`pipeline ${slug} #${p.number} (${p.id}) at ${source.revision.slice(0, 12)}`);
  const outputUrl =
    opts.live === false
      ? undefined
      : (settings.outputUrl ?? (await discoverOutputUrl(settings.url, client.fetchOptions)));
  const live = outputUrl
    ? new LiveOutput({ client, token: settings.token, outputUrl, slug, write })
    : undefined;
  live?.start(p.id);
  let workflows;
  try {
    // With live output, its step headers replace the per-step status lines of the follower.
    const stepStatus = /^ {2}[^ ].*: [✓✗!\-·…] /;
    workflows = await followPipeline(client, p.id, {
      slug,
      write: live ? (l) => void (stepStatus.test(l) ? undefined : write(l)) : write,
      printResult: false,
      ...(opts.reconnectForMs !== undefined ? { reconnectForMs: opts.reconnectForMs } : {}),
    });
  } finally {
    await live?.stop(p.id);
  }
  // Last: after every job's output has been drained.
  for (const l of resultLines(workflows)) write(l);
  return workflows.length > 0 && workflows.every((w) => w.status === "success") ? 0 : 1;
}

const USAGE =
  "usage: drover run [dir] [--project vcs/org/repo] [--param k=v]... [--no-output]\n\n" +
  "Triggers a pipeline of dir (default .) with its working-tree .circleci/config.yml and\n" +
  "streams every job's output. At the top of a git checkout, jobs check out the committed\n" +
  "HEAD; any other directory (or a checkout's subdirectory with its own config) has its\n" +
  "working tree committed to a snapshot repository in the cache (nothing is written into\n" +
  "dir). Adds the project on first use (default slug local/<user>/<dir name>). Exits 0 when\n" +
  "every workflow succeeds. Follows the pipeline through server restarts.\n";

export async function run(argv: string[]): Promise<number> {
  const { values, positionals, fail } = parseCommand(argv, {
    name: "drover run",
    usage: USAGE,
    options: {
      project: { type: "string" },
      param: { type: "string", multiple: true },
      "no-output": { type: "boolean" },
    },
    positionals: ["[dir]"],
  });
  const dir = resolve(positionals[0] ?? ".");
  const parameters: Record<string, string | number | boolean> = {};
  for (const [k, v] of keyValues(values.param, "param", fail)) {
    parameters[k] =
      v === "true" ? true : v === "false" ? false : /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
  }
  // The server of the directory's tree (its `.drover/cli.json`), else of the current directory's.
  const settings = loadCliSettings(process.env, findCliFile(dir) ? dir : process.cwd());
  return runPipeline({
    dir,
    settings,
    parameters,
    ...(values.project ? { project: values.project } : {}),
    ...(values["no-output"] ? { live: false } : {}),
  });
}
