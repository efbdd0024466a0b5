/** `drover vm list`, `drover vm destroy <id>`: vm-service's machines, for operators. */
import process from "node:process";
import { readPem } from "@drover/tls";
import { VmServiceClient } from "@drover/vm-service/client";
import { parseCommand, subcommand } from "../args.js";
import { storedCliSettings } from "../settings.js";

const USAGE =
  "usage: drover vm list [--json]\n" +
  "       drover vm destroy <machine-id>\n" +
  "Talks to vm-service at DROVER_VM_URL with DROVER_VM_SERVICE_TOKEN, else to the one\n" +
  "`drover up` runs here (saved in .drover/cli.json). destroy releases the machine's lease\n" +
  "and destroys it.\n";

/** vm-service from DROVER_VM_URL/DROVER_VM_SERVICE_TOKEN, else the one `drover up` saved. */
function client(): VmServiceClient {
  const stored = process.env.DROVER_VM_SERVICE_TOKEN ? {} : storedCliSettings(process.cwd());
  const token = process.env.DROVER_VM_SERVICE_TOKEN || stored.vmToken;
  if (!token) {
    throw Object.assign(
      new Error(
        "DROVER_VM_SERVICE_TOKEN is not set (and no `drover up` here saved one): vm-service needs its service token",
      ),
      { code: "DROVER_ERR_VM_UNAUTHENTICATED" },
    );
  }
  const caFile = process.env.DROVER_TLS_CA || storedCliSettings(process.cwd()).tlsCa;
  return new VmServiceClient({
    url: process.env.DROVER_VM_URL || stored.vmUrl || "http://127.0.0.1:3000",
    serviceToken: token,
    timeoutMs: 60_000,
    ...(caFile ? { tls: { ca: readPem(caFile, "DROVER_TLS_CA") } } : {}),
  });
}

export async function run(argv: string[]): Promise<number> {
  const [sub, rest] = subcommand(argv, ["list", "destroy"], { name: "drover vm", usage: USAGE });
  if (sub === "list") {
    const { values } = parseCommand(rest, {
      name: "drover vm list",
      usage: USAGE,
      options: { json: { type: "boolean" } },
    });
    const c = client();
    try {
      const machines = await c.machines();
      if (values.json) {
        process.stdout.write(`${JSON.stringify(machines)}\n`);
        return 0;
      }
      process.stdout.write("ID\tSTATE\tPROVIDER\tIMAGE\tCLASS\tADDRESS\tTASK\tLEASE UNTIL\n");
      for (const m of machines) {
        process.stdout.write(
          [
            m.id,
            m.state,
            m.provider,
            m.image,
            m.resourceClass,
            m.address ?? "-",
            m.taskId ?? "(pool)",
            m.leaseExpiresAt ?? "-",
          ].join("\t") + "\n",
        );
      }
      return 0;
    } finally {
      await c.close();
    }
  }
  const { positionals } = parseCommand(rest, {
    name: "drover vm destroy",
    usage: USAGE,
    options: {},
    positionals: ["<machine-id>"],
  });
  const id = positionals[0] ?? "";
  const c = client();
  try {
    await c.release(id);
    process.stdout.write(`machine ${id} destroyed\n`);
    return 0;
  } finally {
    await c.close();
  }
}
