/** `drover vm list`, `drover vm destroy <id>`: vm-service's machines, for operators. */
import process from "node:process";
import { VmServiceClient } from "@drover/vm-service/client";
import { parseCommand, subcommand } from "../args.js";

const USAGE =
  "usage: drover vm list [--json]\n" +
  "       drover vm destroy <machine-id>\n" +
  "Talks to vm-service at DROVER_VM_URL (default http://127.0.0.1:3000) with\n" +
  "DROVER_VM_SERVICE_TOKEN. destroy releases the machine's lease and destroys it.\n";

function client(): VmServiceClient {
  const token = process.env.DROVER_VM_SERVICE_TOKEN;
  if (!token) {
    throw Object.assign(
      new Error("DROVER_VM_SERVICE_TOKEN is not set: vm-service needs its service token"),
      {
        code: "DROVER_ERR_VM_UNAUTHENTICATED",
      },
    );
  }
  return new VmServiceClient({
    url: process.env.DROVER_VM_URL ?? "http://127.0.0.1:3000",
    serviceToken: token,
    timeoutMs: 60_000,
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
