/** `drover network-rules`: the ports table of this configuration, as a table or as firewall rules. */
import process from "node:process";
import type * as ServerModule from "@drover/control-plane";
import { parseCommand } from "../args.js";

const FORMATS = ["table", "aws-sg", "gcp-firewall", "nftables", "nomad-hcl"] as const;

const USAGE =
  "usage: drover network-rules [--format table|aws-sg|gcp-firewall|nftables|nomad-hcl]\n" +
  "                            [--role ROLE] [--cidr ROLE=CIDR ...] [--network NAME]\n\n" +
  "Prints who may reach which port, from this environment's configuration (DROVER_PORT,\n" +
  "DROVER_OUTPUT_PORT, NOMAD_ADDR, VAULT_ADDR, REDIS_URL, DATABASE_URL ...). nftables: the input\n" +
  "rules of a ROLE host (default control-plane), other roles as address sets filled from --cidr;\n" +
  "apply with `nft -f`. gcp-firewall: rules on network NAME (default `default`) by tags.\n";

export async function run(argv: string[]): Promise<number> {
  const { values, fail } = parseCommand(argv, {
    name: "drover network-rules",
    usage: USAGE,
    options: {
      format: { type: "string", default: "table" },
      role: { type: "string" },
      cidr: { type: "string", multiple: true },
      network: { type: "string" },
    },
  });
  const format = values.format as (typeof FORMATS)[number];
  if (!FORMATS.includes(format)) fail(`--format must be one of ${FORMATS.join(", ")}`);
  const server: typeof ServerModule = await import("@drover/control-plane");
  const roles: readonly string[] = server.ROLES;
  const role = values.role ?? "control-plane";
  if (!roles.includes(role)) fail(`--role must be one of ${roles.join(", ")}`);
  const cidrs: Record<string, string[]> = {};
  for (const c of values.cidr ?? []) {
    const m = /^([a-z-]+)=(\d{1,3}(?:\.\d{1,3}){3}(?:\/\d{1,2})?)$/.exec(c);
    if (!m || !roles.includes(m[1]!))
      fail(`--cidr ${c}: expected ROLE=IPv4[/bits], ROLE one of ${roles.join(", ")}`);
    (cidrs[m![1]!] ??= []).push(m![2]!);
  }
  let config;
  try {
    config = server.loadConfig(process.env);
  } catch (err) {
    if (err instanceof server.ConfigError) {
      process.stderr.write(`drover network-rules: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const rules = server.networkRules(config);
  process.stdout.write(
    server.formatRules(rules, format, {
      role: role as ServerModule.NetworkRole,
      cidrs,
      ...(values.network ? { network: values.network } : {}),
    }),
  );
  return 0;
}
