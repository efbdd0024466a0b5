/** `drover token create [--login L] [--role member|admin] [--project SLUG]... [--label TEXT]` */
import process from "node:process";
import { DroverClient } from "../client.js";
import { loadCliSettings } from "../settings.js";
import { parseCommand, subcommand } from "../args.js";

const USAGE =
  "usage: drover token create [--login L] [--role member|admin] [--project vcs/org/repo]... [--label TEXT]\n" +
  "Without --login: a new token for yourself. With --login (admins): a token for that user,\n" +
  "created with --role (default member) and added to each --project.\n";

export async function run(argv: string[]): Promise<number> {
  const [, rest] = subcommand(argv, ["create"], { name: "drover token", usage: USAGE });
  const { values, fail } = parseCommand(rest, {
    name: "drover token create",
    usage: USAGE,
    options: {
      login: { type: "string" },
      role: { type: "string" },
      project: { type: "string", multiple: true },
      label: { type: "string" },
    },
  });
  if (values.role && values.role !== "member" && values.role !== "admin") {
    fail(`--role must be member or admin, not '${values.role}'`);
  }
  const s = loadCliSettings(process.env, process.cwd());
  const client = new DroverClient(s.url, s.token);
  const r = await client.createToken({
    ...(values.login ? { login: values.login } : {}),
    ...(values.role ? { role: values.role as "member" | "admin" } : {}),
    ...(values.project ? { projects: values.project } : {}),
    ...(values.label ? { label: values.label } : {}),
  });
  process.stdout.write(`token for ${r.user.login} (${r.user.role}), shown once:\n${r.token}\n`);
  return 0;
}
