/** `drover token create [--login L] [--role member|admin] [--project SLUG]... [--label TEXT]` */
import process from "node:process";
import { parseArgs } from "node:util";
import { DroverClient } from "../client.js";
import { loadCliSettings } from "../settings.js";

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      login: { type: "string" },
      role: { type: "string" },
      project: { type: "string", multiple: true },
      label: { type: "string" },
    },
  });
  if (positionals[0] !== "create") {
    process.stderr.write(
      "usage: drover token create [--login L] [--role member|admin] [--project vcs/org/repo]... [--label TEXT]\n" +
        "Without --login: a new token for yourself. With --login (admins): a token for that user,\n" +
        "created with --role (default member) and added to each --project.\n",
    );
    return 2;
  }
  if (values.role && values.role !== "member" && values.role !== "admin") {
    process.stderr.write(
      `drover token create: --role must be member or admin, not '${values.role}'\n`,
    );
    return 2;
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
