/**
 * `drover run` against the whole `drover up` composition (control plane, in-process
 * output-processor, local scheduler, the built agent, Docker): it follows a pipeline through a
 * restart of the server, live output included, and prints the workflow's result after the last
 * line of the jobs' output.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import {
  LocalScheduler,
  serverConfigSchema,
  startDrover,
  type Drover,
} from "@drover/control-plane";
import { runPipeline } from "@drover/cli";
import { logger } from "../helpers/harness.js";
import { makeRepo } from "../helpers/server.js";

const IMAGE = "drover/debian:bookworm";
const env = { ...process.env, NOMAD_ADDR: "", DATABASE_URL: "", REDIS_URL: "", VAULT_ADDR: "" };
/** Starts (or restarts, on the same ports and data directory) every service of `drover up`. */
async function up(dataDir: string, ports = { port: 0, outputPort: 0 }): Promise<Drover> {
  const config = serverConfigSchema.parse({
    ...ports,
    dataDir,
    tickIntervalMs: 200,
    scheduleTickMs: 0,
  });
  const scheduler = new LocalScheduler({
    logger,
    stateDir: join(dataDir, "agents"),
    baseEnv: env,
    sweep: true,
  });
  return startDrover({ config, logger, env, scheduler });
}

const portOf = (url: string): number => Number(new URL(url).port);

describe("drover run with live output", () => {
  const running: Drover[] = [];
  afterAll(async () => {
    for (const d of running) await d.close();
  });

  it("follows the pipeline through a server restart", { timeout: 240_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "drover-run-restart-"));
    let d = await up(dataDir);
    running.push(d);
    const token = d.cp.bootstrapToken!;
    const ports = { port: portOf(d.cp.url), outputPort: portOf(d.outputUrl) };
    const repo = makeRepo({
      ".circleci/config.yml": `version: 2.1
jobs:
  build:
    docker: [{image: ${IMAGE}}]
    steps:
      - run: {name: across, command: "echo before-restart; sleep 8; echo after-restart"}
  after:
    docker: [{image: ${IMAGE}}]
    steps:
      - run: {name: last, command: "echo from-the-second-job"}
workflows:
  main:
    jobs: [build, {after: {requires: [build]}}]
`,
    });
    const lines: string[] = [];
    const cli = runPipeline({
      dir: repo.dir,
      settings: { url: d.cp.url, token, outputUrl: d.outputUrl },
      project: `local/t/${randomUUID().slice(0, 8)}`,
      write: (l) => lines.push(l),
    });
    await vi.waitFor(() => expect(lines).toContain("[build] before-restart"), {
      timeout: 180_000,
      interval: 100,
    });
    await d.close();
    // The CLI notices the server is gone before it comes back.
    await vi.waitFor(
      () => expect(lines.join("\n")).toContain(`(cannot reach the Drover server at ${d.cp.url}: `),
      { timeout: 30_000, interval: 50 },
    );
    d = await up(dataDir, ports);
    running.push(d);
    const code = await cli;
    const text = lines.join("\n");
    expect(code, text).toBe(0);
    expect(text).toContain(`(reconnected to ${d.cp.url})`);
    expect(text).toContain("[build] after-restart");
    expect(text).toContain("[after] from-the-second-job");
    expect(lines.at(-1)).toBe("workflow main: success");
  });

  it("prints the workflow's result after the last job's output", { timeout: 240_000 }, async () => {
    const d = await up(mkdtempSync(join(tmpdir(), "drover-run-order-")));
    running.push(d);
    const token = d.cp.bootstrapToken!;
    const repo = makeRepo({
      ".circleci/config.yml": `version: 2.1
jobs:
  build:
    docker: [{image: ${IMAGE}}]
    steps:
      - run: {name: noisy, command: "seq 1 20000 | sed 's/^/line-/'"}
workflows:
  main:
    jobs: [build]
`,
    });
    const lines: string[] = [];
    const code = await runPipeline({
      dir: repo.dir,
      settings: { url: d.cp.url, token, outputUrl: d.outputUrl },
      project: `local/t/${randomUUID().slice(0, 8)}`,
      write: (l) => lines.push(l),
    });
    expect(code, lines.slice(-20).join("\n")).toBe(0);
    const result = lines.indexOf("workflow main: success");
    const lastOutput = lines.findLastIndex((l) => l.startsWith("[build] "));
    expect(lines[lastOutput]).toBe("[build] job success");
    expect(lines).toContain("[build] line-20000");
    expect(result).toBeGreaterThan(lastOutput);
    expect(result).toBe(lines.length - 1);
  });
});
