/** Starts vm-service: the provider, leases, the reaper on a timer and the API. */
import { checkListen } from "@drover/tls";
import type { Logger } from "pino";
import { createVmApi } from "../api/server.js";
import {
  vmServiceConfigSchema,
  type VmServiceConfig,
  type VmServiceConfigInput,
} from "../config.js";
import type { MachineProvider } from "../provider/types.js";
import { Ec2Provider } from "../providers/ec2/ec2-provider.js";
import { GceProvider } from "../providers/gce/gce-provider.js";
import { LocalProvider } from "../providers/local/local-provider.js";
import { ensureVmSchema } from "../store/schema.js";
import type { SqlDatabase } from "../store/sql.js";
import { LeaseService } from "./leases.js";

export interface VmService {
  url: string;
  leases: LeaseService;
  close(): Promise<void>;
}

/** The provider the configuration names. */
export function makeProvider(config: VmServiceConfig, log: Logger): MachineProvider {
  switch (config.provider) {
    case "ec2":
      return new Ec2Provider(config.ec2!, log);
    case "gce":
      return new GceProvider(config.gce!, log);
    default:
      return new LocalProvider(config.local, log);
  }
}

export async function startVmService(opts: {
  config: VmServiceConfigInput;
  db: SqlDatabase;
  logger: Logger;
}): Promise<VmService> {
  const config = vmServiceConfigSchema.parse(opts.config);
  checkListen({
    service: "vm-service",
    host: config.host,
    tls: config.tls !== undefined,
    allowPlaintext: config.allowPlaintext,
    hostVariable: "DROVER_VM_HOST",
  });
  const log = opts.logger.child({ service: "vm-service" });
  await ensureVmSchema(opts.db);
  const provider = makeProvider(config, log);
  const leases = new LeaseService({ db: opts.db, provider, logger: log, config: config.leases });
  const app = createVmApi({
    leases,
    provider,
    serviceToken: config.serviceToken,
    logger: log,
    ...(config.tls ? { https: config.tls } : {}),
  });
  const url = await app.listen({ host: config.host, port: config.port });
  let reaping: Promise<unknown> = Promise.resolve();
  const tend = (): void => {
    reaping = leases
      .reap()
      .then(() => leases.fillPools())
      .catch((err: unknown) => log.error({ err }, "reaper or pool pass failed"));
  };
  tend();
  const timer = setInterval(tend, config.reapIntervalMs);
  timer.unref();
  log.info({ url, provider: provider.name }, "vm-service listening");
  return {
    url,
    leases,
    close: async () => {
      clearInterval(timer);
      await reaping;
      await leases.stop();
      await app.close();
      await provider.close();
    },
  };
}
