/**
 * `drover runner`: runs the agents of the `queue` scheduler on this host. It claims tasks from
 * PostgreSQL, starts each agent with the local scheduler (on this host's Docker engine) and writes
 * their status back; it serves `/healthz`, `/readyz` and `/metrics` on its own port.
 */
import { randomUUID } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { Logger } from "pino";
import { Gauge, Registry, collectDefaultMetrics } from "prom-client";
import { ConfigError } from "../config/errors.js";
import { dataPaths, type ServerConfig } from "../config/server-config.js";
import { openDatabase } from "../db/open.js";
import { LocalScheduler } from "../scheduler/local/local.js";
import { QueueRunner } from "../scheduler/queue/runner.js";

export interface RunnerService {
  runnerId: string;
  /** The status port's URL. */
  url: string;
  close(): Promise<void>;
}

export interface RunnerOptions {
  config: ServerConfig;
  logger: Logger;
  /** The environment agents start from (scrubbed of credentials by the local scheduler). */
  env: Record<string, string | undefined>;
}

/** `DROVER_RUNNER_ID`, else an id made once and kept in `<dataDir>/runner-id`. */
async function runnerIdOf(config: ServerConfig, root: string): Promise<string> {
  if (config.runnerId) return config.runnerId;
  const file = join(root, "runner-id");
  const kept = await readFile(file, "utf8").catch(() => "");
  if (kept.trim()) return kept.trim();
  const id = `runner-${randomUUID().slice(0, 8)}`;
  await writeFile(file, `${id}\n`);
  return id;
}

export async function startRunner(opts: RunnerOptions): Promise<RunnerService> {
  const { config, logger } = opts;
  if (!config.databaseUrl) {
    throw new ConfigError("drover runner needs DATABASE_URL: it takes tasks from PostgreSQL", [
      { field: "DATABASE_URL", message: "required by drover runner" },
    ]);
  }
  const paths = dataPaths(config);
  await mkdir(paths.agents, { recursive: true });
  const runnerId = await runnerIdOf(config, paths.root);
  const db = await openDatabase({ url: config.databaseUrl });
  const local = new LocalScheduler({
    logger,
    stateDir: paths.agents,
    ...(config.agentCommand ? { agentCommand: config.agentCommand } : {}),
    baseEnv: opts.env,
    sweep: !config.agentCommand,
  });
  const runner = new QueueRunner({
    db,
    logger,
    local,
    runnerId,
    capacity: config.runnerCapacity,
  });
  await runner.start();

  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: "drover_runner_tasks",
    help: "Tasks this runner holds, by state.",
    labelNames: ["state"],
    registers: [registry],
    async collect() {
      const { rows } = await db.query<{ state: string; n: string | number }>(
        "SELECT state, count(*) AS n FROM runner_tasks WHERE runner_id = $1 GROUP BY state",
        [runnerId],
      );
      this.reset();
      for (const r of rows) this.set({ state: r.state }, Number(r.n));
    },
  });
  const status = http.createServer((req, res) => {
    const send = (code: number, body: string, type = "application/json"): void => {
      res.writeHead(code, { "content-type": type }).end(body);
    };
    if (req.url === "/healthz") return send(200, JSON.stringify({ status: "ok", runnerId }));
    if (req.url === "/readyz") {
      db.query("SELECT 1").then(
        () => send(200, JSON.stringify({ status: "ready", checks: { database: "ok" } })),
        (err: unknown) =>
          send(
            503,
            JSON.stringify({ status: "unready", checks: { database: (err as Error).message } }),
          ),
      );
      return;
    }
    if (req.url === "/metrics") {
      registry.metrics().then(
        (text) => send(200, text, registry.contentType),
        (err: unknown) => send(500, JSON.stringify({ message: (err as Error).message })),
      );
      return;
    }
    send(404, JSON.stringify({ message: "not found" }));
  });
  await new Promise<void>((resolve, reject) => {
    status.once("error", reject);
    status.listen(config.runnerPort, config.host, () => resolve());
  });
  const { port } = status.address() as AddressInfo;
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  const url = `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}`;
  logger.info({ runnerId, url, capacity: runner.capacity }, "runner listening");
  let closed = false;
  return {
    runnerId,
    url,
    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((r) => status.close(() => r()));
      await runner.stop();
      await db.close();
    },
  };
}
