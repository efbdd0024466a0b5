/** `node vm-service/dist/main.js`: vm-service on its own, on the control plane's PostgreSQL. */
import process from "node:process";
import pino from "pino";
import { vmServiceConfigFromEnv } from "./config.js";
import { startVmService } from "./service/run.js";
import { PostgresSql } from "./store/pg.js";

const logger = pino({
  level: process.env.DROVER_LOG_LEVEL ?? "info",
  redact: { paths: ["*.sshPrivateKey", "*.clientKey", "*.serviceToken"], censor: "[redacted]" },
});

async function main(): Promise<void> {
  const { config, databaseUrl } = vmServiceConfigFromEnv(process.env);
  const db = new PostgresSql({ connectionString: databaseUrl });
  const service = await startVmService({ config, db, logger });
  const stop = (): void => {
    void service
      .close()
      .then(() => db.close())
      .finally(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `vm-service: cannot start: ${err instanceof Error ? err.message : String(err)}\n`,
  );
  process.exit(1);
});
