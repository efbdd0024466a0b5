/** `drover up`: every service in one process on embedded defaults. */
import process from "node:process";
import { parseArgs } from "node:util";
import pino from "pino";
import { saveCliSettings } from "../../config/cli.js";
import { dataPaths, serverConfigFromEnv } from "../../config/server-config.js";
import { startControlPlane } from "../../server/compose.js";

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: "string" },
      host: { type: "string" },
      "data-dir": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(
      "usage: drover up [--port N] [--host H] [--data-dir DIR]\n\n" +
        "Runs the control plane, scheduler and workers in one process. State lives in DIR\n" +
        "(default .drover; DATABASE_URL switches to PostgreSQL). Prints the URL and, on the first\n" +
        "start, the admin token, which is also saved to DIR/cli.json for the CLI.\n",
    );
    return 0;
  }
  const config = serverConfigFromEnv({
    ...process.env,
    ...(values.port ? { DROVER_PORT: values.port } : {}),
    ...(values.host ? { DROVER_HOST: values.host } : {}),
    ...(values["data-dir"] ? { DROVER_DATA_DIR: values["data-dir"] } : {}),
  });
  const logger = pino(
    {
      level: process.env.DROVER_LOG_LEVEL ?? "info",
      redact: {
        paths: [
          "*.token",
          "*.taskToken",
          "*.session",
          "req.headers.authorization",
          'req.headers["circle-token"]',
        ],
        censor: "[redacted]",
      },
    },
    pino.destination(2),
  );
  const cp = await startControlPlane({ config, logger });
  const cli = dataPaths(config).cli;
  // Saved before anything is printed, so whoever reads the banner finds the file.
  await saveCliSettings(
    cli,
    cp.bootstrapToken ? { url: cp.url, token: cp.bootstrapToken } : { url: cp.url },
  );
  process.stdout.write(`Drover is up at ${cp.url}\n`);
  if (cp.bootstrapToken) {
    process.stdout.write(
      `Admin token (shown once, saved to ${cli}):\n  ${cp.bootstrapToken}\n` +
        `Use it as DROVER_TOKEN, or run drover commands from this directory.\n`,
    );
  }
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  process.stdout.write(
    "stopping (running jobs keep running and are picked up on the next start)\n",
  );
  await cp.close();
  return 0;
}
