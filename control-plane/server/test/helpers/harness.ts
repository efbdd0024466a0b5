/**
 * An engine wired to a real database and an InstantScheduler; the test plays the agent through
 * the real task service (claim with the token the backend received, then events).
 */
import { randomUUID } from "node:crypto";
import { expect } from "vitest";
import pino from "pino";
import {
  createProject,
  GitConfigFetcher,
  InstantScheduler,
  TaskService,
  TriggerService,
  WorkflowEngine,
  type Project,
  type ServiceUrls,
  type TaskPlan,
} from "@drover/control-plane";
import type { Database } from "@drover/control-plane/db";
import type { PipelinePlan } from "@drover/config-compiler";
import type { TaskSpec } from "@drover/task-api";
import { listJobs, listWorkflowsOfPipeline } from "@drover/control-plane";

export const logger = pino({ level: process.env.DROVER_TEST_LOG ?? "silent" });

export interface Harness {
  db: Database;
  scheduler: InstantScheduler;
  engine: WorkflowEngine;
  tasks: TaskService;
  trigger: TriggerService;
  urls: ServiceUrls;
  project: Project;
  /** Triggers a pipeline of the plan; returns its workflow ids (in plan order). */
  run(p: PipelinePlan): Promise<{ pipelineId: string; workflowIds: string[] }>;
  statuses(workflowId: string): Promise<Record<string, string>>;
  /** Plays the agent for every submitted, unplayed task of a job. */
  finishJob(
    workflowId: string,
    name: string,
    result?: "success" | "failed" | "infrastructure_fail",
  ): Promise<TaskSpec[]>;
  submittedFor(workflowId: string, name: string): TaskPlan[];
}

export async function harness(db: Database): Promise<Harness> {
  const scheduler = new InstantScheduler();
  const urls: ServiceUrls = {
    controlPlane: "http://127.0.0.1:1",
    public: "http://drover.test",
    output: "http://127.0.0.1:8585",
  };
  const engine = new WorkflowEngine({ db, scheduler, logger, urls, tickIntervalMs: 0 });
  const tasks = new TaskService({ db, engine, logger, urls, mintOutputToken: (id) => `out-${id}` });
  let nextPlan: PipelinePlan | undefined;
  const trigger = new TriggerService({
    db,
    engine,
    logger,
    fetcher: new GitConfigFetcher("/nonexistent"),
    compile: () => (nextPlan ? { plan: nextPlan, errors: [] } : { errors: [] }),
  });
  await engine.start();
  const project = await createProject(db, {
    slug: `gh/test/${randomUUID()}`,
    repositoryUrl: "file:///nonexistent",
    defaultBranch: "main",
  });
  const played = new Set<string>();
  const h: Harness = {
    db,
    scheduler,
    engine,
    tasks,
    trigger,
    urls,
    project,
    async run(p) {
      nextPlan = p;
      const pipeline = await trigger.trigger({
        project,
        triggerType: "api",
        actorId: null,
        branch: "main",
        revision: "0123456789abcdef0123456789abcdef01234567",
        configSource: "version: 2.1",
      });
      await engine.idle();
      const wfs = await listWorkflowsOfPipeline(db, pipeline.id);
      return { pipelineId: pipeline.id, workflowIds: wfs.items.map((w) => w.id) };
    },
    async statuses(workflowId) {
      const jobs = await listJobs(db, workflowId);
      const out: Record<string, string> = {};
      for (const j of jobs) out[j.name] = j.status;
      const wf = await db.query<{ status: string }>("SELECT status FROM workflows WHERE id = $1", [
        workflowId,
      ]);
      out["(workflow)"] = wf.rows[0]?.status ?? "?";
      return out;
    },
    submittedFor(workflowId, name) {
      return [...scheduler.submitted.values()].filter(
        (t) => t.workflow.id === workflowId && t.job.name === name,
      );
    },
    async finishJob(workflowId, name, result = "success") {
      await engine.idle();
      const plans = h.submittedFor(workflowId, name).filter((t) => !played.has(t.taskId));
      if (plans.length === 0) throw new Error(`no submitted task for ${name}`);
      const specs: TaskSpec[] = [];
      for (const t of plans) {
        played.add(t.taskId);
        const { task, session } = await tasks.claim(t.taskToken);
        expect(await tasks.authenticate(t.taskId, session)).not.toBeNull();
        const at = new Date().toISOString();
        await tasks.events(t.taskId, [
          { type: "step_started", step: 0, name: "run", at },
          {
            type: "step_finished",
            step: 0,
            status: result === "success" ? "success" : "failed",
            exitCode: result === "success" ? 0 : 1,
            durationMs: 5,
            at,
          },
          { type: "task_finished", result, at },
        ]);
        specs.push(task);
      }
      await engine.idle();
      return specs;
    },
  };
  return h;
}
