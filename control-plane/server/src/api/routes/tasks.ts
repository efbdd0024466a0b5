import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { claimRequestSchema, taskEventSchema } from "@drover/task-api";
import { parse } from "../server.js";
import type { CoreRouteDeps } from "./deps.js";

const eventsBody = z.object({ events: z.array(taskEventSchema).max(10_000) });

/** The task API's claim and events endpoints (see `task-api/contract.ts`). */
export function registerTaskRoutes(app: FastifyInstance, deps: CoreRouteDeps): void {
  app.post("/internal/v1/tasks/claim", { config: { auth: "none" } }, async (req) => {
    const { token } = parse(claimRequestSchema, req.body);
    return deps.tasks.claim(token, req.id);
  });

  app.post<{ Params: { taskId: string } }>(
    "/internal/v1/tasks/:taskId/events",
    { config: { auth: "task" } },
    async (req, reply) => {
      const { events } = parse(eventsBody, req.body);
      await deps.tasks.events(req.params.taskId, events);
      return reply.code(204).send();
    },
  );
}
