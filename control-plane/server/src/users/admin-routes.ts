import type { FastifyInstance } from "fastify";
import { actorOf } from "../audit/entities.js";
import { requireAdmin } from "../api/server.js";
import type { Database } from "../db/types.js";
import { listUsers, removeMembership, removeUser } from "./admin.js";

/**
 * Admin routes of users (`{user}`: an id or a login): `GET /api/v2/admin/users`,
 * `DELETE /api/v2/admin/users/{user}` (the user, their tokens and sessions) and
 * `DELETE /api/v2/admin/users/{user}/projects/{vcs}/{org}/{repo}` (one project membership).
 */
export function registerUserAdminRoutes(app: FastifyInstance, deps: { db: Database }): void {
  const { db } = deps;

  app.get("/api/v2/admin/users", async (req) => {
    requireAdmin(req);
    return { items: await listUsers(db), next_page_token: null };
  });

  app.delete<{ Params: { user: string } }>("/api/v2/admin/users/:user", async (req, reply) => {
    const who = requireAdmin(req);
    await removeUser(db, req.params.user, { actor: actorOf(who), requestId: req.id });
    return reply.code(204).send();
  });

  app.delete<{ Params: { user: string; vcs: string; org: string; repo: string } }>(
    "/api/v2/admin/users/:user/projects/:vcs/:org/:repo",
    async (req, reply) => {
      const who = requireAdmin(req);
      const { user, vcs, org, repo } = req.params;
      await removeMembership(db, user, `${vcs}/${org}/${repo}`, {
        actor: actorOf(who),
        requestId: req.id,
      });
      return reply.code(204).send();
    },
  );
}
