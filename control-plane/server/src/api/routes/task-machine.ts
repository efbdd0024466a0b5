import type { FastifyInstance } from "fastify";
import { machineLeaseRequestSchema } from "@drover/task-api";
import { MachineError, type TaskMachines } from "../../machines/index.js";
import type { TaskService } from "../../engine/task-service.js";
import { parse } from "../server.js";

export interface TaskMachineRouteDeps {
  tasks: TaskService;
  /** Absent when no vm-service is configured: leases answer `DROVER_ERR_MACHINES_UNAVAILABLE`. */
  machines?: TaskMachines;
}

/**
 * `POST /internal/v1/tasks/{taskId}/machine` leases the task's machine (its `machine` executor or
 * the engine of `setup_remote_docker`; one per task, asking again returns it), `DELETE` releases it.
 * Task-session auth: the credentials go to the task's own agent only.
 */
export function registerTaskMachineRoutes(app: FastifyInstance, deps: TaskMachineRouteDeps): void {
  const machines = (): TaskMachines => {
    if (!deps.machines) {
      throw new MachineError(
        "DROVER_ERR_MACHINES_UNAVAILABLE",
        "this control plane has no vm-service: set DROVER_VM_URL and DROVER_VM_SERVICE_TOKEN, " +
          "or run `drover up` with its embedded vm-service",
      );
    }
    return deps.machines;
  };
  app.post<{ Params: { taskId: string } }>(
    "/internal/v1/tasks/:taskId/machine",
    { config: { auth: "task" } },
    async (req) => {
      const { purpose } = parse(machineLeaseRequestSchema, req.body);
      const what = await deps.tasks.machineRequest(req.params.taskId, purpose);
      const lease = await machines().lease(req.params.taskId, what);
      req.log.info(
        { taskId: req.params.taskId, vmId: lease.id, purpose, host: lease.host },
        "machine leased for task",
      );
      return lease;
    },
  );
  app.delete<{ Params: { taskId: string } }>(
    "/internal/v1/tasks/:taskId/machine",
    { config: { auth: "task" } },
    async (req, reply) => {
      await machines().releaseTask(req.params.taskId);
      return reply.code(204).send();
    },
  );
}
