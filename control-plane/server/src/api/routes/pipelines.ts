import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { invalid, notFound } from "../../model/errors.js";
import { getPipelineByNumber, listPipelines, listRecentPipelines } from "../../model/pipelines.js";
import { getProject } from "../../model/projects.js";
import { MAX_CONFIG_BYTES, configOverLimit } from "../../pipelines/limits.js";
import type { Pipeline, Project } from "../../model/records.js";
import { listWorkflowsOfPipeline } from "../../model/workflows.js";
import { slugOf, userLookup, visiblePipeline, visibleProject, type SlugParams } from "../access.js";
import { presentPipeline, presentTriggeredPipeline, presentWorkflow } from "../present.js";
import { parse, principalOf } from "../server.js";
import { auditOf } from "./audit-context.js";
import type { CoreRouteDeps } from "./deps.js";

const paramValue = z.union([z.string(), z.number(), z.boolean()]);

export const triggerBodySchema = z
  .object({
    branch: z.string().min(1).max(255).optional(),
    tag: z.string().min(1).max(255).optional(),
    parameters: z.record(z.string(), paramValue).optional(),
    /** Drover: config text to use instead of the repository's (`drover run`). */
    config: z
      .string()
      .refine((text) => configOverLimit(text) === 0, {
        message: `must be at most ${MAX_CONFIG_BYTES} bytes of UTF-8 (the compiler's limit)`,
      })
      .optional(),
    /** Drover: the commit to build. */
    revision: z
      .string()
      .regex(/^[0-9a-f]{7,64}$/, "must be a commit hash")
      .optional(),
  })
  .strict();

const listQuery = z.object({
  branch: z.string().optional(),
  "page-token": z.string().optional(),
});

const mineQuery = z.object({ "page-token": z.string().optional() });

/** What a trigger asks for, from the classic body or `pipeline/run`. */
export interface TriggerInput {
  branch?: string | undefined;
  tag?: string | undefined;
  revision?: string | undefined;
  parameters?: Record<string, string | number | boolean> | undefined;
  config?: string | undefined;
}

/** The one trigger path of the API: the classic trigger and `pipeline/run` both end here. */
export async function triggerFor(
  deps: CoreRouteDeps,
  req: FastifyRequest,
  project: Project,
  input: TriggerInput,
): Promise<Pipeline> {
  return deps.trigger.trigger({
    project,
    triggerType: input.config !== undefined ? "explicit" : "api",
    actorId: principalOf(req).userId,
    ...(input.branch ? { branch: input.branch } : {}),
    ...(input.tag ? { tag: input.tag } : {}),
    ...(input.revision ? { revision: input.revision } : {}),
    ...(input.parameters ? { parameters: input.parameters } : {}),
    ...(input.config !== undefined ? { configSource: input.config } : {}),
    audit: auditOf(req),
  });
}

