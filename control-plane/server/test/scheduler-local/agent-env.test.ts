/** What a local agent inherits (no control-plane credentials) and when the sweeper runs. */
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { LocalScheduler, agentEnv, type TaskPlan } from "@drover/control-plane";
import { logger } from "../helpers/harness.js";

const plan = (): TaskPlan => ({
  taskId: randomUUID(),
  taskToken: "dtt_the-task-token",
  controlPlaneUrl: "http://127.0.0.1:9/cp",
  outputUrl: "http://127.0.0.1:9/out",
  project: { slug: "gh/a/b", name: "b" },
  pipeline: { id: randomUUID(), number: 1 },
  workflow: { id: randomUUID(), name: "w" },
  job: { id: randomUUID(), name: "j", number: 1, attempt: 1 },
  node: { index: 0, total: 1 },
  resourceClass: "medium",
  executorType: "docker",
  sshEnabled: false,
  jobUrl: "http://drover.test/jobs/x",
});

const BASE = {
  PATH: "/usr/bin:/bin",
  DOCKER_HOST: "unix:///var/run/docker.sock",
  DROVER_IMAGE_ALIASES: "cimg/base:*=drover/ci-base",
  DATABASE_URL: "postgres://u:pw@db/drover",
  DROVER_MASTER_KEY: "bWFzdGVyLWtleQ==",
  VAULT_TOKEN: "hvs.secret",
  VAULT_ADDR: "http://vault:8200",
  DROVER_VAULT_SECRET_ID: "approle-secret",
  DROVER_TOKEN: "drv_admin",
  DROVER_OUTPUT_TOKEN_SECRET: "hmac-key-hmac-key",
  NOMAD_TOKEN: "nomad-acl",
  GITHUB_TOKEN: "ghp_x",
  REDIS_URL: "redis://:pw@127.0.0.1:6379",
  DROVER_TLS_KEY: "/srv/drover/tls/drover-server-key.pem",
  DROVER_TLS_CERT: "/srv/drover/tls/drover-server.pem",
  DROVER_TLS_CA: "/srv/drover/tls/drover-agent-ca.pem",
};

const WAIT = { timeout: 15_000, interval: 25 };

describe("local agents' environment and sweeper", () => {
  it("agentEnv keeps what agents need and drops every control-plane credential", () => {
    expect(agentEnv(BASE)).toEqual({
      PATH: "/usr/bin:/bin",
      DOCKER_HOST: "unix:///var/run/docker.sock",
      DROVER_IMAGE_ALIASES: "cimg/base:*=drover/ci-base",
      DROVER_TLS_CA: "/srv/drover/tls/drover-agent-ca.pem",
    });
  });

  it("spawns agents with the scrubbed environment plus the task's token and URLs, and sweeps at start and after an agent dies", async () => {
    const dir = mkdtempSync(join(tmpdir(), "drover-agent-env-"));
    const envFile = join(dir, "env.json");
    const sweeps = join(dir, "sweeps");
    const s = new LocalScheduler({
      logger,
      stateDir: join(dir, "agents"),
      baseEnv: BASE,
      env: { ENV_FILE: envFile },
      // The agent records its environment and dies without reporting (exit 3).
      agentCommand: [
        process.execPath,
        "-e",
        "require('fs').writeFileSync(process.env.ENV_FILE, JSON.stringify(process.env)); process.exit(3)",
      ],
      sweep: [
        process.execPath,
        "-e",
        `require('fs').appendFileSync(${JSON.stringify(sweeps)}, 'x')`,
      ],
    });
    try {
      await vi.waitFor(() => expect(existsSync(sweeps)).toBe(true), WAIT);
      await s.sweepIdle();
      expect(readFileSync(sweeps, "utf8")).toBe("x");
      const p = plan();
      const finished = new Promise<void>((resolve) =>
        s.watch((e) => e.taskId === p.taskId && e.status.state === "finished" && resolve()),
      );
      await s.submit(p);
      await finished;
      await vi.waitFor(() => expect(readFileSync(sweeps, "utf8")).toBe("xx"), WAIT);
      const env = JSON.parse(readFileSync(envFile, "utf8")) as Record<string, string>;
      expect(env).toMatchObject({
        DROVER_TASK_TOKEN: "dtt_the-task-token",
        DROVER_URL: "http://127.0.0.1:9/cp",
        DROVER_OUTPUT_URL: "http://127.0.0.1:9/out",
        DROVER_TASK_ID: p.taskId,
        DOCKER_HOST: BASE.DOCKER_HOST,
      });
      for (const name of [
        "DATABASE_URL",
        "DROVER_MASTER_KEY",
        "VAULT_TOKEN",
        "VAULT_ADDR",
        "DROVER_VAULT_SECRET_ID",
        "DROVER_TOKEN",
        "DROVER_OUTPUT_TOKEN_SECRET",
        "NOMAD_TOKEN",
        "GITHUB_TOKEN",
        "REDIS_URL",
      ]) {
        expect(env[name], name).toBeUndefined();
      }
    } finally {
      await s.close();
    }
  });
});
