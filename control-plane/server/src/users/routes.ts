import type { FastifyInstance, FastifyRequest } from "fastify";
import {
  clearSessionCookie,
  readSessionCookie,
  sessionCookie,
  UsersError,
  type RequestMeta,
  type SessionService,
} from "./sessions.js";

const meta = (req: FastifyRequest): RequestMeta => ({
  requestId: req.id,
  ip: req.ip,
  userAgent: typeof req.headers["user-agent"] === "string" ? req.headers["user-agent"] : undefined,
});

const bodyOf = (req: FastifyRequest): Record<string, unknown> =>
  req.body && typeof req.body === "object" && !Array.isArray(req.body)
    ? (req.body as Record<string, unknown>)
    : {};

/**
 * `POST /api/v2/auth/login` `{login, password}` (sets the session cookie), `POST /api/v2/auth/logout`
 * (clears it), `GET /api/v2/auth/session` (who the cookie is), and `POST /api/v2/admin/users`
 * `{login, name, role, password}` (admins; records `user.create`).
 */
export function registerSessionRoutes(
  app: FastifyInstance,
  deps: { sessions: SessionService },
): void {
  const { sessions } = deps;

  app.post("/api/v2/auth/login", { config: { auth: "none" } }, async (req, reply) => {
    const b = bodyOf(req);
    if (typeof b.login !== "string" || typeof b.password !== "string") {
      throw new UsersError("DROVER_ERR_USERS_INVALID", "body: {login, password} strings");
    }
    const result = await sessions.login(b.login, b.password, meta(req));
    if (!result) {
      return reply
        .code(401)
        .send({ message: "Invalid login or password.", code: "DROVER_ERR_UNAUTHENTICATED" });
    }
    const u = result.user;
    return reply
      .header("set-cookie", sessionCookie(result.token, sessions.ttlSeconds))
      .header("cache-control", "no-store")
      .send({
        user: { id: u.userId, login: u.login, name: u.name, role: u.role },
        expires_at: result.expiresAt.toISOString(),
      });
  });

  app.post("/api/v2/auth/logout", { config: { auth: "none" } }, async (req, reply) => {
    const token = readSessionCookie(req.headers.cookie);
    if (token) await sessions.logout(token, meta(req));
    return reply.header("set-cookie", clearSessionCookie()).send({ message: "Logged out." });
  });

  app.get("/api/v2/auth/session", { config: { auth: "none" } }, async (req, reply) => {
    const token = readSessionCookie(req.headers.cookie);
    const u = token ? await sessions.authenticate(token) : null;
    if (!u)
      return reply
        .code(401)
        .send({ message: "You must log in first.", code: "DROVER_ERR_UNAUTHENTICATED" });
    return { user: { id: u.userId, login: u.login, name: u.name, role: u.role } };
  });

  app.post("/api/v2/admin/users", async (req, reply) => {
    const p = (req as unknown as { principal?: { userId: string; login: string; role: string } })
      .principal;
    if (p?.role !== "admin")
      throw new UsersError("DROVER_ERR_USERS_FORBIDDEN", "Only admins may create users.");
    const b = bodyOf(req);
    const user = await sessions.createLocalUser(
      { id: p.userId, type: "user", name: p.login },
      { login: b.login, name: b.name, role: b.role, password: b.password },
      meta(req),
    );
    return reply.code(201).send(user);
  });
}
