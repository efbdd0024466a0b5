import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { orgScope, projectEntity } from "../../audit/entities.js";
import { recordAudit } from "../../audit/log.js";
import { notFound } from "../../model/errors.js";
import { listProjects, createProject, updateProjectSettings } from "../../model/projects.js";
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

const settingsBody = z
  .object({
    default_branch: z.string().min(1).max(255).optional(),
    /** Merged into the project's settings; a null value removes the key. */
    settings: z.record(z.string(), z.unknown()).optional(),
    /** Draw a new webhook secret (returned once in the response). */
    rotate_webhook_secret: z.boolean().optional(),
    /** Set the webhook secret to this value (the one pasted into the git host). */
    webhook_secret: z
      .string()
      .min(16, "at least 16 characters")
      .max(256)
      .regex(/^[\x21-\x7e]+$/, "printable ASCII without spaces")
      .optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, "nothing to update")
  .refine(
    (b) => !(b.rotate_webhook_secret && b.webhook_secret !== undefined),
    "rotate_webhook_secret and webhook_secret exclude each other",
  );

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

  app.patch<{ Params: SlugParams }>("/api/v2/project/:vcs/:org/:repo/settings", async (req) => {
    const who = requireAdmin(req);
    const project = await visibleProject(db, who, slugOf(req.params));
    const body = parse(settingsBody, req.body);
    const audit = auditOf(req);
    const updated = await db.transaction(async (tx) => {
      const p = await updateProjectSettings(tx, project.id, {
        ...(body.default_branch ? { defaultBranch: body.default_branch } : {}),
        ...(body.settings ? { settings: body.settings } : {}),
        ...(body.rotate_webhook_secret ? { rotateWebhookSecret: true } : {}),
        ...(body.webhook_secret !== undefined ? { webhookSecret: body.webhook_secret } : {}),
      });
      if (!p) throw notFound("Project");
      await recordAudit(tx, {
        ...audit,
        action: "project.settings.update",
        target: projectEntity(p),
        scope: await orgScope(tx, p.orgId),
        // Which settings changed, never their values (a setting may hold a credential).
        payload: {
          ...(body.default_branch ? { default_branch: p.defaultBranch } : {}),
          settings: Object.keys(body.settings ?? {}),
          webhook_secret_rotated: Boolean(body.rotate_webhook_secret),
          ...(body.webhook_secret !== undefined ? { webhook_secret_set: true } : {}),
        },
      });
      return p;
    });
    return presentProject(updated, true);
  });

  app.get("/api/v2/project", async (req) => {
    const who = principalOf(req);
    const all = await listProjects(db, who.role === "admin" ? undefined : who.projectIds);
    return { items: all.map((p) => presentProject(p, false)), next_page_token: null };
  });

  app.get<{ Params: SlugParams }>("/api/v2/project/:vcs/:org/:repo", async (req) => {
    const who = principalOf(req);
    const project = await visibleProject(db, who, slugOf(req.params));
    // The webhook secret is shown only when drawn (create, rotate): pages read this route.
    return presentProject(project, false);
  });
}
