import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { serverConfigSchema, startControlPlane, type ControlPlane } from "@drover/control-plane";
import { DroverClient, type ApiWorkflowJob } from "@drover/cli";
import { logger } from "../helpers/harness.js";
import { makeRepo } from "../helpers/server.js";

const agent = fileURLToPath(new URL("../fixtures/fake-agent.mjs", import.meta.url));

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function poll<T>(
  fn: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out; last value ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const CONFIG = `version: 2.1
jobs:
  a: {docker: [{image: x}], steps: [{run: "echo a"}]}
  b: {docker: [{image: x}], steps: [{run: "sleep 3; echo b"}]}
  c: {docker: [{image: x}], parallelism: 2, steps: [{run: "echo c $CIRCLE_NODE_INDEX"}]}
workflows:
  w:
    jobs: [a, {b: {requires: [a]}}, {c: {requires: [b]}}]
`;

describe("restart mid-workflow (local scheduler, PGlite on disk)", () => {
  it("finishes the workflow correctly after the control plane is stopped and started again", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "drover-restart-"));
    const repo = makeRepo({ ".circleci/config.yml": CONFIG });
    const config = serverConfigSchema.parse({
      port: await freePort(),
      dataDir,
      tickIntervalMs: 200,
      scheduleTickMs: 0,
      agentCommand: [process.execPath, agent],
    });
    let cp: ControlPlane = await startControlPlane({ config, logger });
    const token = cp.bootstrapToken ?? "";
    const client = new DroverClient(cp.url, token);
    const slug = `gh/acme/${randomUUID().slice(0, 8)}`;
    await client.addProject({ slug, repository_url: repo.url });
    const p = await client.trigger(slug, { branch: "main" });
    const wf = (await client.pipelineWorkflows(p.id)).items[0]?.id ?? "";
    const status = (jobs: ApiWorkflowJob[], name: string) =>
      jobs.find((j) => j.name === name)?.status;
    await poll(
      async () => (await client.workflowJobs(wf)).items,
      (jobs) => status(jobs, "b") === "running",
    );
    // Down while b's agent is mid-step: its events wait for the next instance.
    await cp.close();
    await new Promise((r) => setTimeout(r, 1000));
    cp = await startControlPlane({ config, logger });
    try {
      expect(cp.bootstrapToken).toBeNull();
      const done = await poll(
        () => client.workflow(wf),
        (w) => w.stopped_at !== null,
      );
      const jobs = (await client.workflowJobs(wf)).items;
      expect(jobs.map((j) => [j.name, j.status])).toEqual([
        ["a", "success"],
        ["b", "success"],
        ["c", "success"],
      ]);
      expect(done.status).toBe("success");
      const tasks = await cp.db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM tasks t JOIN jobs j ON j.id = t.job_id WHERE j.workflow_id = $1",
        [wf],
      );
      expect(tasks.rows[0]?.n).toBe(4);
    } finally {
      await cp.close();
    }
  });
});
