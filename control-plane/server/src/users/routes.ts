import type { FastifyInstance, FastifyRequest } from "fastify";
import { UsersError } from "./errors.js";
import { requireTrustedOrigin } from "./origin.js";
import {
  clearSessionCookie,
  readSessionCookie,
  sessionCookie,
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
 * `POST /api/v2/auth/login` `{login, password}` (sets the session cookie; 429 with `Retry-After`
 * while rate limited; refused from a foreign `Origin`), `POST /api/v2/auth/logout` (clears it; a
 * trusted `Origin` required), `GET /api/v2/auth/session` (who the cookie is), and
 * `POST /api/v2/admin/users` `{login, name, role, password}` (admins; records `user.create`).
 * `trustedOrigins`: besides the request's own host (see `originProblem`).
 */
export function registerSessionRoutes(
  app: FastifyInstance,
  deps: { sessions: SessionService; trustedOrigins?: ReadonlySet<string> },
): void {
  const { sessions } = deps;
  const trusted = deps.trustedOrigins ?? new Set<string>();

  app.post("/api/v2/auth/login", { config: { auth: "none" } }, async (req, reply) => {
    // Login CSRF: a browser always sends Origin on a POST; a CLI sends none.
    requireTrustedOrigin(req, trusted, { allowMissing: true });
    const b = bodyOf(req);
    if (typeof b.login !== "string" || typeof b.password !== "string") {
      throw new UsersError("DROVER_ERR_USERS_INVALID", "body: {login, password} strings");
    }
    let result: Awaited<ReturnType<SessionService["login"]>>;
    try {
      result = await sessions.login(b.login, b.password, meta(req));
    } catch (err) {
      if (err instanceof UsersError && err.code === "DROVER_ERR_USERS_RATE_LIMITED") {
        return reply
          .code(429)
          .header("retry-after", String(err.retryAfterSeconds ?? 1))
          .send({ message: err.message, code: err.code });
      }
      throw err;
    }
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
    if (token) {
      requireTrustedOrigin(req, trusted);
      await sessions.logout(token, meta(req));
    }
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
