/**
 * `drover token create [--login L] [--role member|admin] [--project SLUG]... [--label TEXT] [--expires-in-days N]`,
 * `drover token list [--login L]`, `drover token revoke ID`
 */
import process from "node:process";
import { DroverClient } from "../client.js";
import { loadCliSettings } from "../settings.js";
import { integerOption, parseCommand, subcommand } from "../args.js";

const USAGE =
  "usage: drover token create [--login L] [--role member|admin] [--project vcs/org/repo]... [--label TEXT] [--expires-in-days N]\n" +
  "       drover token list [--login L]\n" +
  "       drover token revoke TOKEN_ID\n" +
  "create without --login: a new token for yourself. With --login (admins): a token for that user,\n" +
  "created with --role (default member) and added to each --project.\n" +
  "list: your tokens (admins: --login for another user's). revoke: one of yours (admins: anyone's).\n";

export async function run(argv: string[]): Promise<number> {
  const [sub, rest] = subcommand(argv, ["create", "list", "revoke"], {
    name: "drover token",
    usage: USAGE,
  });
  if (sub === "list") {
    const { values } = parseCommand(rest, {
      name: "drover token list",
      usage: USAGE,
      options: { login: { type: "string" } },
    });
    const s = loadCliSettings(process.env, process.cwd());
    const { items } = await new DroverClient(s.url, s.token, s).listTokens(values.login);
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
    const { positionals } = parseCommand(rest, {
      name: "drover token revoke",
      usage: USAGE,
      options: {},
      positionals: ["<token-id>"],
    });
    const id = positionals[0] ?? "";
    const s = loadCliSettings(process.env, process.cwd());
    await new DroverClient(s.url, s.token, s).revokeToken(id);
    process.stdout.write(`token ${id} revoked\n`);
    return 0;
  }
  const { values, fail } = parseCommand(rest, {
    name: "drover token create",
    usage: USAGE,
    options: {
      login: { type: "string" },
      role: { type: "string" },
      project: { type: "string", multiple: true },
      label: { type: "string" },
      "expires-in-days": { type: "string" },
    },
  });
  if (values.role && values.role !== "member" && values.role !== "admin") {
    fail(`--role must be member or admin, not '${values.role}'`);
  }
  const days = integerOption(values["expires-in-days"], "expires-in-days", fail);
  if (days === 0) fail("--expires-in-days must be at least 1");
  const s = loadCliSettings(process.env, process.cwd());
  const client = new DroverClient(s.url, s.token, s);
  const r = await client.createToken({
    ...(values.login ? { login: values.login } : {}),
    ...(values.role ? { role: values.role as "member" | "admin" } : {}),
    ...(values.project ? { projects: values.project } : {}),
    ...(values.label ? { label: values.label } : {}),
    ...(days ? { expires_in_days: days } : {}),
  });
  const until = r.expires_at ? `, expires ${r.expires_at}` : "";
  process.stdout.write(
    `token ${r.id} for ${r.user.login} (${r.user.role}${until}), shown once:\n${r.token}\n`,
  );
  return 0;
}
