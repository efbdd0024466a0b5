import { randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { recordAudit } from "../../audit/log.js";
import { canSeeProject, type Principal } from "../../auth/principal.js";
import { invalid, notFound } from "../../model/errors.js";
import { getProject } from "../../model/projects.js";
import type { Schedule } from "../../model/records.js";
import {
  deleteSchedule,
  getSchedule,
  insertSchedule,
  listSchedules,
  updateSchedule,
} from "../../model/schedules.js";
import type { ScheduleRunner } from "../../schedules/runner.js";
import { NEVER } from "../../schedules/runner.js";
import { nextRun, timetableSchema } from "../../schedules/timetable.js";
import { isUuid, slugOf, userLookup, visibleProject, type SlugParams } from "../access.js";
import { presentSchedule } from "../present.js";
import { parse, principalOf } from "../server.js";
import type { Queryable } from "../../db/types.js";
import type { CoreRouteDeps } from "./deps.js";

const parameters = z
  .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
  .superRefine((p, ctx) => {
    const hasBranch = typeof p.branch === "string" && p.branch !== "";
    const hasTag = typeof p.tag === "string" && p.tag !== "";
    if (hasBranch === hasTag) {
      ctx.addIssue({ code: "custom", message: "exactly one of branch or tag is required" });
    }
  });

const createBody = z
  .object({
    name: z.string().min(1).max(200),
    timetable: timetableSchema,
    "attribution-actor": z.enum(["current", "system"]),
    parameters,
    description: z.string().max(1000).optional(),
  })
  .strict();

const patchBody = createBody.partial().strict();

/** Scheduled pipelines (CircleCI API v2 schedule objects). */
export function registerScheduleRoutes(
  app: FastifyInstance,
  deps: CoreRouteDeps & { schedules: ScheduleRunner },
): void {
  const { db } = deps;
  const next = (s: Pick<Schedule, "timetable">) =>
    nextRun(s.timetable, deps.schedules.now()) ?? NEVER;

  const audit = (
    tx: Queryable,
    action: "schedule.create" | "schedule.update" | "schedule.delete",
    who: Principal,
    s: Schedule,
    requestId: string,
  ) =>
    recordAudit(tx, {
      action,
      actor: { id: who.userId, type: "user", name: who.login },
      target: { id: s.id, type: "schedule", name: s.name },
      payload: { project_id: s.projectId, timetable: s.timetable, parameters: s.parameters },
      requestId,
    });

  const load = async (who: ReturnType<typeof principalOf>, id: string) => {
    const s = isUuid(id) ? await getSchedule(db, id) : null;
    if (!s || !canSeeProject(who, s.projectId)) throw notFound("Schedule");
    const project = await getProject(db, s.projectId);
    if (!project) throw notFound("Schedule");
    return { s, project };
  };

  app.post<{ Params: SlugParams }>(
    "/api/v2/project/:vcs/:org/:repo/schedule",
    async (req, reply) => {
      const who = principalOf(req);
      const project = await visibleProject(db, who, slugOf(req.params));
      const body = parse(createBody, req.body);
      const attribution = body["attribution-actor"];
      const s = await db.transaction(async (tx) => {
        const saved = await insertSchedule(tx, {
          id: randomUUID(),
          projectId: project.id,
          name: body.name,
          description: body.description ?? "",
          timetable: body.timetable,
          parameters: body.parameters,
          attribution,
          actorId: attribution === "current" ? who.userId : null,
          nextRunAt: next(body),
        });
        await audit(tx, "schedule.create", who, saved, req.id);
        return saved;
      });
      return reply.code(201).send(presentSchedule(s, project, await userLookup(db)(s.actorId)));
    },
  );

  app.get<{ Params: SlugParams; Querystring: Record<string, string> }>(
    "/api/v2/project/:vcs/:org/:repo/schedule",
    async (req) => {
      const project = await visibleProject(db, principalOf(req), slugOf(req.params));
      const page = await listSchedules(db, project.id, req.query["page-token"]);
      const users = userLookup(db);
      return {
        items: await Promise.all(
          page.items.map(async (s) => presentSchedule(s, project, await users(s.actorId))),
        ),
        next_page_token: page.nextPageToken,
      };
    },
  );

  app.get<{ Params: { id: string } }>("/api/v2/schedule/:id", async (req) => {
    const { s, project } = await load(principalOf(req), req.params.id);
    return presentSchedule(s, project, await userLookup(db)(s.actorId));
  });

  app.patch<{ Params: { id: string } }>("/api/v2/schedule/:id", async (req) => {
    const who = principalOf(req);
    const { s, project } = await load(who, req.params.id);
    const body = parse(patchBody, req.body);
    if (Object.keys(body).length === 0) {
      throw invalid("nothing to update", [{ field: "body", message: "no fields given" }]);
    }
    const attribution = body["attribution-actor"] ?? s.attribution;
    const merged: Schedule = {
      ...s,
      name: body.name ?? s.name,
      description: body.description ?? s.description,
      timetable: body.timetable ?? s.timetable,
      parameters: body.parameters ?? s.parameters,
      attribution,
      actorId: body["attribution-actor"]
        ? attribution === "current"
          ? who.userId
          : null
        : s.actorId,
    };
    merged.nextRunAt = next(merged);
    const saved = await db.transaction(async (tx) => {
      const updated = await updateSchedule(tx, merged);
      await audit(tx, "schedule.update", who, updated, req.id);
      return updated;
    });
    return presentSchedule(saved, project, await userLookup(db)(saved.actorId));
  });

  app.delete<{ Params: { id: string } }>("/api/v2/schedule/:id", async (req) => {
    const who = principalOf(req);
    const { s } = await load(who, req.params.id);
    await db.transaction(async (tx) => {
      if (!(await deleteSchedule(tx, s.id))) throw notFound("Schedule");
      await audit(tx, "schedule.delete", who, s, req.id);
    });
    return { message: "Schedule deleted." };
  });
}
