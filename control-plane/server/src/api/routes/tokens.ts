import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { actorOf } from "../../audit/entities.js";
import { recordAudit } from "../../audit/log.js";
import { API_TOKEN_PREFIX, generateToken, hashToken } from "../../auth/tokens.js";
import { ControlPlaneError, invalid, notFound } from "../../model/errors.js";
import { getProjectBySlug } from "../../model/projects.js";
import type { User } from "../../model/records.js";
import {
  addMembership,
  createUser,
  getUserByLogin,
  insertApiToken,
  listApiTokens,
  revokeApiToken,
  type ApiToken,
} from "../../model/users.js";
import { isUuid } from "../access.js";
import { presentUser } from "../present.js";
import { parse, principalOf } from "../server.js";
import type { CoreRouteDeps } from "./deps.js";

const DAY_MS = 86_400_000;
/** The longest lifetime a token may be given (ten years); without an expiry it never expires. */
const MAX_DAYS = 3650;

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
    /** When the token stops working (ISO-8601 with offset); or `expires_in_days`, not both. */
    expires_at: z.iso.datetime({ offset: true }).optional(),
    expires_in_days: z.number().int().min(1).max(MAX_DAYS).optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (b.expires_at !== undefined && b.expires_in_days !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["expires_in_days"],
        message: "give expires_at or expires_in_days, not both",
      });
    }
  });

const listQuery = z
  .object({
    /** Another user's login (admins only). */
    login: z.string().max(64).optional(),
  })
  .strict();

const presentToken = (t: ApiToken) => ({
  id: t.id,
  label: t.label,
  created_at: t.createdAt.toISOString(),
  last_used_at: t.lastUsedAt?.toISOString() ?? null,
  expires_at: t.expiresAt?.toISOString() ?? null,
});

/** The expiry a create body asks for (null: never), checked against `now`. */
function expiryOf(
  body: { expires_at?: string | undefined; expires_in_days?: number | undefined },
  now: Date,
): Date | null {
  if (body.expires_in_days !== undefined) {
    return new Date(now.getTime() + body.expires_in_days * DAY_MS);
  }
  if (body.expires_at === undefined) return null;
  const at = new Date(body.expires_at);
  if (at.getTime() <= now.getTime()) {
    throw invalid("Invalid body: expires_at: must be in the future", [
      { field: "expires_at", message: "must be in the future" },
    ]);
  }
  if (at.getTime() > now.getTime() + MAX_DAYS * DAY_MS) {
    throw invalid(`Invalid body: expires_at: at most ${MAX_DAYS} days ahead`, [
      { field: "expires_at", message: `at most ${MAX_DAYS} days ahead` },
    ]);
  }
  return at;
}

/**
 * Personal API tokens (CircleCI's public API has no token routes; Drover keeps its own family):
 * `POST /api/v2/tokens` a new token for yourself or (admins) another user, optionally expiring
 * (`expires_at` | `expires_in_days`); `GET /api/v2/tokens[?login=]` your unrevoked tokens (admins:
 * anyone's); `DELETE /api/v2/tokens/{id}` revokes one of yours (admins: anyone's), audited as
 * `user.api_token.revoke`. `now` is the clock expiries are computed with.
 */
export function registerTokenRoutes(
  app: FastifyInstance,
  deps: CoreRouteDeps & { now?: () => Date },
): void {
  const { db } = deps;
  const now = deps.now ?? (() => new Date());

  app.get("/api/v2/tokens", async (req) => {
    const who = principalOf(req);
    const query = parse(listQuery, req.query, "query");
    let userId = who.userId;
    if (query.login !== undefined && query.login !== who.login) {
      if (who.role !== "admin") {
        throw new ControlPlaneError("DROVER_ERR_FORBIDDEN", "Only admins may list others' tokens.");
      }
      const user = await getUserByLogin(db, query.login);
      if (!user) throw notFound("user");
      userId = user.id;
    }
    const tokens = await listApiTokens(db, userId);
    return { items: tokens.map(presentToken), next_page_token: null };
  });

  app.delete<{ Params: { id: string } }>("/api/v2/tokens/:id", async (req, reply) => {
    const who = principalOf(req);
    if (!isUuid(req.params.id)) throw notFound("token");
    await db.transaction(async (tx) => {
      const t = await revokeApiToken(
        tx,
        req.params.id,
        who.role === "admin" ? null : who.userId,
        now(),
      );
      if (!t) throw notFound("token");
      await recordAudit(tx, {
        action: "user.api_token.revoke",
        actor: actorOf(who),
        target: { id: t.userId, type: "user", name: t.login },
        payload: { token_id: t.id, label: t.label },
        requestId: req.id,
      });
    });
    return reply.code(204).send();
  });

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
    const expiresAt = expiryOf(body, now());
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
      const id = await insertApiToken(tx, userId, hashToken(token), body.label ?? "", expiresAt);
      await recordAudit(tx, {
        action: "user.api_token.create",
        actor: actorOf(who),
        target: user ? { id: user.id, type: "user", name: user.login } : actorOf(who),
        payload: {
          token_id: id,
          label: body.label ?? "",
          projects,
          expires_at: expiresAt?.toISOString() ?? null,
        },
        requestId: req.id,
      });
      return { id, user, projects };
    });
    return reply.code(201).send({
      id: result.id,
      token,
      label: body.label ?? "",
      expires_at: expiresAt?.toISOString() ?? null,
      user: result.user
        ? presentUser(result.user)
        : { id: who.userId, login: who.login, name: who.name, role: who.role },
      projects: result.projects,
    });
  });
}
