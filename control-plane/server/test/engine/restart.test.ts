import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { randomUUID } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import { serverConfigSchema, startControlPlane, type ControlPlane } from "@drover/control-plane";
import { DroverClient } from "@drover/cli";
import { logger } from "../helpers/harness.js";
import { makeRepo } from "../helpers/server.js";
import { agentRetried, freePort, gatedWorkflow, WAIT } from "./restart-fixture.js";

const agent = fileURLToPath(new URL("../fixtures/fake-agent.mjs", import.meta.url));

describe("restart mid-workflow (local scheduler, PGlite on disk)", () => {
  it("finishes the workflow correctly after the control plane is stopped and started again", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "drover-restart-"));
    const flow = gatedWorkflow(2);
    const repo = makeRepo({ ".circleci/config.yml": flow.config });
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
    await flow.stepStarted();
    // Down while b's agent is mid-step; b's step ends and its agent reports to no one.
    await cp.close();
    await flow.openGate();
    await agentRetried(dataDir, "b");
    cp = await startControlPlane({ config, logger });
    try {
      expect(cp.bootstrapToken).toBeNull();
      const done = await vi.waitFor(async () => {
        const w = await client.workflow(wf);
        expect(w.stopped_at).not.toBeNull();
        return w;
      }, WAIT);
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
