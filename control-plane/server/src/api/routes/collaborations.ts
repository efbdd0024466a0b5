import type { FastifyInstance } from "fastify";
import { listProjects } from "../../model/projects.js";
import { providerName } from "../present.js";
import { principalOf } from "../server.js";
import type { CoreRouteDeps } from "./deps.js";

/**
 * `GET /api/v2/me/collaborations` (CircleCI API v2): the organizations of the projects the caller
 * can see (every organization for an admin), one entry per `vcs/org`.
 */
export function registerCollaborationRoutes(app: FastifyInstance, deps: CoreRouteDeps): void {
  app.get("/api/v2/me/collaborations", async (req) => {
    const who = principalOf(req);
    const projects = await listProjects(deps.db, who.role === "admin" ? undefined : who.projectIds);
    const orgs = new Map<string, Record<string, string>>();
    for (const p of projects) {
      const slug = `${p.vcs}/${p.org}`;
      if (orgs.has(slug)) continue;
      orgs.set(slug, {
        id: p.orgId,
        "vcs-type": providerName(p.vcs).toLowerCase(),
        name: p.org,
        avatar_url: "",
        slug,
      });
    }
    return [...orgs.values()];
  });
}
