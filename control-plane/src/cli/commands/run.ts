/** `drover run [dir]`: build a checkout's working-tree config now and follow it to the end. */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { basename, join, resolve } from "node:path";
import process from "node:process";
import { promisify } from "node:util";
import { parseArgs } from "node:util";
import { DroverApiError, DroverClient } from "../../api/client.js";
import { followPipeline } from "../../api/follow.js";
import { loadCliSettings } from "../../config/cli.js";

const exec = promisify(execFile);
const git = async (cwd: string, ...args: string[]) =>
  (await exec("git", args, { cwd })).stdout.trim();
const clean = (s: string) => s.replace(/[^A-Za-z0-9_.-]+/g, "-").replace(/^-+|-+$/g, "") || "x";

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      project: { type: "string" },
      param: { type: "string", multiple: true },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(
      "usage: drover run [dir] [--project vcs/org/repo] [--param k=v]...\n\n" +
        "Triggers a pipeline of the checkout in dir (default .) with its working-tree\n" +
        ".circleci/config.yml; jobs check out the committed HEAD. Adds the project on first use\n" +
        "(default slug local/<user>/<dir name>, repository file://<dir>). Exits 0 when every\n" +
        "workflow succeeds.\n",
    );
    return 0;
  }
  const dir = resolve(positionals[0] ?? ".");
  let top: string;
  try {
    top = await git(dir, "rev-parse", "--show-toplevel");
  } catch {
    process.stderr.write(`drover run: ${dir} is not a git checkout\n`);
    return 2;
  }
  const revision = await git(top, "rev-parse", "HEAD");
  const ref = await git(top, "rev-parse", "--abbrev-ref", "HEAD");
  const branch = ref === "HEAD" ? undefined : ref;
  let config: string;
  try {
    config = await readFile(join(top, ".circleci", "config.yml"), "utf8");
  } catch {
    process.stderr.write(`drover run: ${join(top, ".circleci", "config.yml")} not found\n`);
    return 2;
  }
  const parameters: Record<string, string | number | boolean> = {};
  for (const p of values.param ?? []) {
    const eq = p.indexOf("=");
    if (eq < 1) {
      process.stderr.write(`drover run: --param ${p}: expected key=value\n`);
      return 2;
    }
    const v = p.slice(eq + 1);
    parameters[p.slice(0, eq)] =
      v === "true" ? true : v === "false" ? false : /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
  }
  const settings = loadCliSettings(process.env, top);
  const client = new DroverClient(settings.url, settings.token);
  const slug = values.project ?? `local/${clean(userInfo().username)}/${clean(basename(top))}`;
  try {
    await client.getProject(slug);
  } catch (err) {
    if (!(err instanceof DroverApiError) || err.status !== 404) throw err;
    await client.addProject({
      slug,
      repository_url: `file://${top}`,
      ...(branch ? { default_branch: branch } : {}),
    });
    process.stdout.write(`added project ${slug} (file://${top})\n`);
  }
  const p = await client.trigger(slug, {
    ...(branch ? { branch } : {}),
    revision,
    config,
    ...(Object.keys(parameters).length ? { parameters } : {}),
  });
  process.stdout.write(`pipeline ${slug} #${p.number} (${p.id}) at ${revision.slice(0, 12)}\n`);
  const workflows = await followPipeline(client, p.id, {
    slug,
    write: (l) => process.stdout.write(`${l}\n`),
  });
  return workflows.length > 0 && workflows.every((w) => w.status === "success") ? 0 : 1;
}
