import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { orgScope, projectEntity } from "../../audit/entities.js";
import { recordAudit } from "../../audit/log.js";
import { listProjects, createProject } from "../../model/projects.js";
import { addMembership } from "../../model/users.js";
import { slugOf, visibleProject, type SlugParams } from "../access.js";
import { presentProject } from "../present.js";
import { parse, principalOf, requireAdmin } from "../server.js";
import { auditOf } from "./audit-context.js";
import type { CoreRouteDeps } from "./deps.js";

export const projectBodySchema = z
  .object({
    slug: z
      .string()
      .regex(/^[a-z]+\/[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, "must be <vcs>/<org>/<repo>"),
    repository_url: z
      .string()
      .regex(
        /^(file:\/\/|https?:\/\/|ssh:\/\/|git@|\/)/,
        "must be a file://, https:// or ssh git URL",
      ),
    default_branch: z.string().min(1).optional(),
    settings: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

/** Drover's project administration (CircleCI has no API for this) and `GET /project/{slug}`. */
export function registerProjectRoutes(app: FastifyInstance, deps: CoreRouteDeps): void {
  const { db } = deps;

  app.post("/api/v2/project", async (req, reply) => {
    const who = requireAdmin(req);
    const body = parse(projectBodySchema, req.body);
    const audit = auditOf(req);
    const project = await db.transaction(async (tx) => {
      const p = await createProject(tx, {
        slug: body.slug,
        repositoryUrl: body.repository_url,
        ...(body.default_branch ? { defaultBranch: body.default_branch } : {}),
        ...(body.settings ? { settings: body.settings } : {}),
      });
      await addMembership(tx, p.id, who.userId);
      await recordAudit(tx, {
        ...audit,
        action: "project.create",
        target: projectEntity(p),
        scope: await orgScope(tx, p.orgId),
        payload: {
          repository_url: p.repositoryUrl.replace(/\/\/[^@/]*@/, "//"),
          default_branch: p.defaultBranch,
          settings: Object.keys(body.settings ?? {}),
        },
      });
      return p;
    });
    return reply.code(201).send(presentProject(project, true));
  });

  app.get("/api/v2/project", async (req) => {
    const who = principalOf(req);
    const all = await listProjects(db, who.role === "admin" ? undefined : who.projectIds);
    return { items: all.map((p) => presentProject(p, false)), next_page_token: null };
  });

  app.get<{ Params: SlugParams }>("/api/v2/project/:vcs/:org/:repo", async (req) => {
    const who = principalOf(req);
    const project = await visibleProject(db, who, slugOf(req.params));
    return presentProject(project, who.role === "admin");
  });
}
