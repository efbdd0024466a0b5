import { randomUUID } from "node:crypto";
import { createServer } from "node:net";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { NomadClient, jobSpecConfigSchema } from "@drover/nomad-jobs";
import { NomadTestServer } from "@drover/nomad-jobs/testing";
import {
  GitConfigFetcher,
  NomadScheduler,
  TaskService,
  TriggerService,
  WorkflowEngine,
  createProject,
  listJobs,
  listWorkflowsOfPipeline,
  type ServiceUrls,
} from "@drover/control-plane";
import type { PipelinePlan } from "@drover/config-compiler";
import { openDatabase } from "@drover/control-plane/db";
import { job, plan } from "../helpers/plans.js";

const logger = pino({ level: "silent" });

describe("a pipeline through the nomad backend", () => {
  it("runs build (parallelism 2) then deploy as Nomad jobs, and purges them when final", async () => {
    const server = await NomadTestServer.start({ heartbeatMs: 100 });
    const db = await openDatabase({});
    const client = new NomadClient({ address: server.url });
    const scheduler = new NomadScheduler({
      client: new NomadClient({ address: server.url }),
      spec: jobSpecConfigSchema.parse({}),
      logger,
      ownsClient: true,
      stream: { minDelayMs: 10, maxDelayMs: 50 },
    });
    const urls: ServiceUrls = {
      controlPlane: "http://127.0.0.1:1",
      public: "http://drover.test",
      output: "http://127.0.0.1:8585",
    };
    const engine = new WorkflowEngine({ db, scheduler, logger, urls, tickIntervalMs: 0 });
    const tasks = new TaskService({
      db,
      engine,
      logger,
      urls,
      mintOutputToken: (id) => `out-${id}`,
    });
    const pipelinePlan: PipelinePlan = plan({
      name: "main",
      jobs: [job("build", { parallelism: 2 }), job("deploy", { requires: ["build"] })],
    });
    const trigger = new TriggerService({
      db,
      engine,
      logger,
      fetcher: new GitConfigFetcher("/nonexistent"),
      compile: () => ({ plan: pipelinePlan, errors: [] }),
    });
    try {
      await engine.start();
      const project = await createProject(db, {
        slug: `gh/test/${randomUUID()}`,
        repositoryUrl: "file:///nonexistent",
        defaultBranch: "main",
      });
      const pipeline = await trigger.trigger({
        project,
        triggerType: "api",
        actorId: null,
        branch: "main",
        revision: "0123456789abcdef0123456789abcdef01234567",
        configSource: "version: 2.1",
      });
      await engine.idle();
      const [wf] = (await listWorkflowsOfPipeline(db, pipeline.id)).items;

      /** Plays the agent of every running Nomad job whose name matches: claim, report, exit 0. */
      const play = async (name: string): Promise<string[]> => {
        const { data } = await client.jobs.list({ prefix: "drover-", meta: true });
        const mine = data.filter((j) => j.Meta?.drover_job_name === name && !j.Stop);
        for (const stub of mine) {
          const alloc = await server.waitForAllocation(stub.ID);
          server.runAllocation(alloc.ID);
          const token = (await client.jobs.info(stub.ID)).data.TaskGroups![0]!.Tasks[0]!.Env!
            .DROVER_TASK_TOKEN!;
          const { task } = await tasks.claim(token);
          const at = new Date().toISOString();
          await tasks.events(task.taskId, [
            { type: "step_started", step: 0, name: "run", at },
            { type: "step_finished", step: 0, status: "success", exitCode: 0, durationMs: 5, at },
            { type: "task_finished", result: "success", at },
          ]);
          // The engine purges a task's job once it reported; the agent would then exit.
          await engine.idle();
          if (server.state.allocs.has(alloc.ID)) server.completeAllocation(alloc.ID, 0);
        }
        await engine.idle();
        return mine.map((j) => j.ID);
      };

      const buildJobs = await play("build");
      expect(buildJobs).toHaveLength(2);
      expect(buildJobs.map((id) => id.split("-").at(-1)).sort()).toEqual(["0", "1"]);
      const deployJobs = await play("deploy");
      expect(deployJobs).toHaveLength(1);
      await engine.idle();

      const statuses = Object.fromEntries(
        (await listJobs(db, wf!.id)).map((j) => [j.name, j.status]),
      );
      expect(statuses).toEqual({ build: "success", deploy: "success" });
      // Final tasks are purged from Nomad once their agents exited.
      const deadline = Date.now() + 10_000;
      let left = await client.jobs.list({ prefix: "drover-" });
      while (left.data.length > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        left = await client.jobs.list({ prefix: "drover-" });
      }
      expect(left.data.map((j) => j.ID)).toEqual([]);
    } finally {
      await engine.stop();
      await scheduler.close();
      await client.close();
      await db.close();
      await server.close();
    }
  });
});

describe("the engine while Nomad is down", () => {
  it("keeps tasks pending while Nomad is unreachable and submits them once it is back", async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const { port: p } = s.address() as { port: number };
        s.close(() => resolve(p));
      });
    });
    const address = `http://127.0.0.1:${port}`;
    const db = await openDatabase({});
    const scheduler = new NomadScheduler({
      client: new NomadClient({ address, retry: { maxRetries: 0 } }),
      spec: jobSpecConfigSchema.parse({}),
      logger,
      ownsClient: true,
      stream: { minDelayMs: 10, maxDelayMs: 50 },
    });
    const urls: ServiceUrls = {
      controlPlane: "http://127.0.0.1:1",
      public: "http://drover.test",
      output: "http://127.0.0.1:8585",
    };
    const engine = new WorkflowEngine({
      db,
      scheduler,
      logger,
      urls,
      tickIntervalMs: 0,
      submitLeaseMs: 50,
    });
    const trigger = new TriggerService({
      db,
      engine,
      logger,
      fetcher: new GitConfigFetcher("/nonexistent"),
      compile: () => ({ plan: plan({ name: "main", jobs: [job("build")] }), errors: [] }),
    });
    let server: NomadTestServer | undefined;
    try {
      await engine.start();
      const project = await createProject(db, {
        slug: `gh/test/${randomUUID()}`,
        repositoryUrl: "file:///nonexistent",
        defaultBranch: "main",
      });
      const started = Date.now();
      await trigger.trigger({
        project,
        triggerType: "api",
        actorId: null,
        branch: "main",
        revision: "0123456789abcdef0123456789abcdef01234567",
        configSource: "version: 2.1",
      });
      await engine.idle();
      expect(Date.now() - started).toBeLessThan(5_000);
      const pending = await db.query<{ status: string }>("SELECT status FROM tasks");
      expect(pending.rows.map((r) => r.status)).toEqual(["pending"]);

      server = await NomadTestServer.start({ port, heartbeatMs: 100 });
      await new Promise((r) => setTimeout(r, 100)); // the submit lease runs out
      await engine.tick();
      await engine.idle();
      const submitted = await db.query<{ status: string }>("SELECT status FROM tasks");
      expect(submitted.rows.map((r) => r.status)).toEqual(["submitted"]);
      const jobs = await new NomadClient({ address }).jobs.list({ prefix: "drover-" });
      expect(jobs.data).toHaveLength(1);
    } finally {
      await engine.stop();
      await scheduler.close();
      await db.close();
      await server?.close();
    }
  });
});
