import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { actorOf } from "../../audit/entities.js";
import { recordAudit } from "../../audit/log.js";
import { API_TOKEN_PREFIX, generateToken, hashToken } from "../../auth/tokens.js";
import { ControlPlaneError, invalid } from "../../model/errors.js";
import { getProjectBySlug } from "../../model/projects.js";
import type { User } from "../../model/records.js";
import { addMembership, createUser, getUserByLogin, insertApiToken } from "../../model/users.js";
import { presentUser } from "../present.js";
import { parse, principalOf } from "../server.js";
import type { CoreRouteDeps } from "./deps.js";

export const tokenBodySchema = z
  .object({
    /** Another user's login (admins only); created with `role` when it does not exist. */
    login: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, "letters, digits, '.', '_' or '-'")
      .optional(),
    name: z.string().max(200).optional(),
    role: z.enum(["admin", "member"]).optional(),
    /** Project slugs to add the user to (admins only). */
    projects: z.array(z.string()).optional(),
    label: z.string().max(200).optional(),
  })
  .strict();

/** `POST /api/v2/tokens`: a new API token for yourself, or (admins) for another user. */
export function registerTokenRoutes(app: FastifyInstance, deps: CoreRouteDeps): void {
  const { db } = deps;

  app.post("/api/v2/tokens", async (req, reply) => {
    const who = principalOf(req);
    const body = parse(tokenBodySchema, req.body);
    const forOther = body.login !== undefined && body.login !== who.login;
    if ((forOther || body.projects?.length || body.role) && who.role !== "admin") {
      throw new ControlPlaneError(
        "DROVER_ERR_FORBIDDEN",
        "Only admins may create tokens for others or grant access.",
      );
    }
    const token = generateToken(API_TOKEN_PREFIX);
    const result = await db.transaction(async (tx) => {
      let user: User | null = forOther ? await getUserByLogin(tx, body.login ?? "") : null;
      if (forOther && !user) {
        user = await createUser(tx, {
          login: body.login ?? "",
          role: body.role ?? "member",
          ...(body.name ? { name: body.name } : {}),
        });
        await recordAudit(tx, {
          action: "user.create",
          actor: { id: who.userId, type: "user", name: who.login },
          target: { id: user.id, type: "user", name: user.login },
          payload: { role: user.role },
          requestId: req.id,
        });
      }
      const userId = user?.id ?? who.userId;
      const projects: string[] = [];
      for (const [i, slug] of (body.projects ?? []).entries()) {
        const project = await getProjectBySlug(tx, slug);
        if (!project)
          throw invalid(`unknown project ${slug}`, [
            { field: `projects.${i}`, message: "no such project" },
          ]);
        await addMembership(tx, project.id, userId);
        projects.push(slug);
      }
      await insertApiToken(tx, userId, hashToken(token), body.label ?? "");
      await recordAudit(tx, {
        action: "user.api_token.create",
        actor: actorOf(who),
        target: user ? { id: user.id, type: "user", name: user.login } : actorOf(who),
        payload: { label: body.label ?? "", projects },
        requestId: req.id,
      });
      return { user, projects };
    });
    return reply.code(201).send({
      token,
      user: result.user
        ? presentUser(result.user)
        : { id: who.userId, login: who.login, name: who.name, role: who.role },
      projects: result.projects,
    });
  });
}
