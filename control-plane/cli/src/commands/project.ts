/** `drover project add <slug> <repository-url> [--default-branch B]` */
import process from "node:process";
import { parseArgs } from "node:util";
import { DroverClient } from "../client.js";
import { loadCliSettings } from "../settings.js";

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { "default-branch": { type: "string" } },
  });
  const [sub, slug, url] = positionals;
  if (sub !== "add" || !slug || !url) {
    process.stderr.write(
      "usage: drover project add <vcs/org/repo> <repository-url> [--default-branch B]\n",
    );
    return 2;
  }
  const s = loadCliSettings(process.env, process.cwd());
  const client = new DroverClient(s.url, s.token);
  const p = await client.addProject({
    slug,
    repository_url: url,
    ...(values["default-branch"] ? { default_branch: values["default-branch"] } : {}),
  });
  process.stdout.write(
    `project ${p.slug} added\nwebhook secret (GitHub X-Hub-Signature-256 / X-Gitlab-Token): ${p.webhook_secret}\n` +
      `webhook URLs: ${s.url}/hooks/github  ${s.url}/hooks/gitlab\n`,
  );
  return 0;
}
