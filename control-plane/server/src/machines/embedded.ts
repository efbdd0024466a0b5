import { createHash, randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { startVmService, type SqlDatabase, type VmService } from "@drover/vm-service";
import { VmServiceClient } from "@drover/vm-service/client";
import type { VmSettings } from "../config/load.js";
import { VmTaskMachines } from "./vm-machines.js";
import type { TaskMachines } from "./types.js";

export interface MachinesHandle {
  machines: TaskMachines;
  /** vm-service's URL (embedded or remote), for operators (`drover vm list`). */
  url: string;
  /** The service token; only for the embedded one (printed nowhere, kept in memory). */
  serviceToken: string;
  close(): Promise<void>;
}

/**
 * The machines of `drover up`: a client of the vm-service at `DROVER_VM_URL`, or vm-service
 * itself (local provider) started in this process on the control plane's database, or none.
 * The embedded one's install id is derived from the data directory, so two `drover up`s on one
 * Docker engine never reap each other's machines.
 */
export async function startMachines(opts: {
  settings: VmSettings;
  db: SqlDatabase;
  dataDir: string;
  logger: Logger;
  /** The embedded vm-service serves HTTPS with this certificate and key. */
  serverTls?: { cert: string; key: string };
  /** CA vm-service's certificate is verified against (`DROVER_TLS_CA`). */
  ca?: string;
}): Promise<MachinesHandle | null> {
  const tls = opts.ca ? { tls: { ca: opts.ca } } : {};
  const { settings, logger } = opts;
  if (settings.mode === "off") return null;
  if (settings.mode === "remote") {
    const client = new VmServiceClient({
      url: settings.url,
      serviceToken: settings.serviceToken,
      ...tls,
    });
    return {
      machines: new VmTaskMachines(client),
      url: settings.url,
      serviceToken: settings.serviceToken,
      close: () => client.close(),
    };
  }
  const serviceToken = randomBytes(24).toString("base64url");
  const installId = `drover-${createHash("sha256").update(opts.dataDir).digest("hex").slice(0, 12)}`;
  const start = (port: number): Promise<VmService> =>
    startVmService({
      config: {
        host: "127.0.0.1",
        port,
        serviceToken,
        leases: { installId },
        ...(opts.serverTls ? { tls: opts.serverTls } : {}),
      },
      db: opts.db,
      logger,
    });
  let service: VmService;
  try {
    service = await start(settings.port);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
    service = await start(0);
    logger.warn({ url: service.url }, `port ${settings.port} is taken; vm-service uses another`);
  }
  const client = new VmServiceClient({ url: service.url, serviceToken, ...tls });
  return {
    machines: new VmTaskMachines(client),
    url: service.url,
    serviceToken,
    close: async () => {
      await client.close();
      await service.close();
    },
  };
}
