/** `drover runner`: takes tasks of the `queue` scheduler from PostgreSQL and runs their agents here. */
import process from "node:process";
import pino from "pino";
import type * as ServerModule from "@drover/control-plane";
import { parseCommand } from "../args.js";

const USAGE =
  "usage: drover runner\n\n" +
  "Runs the agents of control planes started with DROVER_SCHEDULER=queue: claims their tasks from\n" +
  "PostgreSQL (DATABASE_URL, required), runs each agent on this host's Docker engine, and reports\n" +
  "their status back. DROVER_RUNNER_ID names it (default: made once in DROVER_DATA_DIR),\n" +
  "DROVER_RUNNER_CAPACITY caps tasks at once, DROVER_RUNNER_PORT serves /healthz, /readyz and\n" +
  "/metrics. SIGTERM stops claiming; running agents are adopted by the next start.\n";

export async function run(argv: string[]): Promise<number> {
  parseCommand(argv, { name: "drover runner", usage: USAGE, options: {} });
  const server: typeof ServerModule = await import("@drover/control-plane");
  const { ConfigError, loadConfig, ROOT_LOG_REDACT_PATHS, startRunner } = server;
  let loaded: ReturnType<typeof loadConfig>;
  try {
    loaded = loadConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`drover runner: ${err.message}\n`);
    return 1;
  }
  const logger = pino({
    level: loaded.logLevel,
    redact: { paths: [...ROOT_LOG_REDACT_PATHS], censor: "[redacted]" },
  });
  let service: Awaited<ReturnType<typeof startRunner>>;
  try {
    service = await startRunner({ config: loaded.server, logger, env: process.env });
  } catch (err) {
    process.stderr.write(
      `drover runner: cannot start: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    return 1;
  }
  process.stdout.write(`drover runner ${service.runnerId}: status at ${service.url}\n`);
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  await service.close();
  return 0;
}
