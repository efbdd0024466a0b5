/**
 * `drover token create [--login L] [--role member|admin] [--project SLUG]... [--label TEXT] [--expires-in-days N]`,
 * `drover token list [--login L]`, `drover token revoke ID`
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { DroverClient } from "../client.js";
import { loadCliSettings } from "../settings.js";

const USAGE =
  "usage: drover token create [--login L] [--role member|admin] [--project vcs/org/repo]... [--label TEXT] [--expires-in-days N]\n" +
  "       drover token list [--login L]\n" +
  "       drover token revoke TOKEN_ID\n" +
  "create without --login: a new token for yourself. With --login (admins): a token for that user,\n" +
  "created with --role (default member) and added to each --project.\n" +
  "list: your tokens (admins: --login for another user's). revoke: one of yours (admins: anyone's).\n";

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      login: { type: "string" },
      role: { type: "string" },
      project: { type: "string", multiple: true },
      label: { type: "string" },
      "expires-in-days": { type: "string" },
    },
  });
  const [sub = "", ...rest] = positionals;
  // Positional arguments each subcommand takes.
  const arity: Record<string, number> = { create: 0, list: 0, revoke: 1 };
  if (arity[sub] !== rest.length) {
    process.stderr.write(USAGE);
    return 2;
  }
  if (values.role && values.role !== "member" && values.role !== "admin") {
    process.stderr.write(
      `drover token create: --role must be member or admin, not '${values.role}'\n`,
    );
    return 2;
  }
  const days = values["expires-in-days"];
  if (days !== undefined && !/^[1-9]\d*$/.test(days)) {
    process.stderr.write(
      `drover token create: --expires-in-days must be a positive whole number, not '${days}'\n`,
    );
    return 2;
  }
  const s = loadCliSettings(process.env, process.cwd());
  const client = new DroverClient(s.url, s.token);
  if (sub === "list") {
    const { items } = await client.listTokens(values.login);
    const now = Date.now();
    for (const t of items) {
      const expires = t.expires_at
        ? `${Date.parse(t.expires_at) <= now ? "expired" : "expires"} ${t.expires_at}`
        : "never expires";
      process.stdout.write(
        `${t.id}\t${t.label || "-"}\tcreated ${t.created_at}\tlast used ${t.last_used_at ?? "never"}\t${expires}\n`,
      );
    }
    return 0;
  }
  if (sub === "revoke") {
    await client.revokeToken(rest[0]!);
    process.stdout.write(`token ${rest[0]} revoked\n`);
    return 0;
  }
  const r = await client.createToken({
    ...(values.login ? { login: values.login } : {}),
    ...(values.role ? { role: values.role as "member" | "admin" } : {}),
    ...(values.project ? { projects: values.project } : {}),
    ...(values.label ? { label: values.label } : {}),
    ...(days ? { expires_in_days: Number(days) } : {}),
  });
  const until = r.expires_at ? `, expires ${r.expires_at}` : "";
  process.stdout.write(
    `token ${r.id} for ${r.user.login} (${r.user.role}${until}), shown once:\n${r.token}\n`,
  );
  return 0;
}
