/** `drover tls ca create`, `drover tls cert create`: a CA and certificates, as `nomad tls` makes them. */
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import process from "node:process";
import {
  CA_FILES,
  certFileNames,
  createCa,
  createCertificate,
  TlsError,
  writeNewFiles,
} from "@drover/tls";
import { integerOption, parseCommand, subcommand } from "../args.js";

const USAGE =
  "usage: drover tls ca create [--days N] [--common-name NAME]\n" +
  "       drover tls cert create --server|--client [--dns NAME ...] [--ip ADDR ...] [--days N]\n" +
  "                              [--ca FILE] [--key FILE]\n\n" +
  `ca create writes ${CA_FILES.cert} and ${CA_FILES.key} (0600) here (5 years).\n` +
  "cert create signs with them (or --ca/--key) and writes drover-server.pem and\n" +
  "drover-server-key.pem (--server: valid for localhost, 127.0.0.1, ::1 and every --dns/--ip)\n" +
  "or drover-client.pem and drover-client-key.pem (--client), for 1 year. Existing files are\n" +
  "never overwritten. Serve with DROVER_TLS_CERT/DROVER_TLS_KEY; clients verify with DROVER_TLS_CA.\n";

export async function run(argv: string[]): Promise<number> {
  const [what, rest] = subcommand(argv, ["ca", "cert"], { name: "drover tls", usage: USAGE });
  const [, args] = subcommand(rest, ["create"], { name: `drover tls ${what}`, usage: USAGE });
  const dir = process.cwd();
  if (what === "ca") {
    const { values, fail } = parseCommand(args, {
      name: "drover tls ca create",
      usage: USAGE,
      options: { days: { type: "string" }, "common-name": { type: "string" } },
    });
    const days = integerOption(values.days, "days", fail, 100 * 365);
    if (days === 0) fail("--days must be at least 1");
    const ca = await createCa({
      ...(days ? { days } : {}),
      ...(values["common-name"] ? { commonName: values["common-name"] } : {}),
    });
    const paths = await writeNewFiles(dir, { [CA_FILES.cert]: ca.cert, [CA_FILES.key]: ca.key });
    for (const p of paths)
      process.stdout.write(
        `==> CA ${p.endsWith("-key.pem") ? "key" : "certificate"} saved to: ${p}\n`,
      );
    return 0;
  }
  const { values, fail } = parseCommand(args, {
    name: "drover tls cert create",
    usage: USAGE,
    options: {
      server: { type: "boolean" },
      client: { type: "boolean" },
      dns: { type: "string", multiple: true },
      ip: { type: "string", multiple: true },
      days: { type: "string" },
      ca: { type: "string", default: CA_FILES.cert },
      key: { type: "string", default: CA_FILES.key },
    },
  });
  if (Boolean(values.server) === Boolean(values.client)) fail("give one of --server or --client");
  const kind = values.server ? "server" : "client";
  if (kind === "client" && (values.dns || values.ip)) fail("--dns and --ip name servers only");
  for (const ip of values.ip ?? []) if (!isIP(ip)) fail(`--ip ${ip}: not an IP address`);
  const days = integerOption(values.days, "days", fail, 100 * 365);
  if (days === 0) fail("--days must be at least 1");
  const read = (file: string, option: string): Promise<string> =>
    readFile(file, "utf8").catch((err: unknown) => {
      throw new TlsError(
        "DROVER_ERR_TLS_CONFIG",
        `--${option} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)}); make a CA with \`drover tls ca create\``,
        { cause: err },
      );
    });
  const ca = { cert: await read(values.ca, "ca"), key: await read(values.key, "key") };
  const pair = await createCertificate(ca, {
    kind,
    ...(values.dns ? { dns: values.dns } : {}),
    ...(values.ip ? { ips: values.ip } : {}),
    ...(days ? { days } : {}),
  });
  const names = certFileNames(kind);
  const paths = await writeNewFiles(dir, { [names.cert]: pair.cert, [names.key]: pair.key });
  for (const p of paths)
    process.stdout.write(
      `==> ${kind} ${p.endsWith("-key.pem") ? "key" : "certificate"} saved to: ${p}\n`,
    );
  return 0;
}
