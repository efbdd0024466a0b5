/** `drover project add <slug> <repository-url> [--default-branch B]` */
import process from "node:process";
import { DroverClient } from "../client.js";
import { loadCliSettings } from "../settings.js";
import { parseCommand, subcommand } from "../args.js";

const USAGE = "usage: drover project add <vcs/org/repo> <repository-url> [--default-branch B]\n";

export async function run(argv: string[]): Promise<number> {
  const [, rest] = subcommand(argv, ["add"], { name: "drover project", usage: USAGE });
  const { values, positionals } = parseCommand(rest, {
    name: "drover project add",
    usage: USAGE,
    options: { "default-branch": { type: "string" } },
    positionals: ["<vcs/org/repo>", "<repository-url>"],
  });
  const [slug, url] = positionals as [string, string];
  const s = loadCliSettings(process.env, process.cwd());
  const client = new DroverClient(s.url, s.token, s);
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