/** Trigger, list and read pipelines (CircleCI API v2). */
export function registerPipelineRoutes(app: FastifyInstance, deps: CoreRouteDeps): void {
  const { db } = deps;

  app.post<{ Params: SlugParams }>(
    "/api/v2/project/:vcs/:org/:repo/pipeline",
    async (req, reply) => {
      const who = principalOf(req);
      const project = await visibleProject(db, who, slugOf(req.params));
      const body = parse(triggerBodySchema, req.body);
      if (body.branch && body.tag) {
        throw invalid("branch and tag are exclusive", [
          { field: "tag", message: "cannot be combined with branch" },
        ]);
      }
      const p = await triggerFor(deps, req, project, body);
      return reply.code(201).send(presentTriggeredPipeline(p));
    },
  );

  app.get<{ Params: SlugParams; Querystring: Record<string, string> }>(
    "/api/v2/project/:vcs/:org/:repo/pipeline/mine",
    async (req) => {
      const who = principalOf(req);
      const project = await visibleProject(db, who, slugOf(req.params));
      const q = parse(mineQuery, req.query, "query");
      const page = await listPipelines(db, project.id, {
        actorId: who.userId,
        ...(q["page-token"] ? { pageToken: q["page-token"] } : {}),
      });
      const users = userLookup(db);
      return {
        items: await Promise.all(
          page.items.map(async (p) => presentPipeline(p, project, await users(p.triggerActorId))),
        ),
        next_page_token: page.nextPageToken,
      };
    },
  );

  app.get<{ Params: SlugParams; Querystring: Record<string, string> }>(
    "/api/v2/project/:vcs/:org/:repo/pipeline",
    async (req) => {
      const who = principalOf(req);
      const project = await visibleProject(db, who, slugOf(req.params));
      const q = parse(listQuery, req.query, "query");
      const page = await listPipelines(db, project.id, {
        ...(q.branch ? { branch: q.branch } : {}),
        ...(q["page-token"] ? { pageToken: q["page-token"] } : {}),
      });
      const users = userLookup(db);
      return {
        items: await Promise.all(
          page.items.map(async (p) => presentPipeline(p, project, await users(p.triggerActorId))),
        ),
        next_page_token: page.nextPageToken,
      };
    },
  );

  app.get<{ Params: SlugParams & { number: string } }>(
    "/api/v2/project/:vcs/:org/:repo/pipeline/:number",
    async (req) => {
      const who = principalOf(req);
      const project = await visibleProject(db, who, slugOf(req.params));
      const n = Number(req.params.number);
      const p = Number.isInteger(n) ? await getPipelineByNumber(db, project.id, n) : null;
      if (!p) throw notFound("Pipeline");
      return presentPipeline(p, project, await userLookup(db)(p.triggerActorId));
    },
  );

  const recentQuery = z.object({
    "org-slug": z
      .string()
      .regex(/^[a-z]+\/[A-Za-z0-9_.-]+$/, "must be <vcs>/<org>")
      .optional(),
    mine: z.enum(["true", "false"]).optional(),
    "page-token": z.string().optional(),
  });

  app.get<{ Querystring: Record<string, string> }>("/api/v2/pipeline", async (req) => {
    const who = principalOf(req);
    const q = parse(recentQuery, req.query, "query");
    const page = await listRecentPipelines(db, {
      projectIds: who.role === "admin" ? null : [...who.projectIds],
      ...(q["org-slug"] ? { orgSlug: q["org-slug"] } : {}),
      ...(q.mine === "true" ? { actorId: who.userId } : {}),
      ...(q["page-token"] ? { pageToken: q["page-token"] } : {}),
    });
    const users = userLookup(db);
    const projects = new Map<string, Promise<Project | null>>();
    const items = [];
    for (const p of page.items) {
      if (!projects.has(p.projectId)) projects.set(p.projectId, getProject(db, p.projectId));
      const project = await projects.get(p.projectId);
      if (project) items.push(presentPipeline(p, project, await users(p.triggerActorId)));
    }
    return { items, next_page_token: page.nextPageToken };
  });

  app.get<{ Params: { id: string } }>("/api/v2/pipeline/:id", async (req) => {
    const { pipeline, project } = await visiblePipeline(db, principalOf(req), req.params.id);
    return presentPipeline(pipeline, project, await userLookup(db)(pipeline.triggerActorId));
  });

  app.get<{ Params: { id: string } }>("/api/v2/pipeline/:id/config", async (req) => {
    const { pipeline } = await visiblePipeline(db, principalOf(req), req.params.id);
    return {
      source: pipeline.configSource ?? "",
      compiled: pipeline.configCompiled ?? "",
      "setup-config": "",
      "compiled-setup-config": "",
    };
  });

  app.get<{ Params: { id: string }; Querystring: Record<string, string> }>(
    "/api/v2/pipeline/:id/workflow",
    async (req) => {
      const { pipeline, project } = await visiblePipeline(db, principalOf(req), req.params.id);
      const q = parse(listQuery, req.query, "query");
      const page = await listWorkflowsOfPipeline(db, pipeline.id, {
        ...(q["page-token"] ? { pageToken: q["page-token"] } : {}),
      });
      return {
        items: page.items.map((w) => presentWorkflow(w, pipeline, project)),
        next_page_token: page.nextPageToken,
      };
    },
  );
}
