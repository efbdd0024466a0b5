import type { FastifyInstance } from "fastify";
import { NomadError } from "@drover/nomad-jobs";
import { requireAdmin } from "../../auth/guards.js";
import { DroverError } from "../../errors/index.js";
import { SchedulerUnavailableError, type SchedulerBackend } from "../types.js";
import { NomadScheduler } from "./backend.js";
import { listDroverJobs } from "./operators.js";

/**
 * `GET /api/v2/admin/nomad/jobs` (admins): Drover's Nomad jobs with their newest allocation,
 * node, status and Nomad UI links. 409 when the `local` scheduler is in use, 503 when Nomad
 * cannot be reached. A route module for the composition root (`routes`).
 */
export function registerNomadAdminRoutes(
  app: FastifyInstance,
  deps: { scheduler: SchedulerBackend },
  opts: { uiAddress?: string } = {},
): void {
  app.get("/api/v2/admin/nomad/jobs", async (req) => {
    requireAdmin(req);
    const s = deps.scheduler;
    if (!(s instanceof NomadScheduler)) {
      throw new DroverError(
        "DROVER_ERR_CONFLICT",
        `The ${s.name} scheduler is in use; there are no Nomad jobs.`,
      );
    }
    try {
      const rows = await listDroverJobs(s.client, { namespace: s.namespace, ...opts });
      return {
        items: rows.map((r) => ({
          job_id: r.jobId,
          task_id: r.taskId,
          namespace: r.namespace,
          status: r.status,
          project_slug: r.project,
          pipeline_number: r.pipelineNumber,
          job_name: r.jobName,
          allocation: r.allocation
            ? {
                id: r.allocation.id,
                client_status: r.allocation.clientStatus,
                node: r.allocation.node,
              }
            : null,
          links: r.links,
        })),
        next_page_token: null,
      };
    } catch (err) {
      if (err instanceof NomadError && err.transient) {
        throw new SchedulerUnavailableError(err.message, { cause: err });
      }
      throw err;
    }
  });
}
