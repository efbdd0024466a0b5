import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { SSH_RERUNS_OFF, sshRerunsDisabled } from "../../engine/task-service.js";
import { ControlPlaneError, invalid } from "../../model/errors.js";
import { getProject } from "../../model/projects.js";
import { listSshKeys } from "../../model/users.js";
import { listJobs } from "../../model/workflows.js";
import { visibleWorkflow } from "../access.js";
import { presentWorkflow, presentWorkflowJob } from "../present.js";
import { parse, principalOf } from "../server.js";
import { auditOf } from "./audit-context.js";
import type { CoreRouteDeps } from "./deps.js";

export const rerunBodySchema = z
  .object({
    enable_ssh: z.boolean().optional(),
    from_failed: z.boolean().optional(),
    jobs: z.array(z.string().uuid()).optional(),
    sparse_tree: z.boolean().optional(),
  })
  .strict();

/** Read, cancel, approve and rerun workflows (CircleCI API v2). */
export function registerWorkflowRoutes(app: FastifyInstance, deps: CoreRouteDeps): void {
  const { db, engine } = deps;

  app.get<{ Params: { id: string } }>("/api/v2/workflow/:id", async (req) => {
    const { workflow, pipeline, project } = await visibleWorkflow(
      db,
      principalOf(req),
      req.params.id,
    );
    return presentWorkflow(workflow, pipeline, project);
  });

  app.get<{ Params: { id: string } }>("/api/v2/workflow/:id/job", async (req) => {
    const { workflow, project } = await visibleWorkflow(db, principalOf(req), req.params.id);
    const jobs = await listJobs(db, workflow.id);
    return { items: jobs.map((j) => presentWorkflowJob(j, jobs, project)), next_page_token: null };
  });

  app.post<{ Params: { id: string } }>("/api/v2/workflow/:id/cancel", async (req, reply) => {
    const who = principalOf(req);
    const { workflow } = await visibleWorkflow(db, who, req.params.id);
    await engine.cancelWorkflow(workflow.id, who.userId, auditOf(req));
    return reply.code(202).send({ message: "Accepted." });
  });

  app.post<{ Params: { id: string; requestId: string } }>(
    "/api/v2/workflow/:id/approve/:requestId",
    async (req, reply) => {
      const who = principalOf(req);
      const { workflow } = await visibleWorkflow(db, who, req.params.id);
      await engine.approve(workflow.id, req.params.requestId, who.userId, auditOf(req));
      return reply.code(202).send({ message: "Accepted." });
    },
  );

  app.post<{ Params: { id: string } }>("/api/v2/workflow/:id/rerun", async (req, reply) => {
    const who = principalOf(req);
    const { workflow } = await visibleWorkflow(db, who, req.params.id);
    const body = parse(rerunBodySchema, req.body);
    const sshRerun = body.enable_ssh && body.jobs?.length && !body.from_failed;
    if (sshRerun) {
      const project = await getProject(db, workflow.projectId);
      if (project && sshRerunsDisabled(project.settings)) {
        throw new ControlPlaneError("DROVER_ERR_FORBIDDEN", SSH_RERUNS_OFF);
      }
    }
    if (sshRerun && (await listSshKeys(db, who.userId)).length === 0) {
      throw invalid("add an SSH public key (POST /api/v2/me/ssh-keys) before rerunning with SSH", [
        { field: "enable_ssh", message: "you have no registered SSH public key" },
      ]);
    }
    const id = await engine.rerun(
      workflow.id,
      {
        ...(body.enable_ssh !== undefined ? { enableSsh: body.enable_ssh } : {}),
        ...(body.from_failed !== undefined ? { fromFailed: body.from_failed } : {}),
        ...(body.jobs ? { jobs: body.jobs } : {}),
        ...(body.sparse_tree !== undefined ? { sparseTree: body.sparse_tree } : {}),
      },
      who.userId,
      auditOf(req),
    );
    return reply.code(202).send({ workflow_id: id });
  });
}
