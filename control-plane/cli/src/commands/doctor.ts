/** `drover doctor`: checks a running deployment (services, TLS, dependencies, forbidden paths). */
import { readFileSync } from "node:fs";
import process from "node:process";
import type * as ServerModule from "@drover/control-plane";
import { parseCommand } from "../args.js";
import { checkDeployment, checkPaths, formatFindings } from "../doctor/doctor.js";
import type { Finding } from "../doctor/probes.js";
import { httpProbe } from "../doctor/probes.js";
import { storedCliSettings } from "../settings.js";

const USAGE =
  "usage: drover doctor [--url URL] [--output-url URL] [--vm-url URL] [--ca FILE]\n" +
  "                     [--as ROLE --peer ROLE=HOST ...] [--json]\n\n" +
  "Checks a running deployment: the control plane (--url, DROVER_URL or .drover/cli.json), its\n" +
  "output-processor and vm-service answer /healthz and /readyz, with their version and TLS state;\n" +
  "the dependencies this environment names are reachable (DATABASE_URL, REDIS_URL, VAULT_ADDR,\n" +
  "NOMAD_ADDR, DROVER_BLOB_S3_ENDPOINT). With --as ROLE, every port the ports table opens on\n" +
  "each --peer is tried from here: allowed ones should be open, the rest must be closed.\n" +
  "Exit code 1 when a check fails.\n";

export async function run(argv: string[]): Promise<number> {
  const { values, fail } = parseCommand(argv, {
    name: "drover doctor",
    usage: USAGE,
    options: {
      url: { type: "string" },
      "output-url": { type: "string" },
      "vm-url": { type: "string" },
      ca: { type: "string" },
      as: { type: "string" },
      peer: { type: "string", multiple: true },
      json: { type: "boolean" },
    },
  });
  const server: typeof ServerModule = await import("@drover/control-plane");
  const roles: readonly string[] = server.ROLES;
  const peers: Array<{ role: ServerModule.NetworkRole; host: string }> = [];
  for (const p of values.peer ?? []) {
    const m = /^([a-z-]+)=([^\s=]+)$/.exec(p);
    if (!m || !roles.includes(m[1]!))
      fail(`--peer ${p}: expected ROLE=HOST, ROLE one of ${roles.join(", ")}`);
    peers.push({ role: m![1] as ServerModule.NetworkRole, host: m![2]! });
  }
  if (values.as && !roles.includes(values.as)) fail(`--as must be one of ${roles.join(", ")}`);
  if (peers.length > 0 && !values.as) fail("--peer needs --as ROLE (this host's role)");
  let config: ServerModule.DroverConfig;
  try {
    config = server.loadConfig(process.env);
  } catch (err) {
    if (err instanceof server.ConfigError) {
      process.stderr.write(`drover doctor: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const env = process.env;
  const stored = storedCliSettings(process.cwd());
  const cp = values.url ?? env.DROVER_URL ?? stored.url;
  let output = values["output-url"] ?? env.DROVER_OUTPUT_URL ?? stored.outputUrl;
  if (!output && cp) {
    const h = await httpProbe(cp, "/healthz");
    const fromCp = (h.body as { output_url?: string } | null)?.output_url;
    if (fromCp) output = fromCp;
  }
  const vm = values["vm-url"] ?? (config.vm.mode === "remote" ? config.vm.url : stored.vmUrl);
  const ca = values.ca ? readFileSync(values.ca, "utf8") : undefined;
  const s3 = [env.DROVER_BLOB_S3_ENDPOINT, env.DROVER_OUTPUT_S3_ENDPOINT].filter((e): e is string =>
    Boolean(e),
  );
  const findings: Finding[] = await checkDeployment({
    ...(cp ? { controlPlane: cp } : {}),
    ...(output ? { output } : {}),
    ...(vm ? { vmService: vm } : {}),
    ...(config.server.databaseUrl ? { databaseUrl: config.server.databaseUrl } : {}),
    ...(config.server.redisUrl ? { redisUrl: config.server.redisUrl } : {}),
    ...(env.VAULT_ADDR ? { vault: { addr: env.VAULT_ADDR } } : {}),
    ...(config.nomad
      ? {
          nomad: {
            addr: config.nomad.client.address,
            ...(env.NOMAD_TOKEN ? { token: env.NOMAD_TOKEN } : {}),
          },
        }
      : {}),
    ...(s3.length > 0 ? { objectStorage: [...new Set(s3)] } : {}),
    ...(ca ? { ca } : {}),
  });
  if (!cp) {
    findings.unshift({
      check: "control-plane",
      verdict: "fail",
      detail: "no server to check: pass --url, set DROVER_URL, or run where `drover up` ran",
    });
  }
  if (values.as) {
    findings.push(
      ...(await checkPaths(
        server.networkRules(config),
        values.as as ServerModule.NetworkRole,
        peers,
      )),
    );
  }
  process.stdout.write(
    values.json ? `${JSON.stringify(findings, null, 2)}\n` : `${formatFindings(findings)}\n`,
  );
  return findings.some((f) => f.verdict === "fail") ? 1 : 0;
}
