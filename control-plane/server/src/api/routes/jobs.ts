import type { FastifyInstance } from "fastify";
import { notFound } from "../../model/errors.js";
import { getPipeline } from "../../model/pipelines.js";
import type { TaskStep } from "../../model/records.js";
import { getWorkflow, listTaskSteps, listTasksOfJob } from "../../model/workflows.js";
import { visibleJob, type SlugParams } from "../access.js";
import { presentJobDetails } from "../present.js";
import { principalOf } from "../server.js";
import { auditOf } from "./audit-context.js";
import type { CoreRouteDeps } from "./deps.js";

type Params = SlugParams & { number: string };

/** Job details and cancel by project job number (CircleCI API v2). */
export function registerJobRoutes(app: FastifyInstance, deps: CoreRouteDeps): void {
  const { db } = deps;

  app.get<{ Params: Params }>("/api/v2/project/:vcs/:org/:repo/job/:number", async (req) => {
    const { project, job } = await visibleJob(db, principalOf(req), req.params);
    const workflow = await getWorkflow(db, job.workflowId);
    const pipeline = workflow ? await getPipeline(db, workflow.pipelineId) : null;
    if (!workflow || !pipeline) throw notFound("Job");
    const tasks = await listTasksOfJob(db, job.id);
    const steps = new Map<string, TaskStep[]>();
    for (const t of tasks) steps.set(t.id, await listTaskSteps(db, t.id));
    return presentJobDetails(job, workflow, pipeline, project, tasks, steps, deps.urls.public);
  });

  app.post<{ Params: Params }>(
    "/api/v2/project/:vcs/:org/:repo/job/:number/cancel",
    async (req, reply) => {
      const who = principalOf(req);
      const { job } = await visibleJob(db, who, req.params);
      await deps.engine.cancelJob(job.id, who.userId, auditOf(req));
      return reply.code(202).send({ message: "Accepted." });
    },
  );
}
