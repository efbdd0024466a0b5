import os from "node:os";
import process from "node:process";
import { pino } from "pino";
import { dockerClient, runAgent } from "./agent.js";
import { dockerConnection, loadAgentConfig } from "./config.js";
import { JobNetRules } from "./executor/docker/net-rules.js";
import { sweepOrphans } from "./executor/docker/sweeper.js";

/**
 * `drover-agent`: runs the one task named by DROVER_TASK_TOKEN against DROVER_URL, exit 0 when it
 * succeeded, 1 when it did not, 2 when it could not start. `drover-agent sweep` only removes
 * containers and networks of dead agents on this host; `drover-agent net-rules install|remove`
 * installs or removes the job networks' firewall rules.
 */
async function main(argv: string[]): Promise<number> {
  if (argv[0] === "net-rules") {
    const rules = new JobNetRules();
    if (argv[1] === "install") await rules.install();
    else if (argv[1] === "remove") await rules.remove();
    else {
      process.stderr.write("usage: drover-agent net-rules install|remove\n");
      return 2;
    }
    process.stdout.write(`job network rules: ${argv[1] === "install" ? "installed" : "removed"}\n`);
    return 0;
  }
  if (argv[0] === "sweep") {
    const docker = dockerClient(
      dockerConnection(
        process.env.DOCKER_HOST,
        process.env.DOCKER_TLS_VERIFY === "1",
        process.env.DOCKER_CERT_PATH,
      ),
    );
    const swept = await sweepOrphans(docker, { host: os.hostname() });
    process.stdout.write(
      `swept ${swept.length} task(s)${swept.length ? `: ${swept.join(", ")}` : ""}\n`,
    );
    return 0;
  }
  let config;
  try {
    config = loadAgentConfig(process.env);
  } catch (err) {
    process.stderr.write(`drover-agent: ${(err as Error).message}\n`);
    return 2;
  }
  const logger = pino(
    {
      level: config.logLevel,
      redact: ["token", "session", "*.token", "*.session", "task.secrets"],
    },
    pino.destination(2),
  );
  const abort = new AbortController();
  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    process.once(sig, () => {
      logger.warn({ signal: sig }, "canceling the task");
      abort.abort();
    });
  }
  try {
    const outcome = await runAgent({ config, logger, signal: abort.signal });
    return outcome.result === "success" ? 0 : 1;
  } catch (err) {
    logger.error({ err }, "agent failed before running the task");
    return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `drover-agent: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(2);
  },
);
