import { randomUUID } from "node:crypto";
import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from "fastify";
import type { Logger } from "pino";
import type { z } from "zod";
import type { Principal, TokenAuthenticator } from "../auth/principal.js";
import type { TaskPrincipal, TaskService } from "../engine/task-service.js";
import { DroverError, statusOf, type ErrorCode } from "../errors/index.js";
import { ControlPlaneError, invalid, type FieldIssue } from "../model/errors.js";
import { API_BODY_LIMIT } from "../pipelines/limits.js";

// The admin guard lives in auth/; route modules keep importing it from here too.
export { principalOf, requireAdmin } from "../auth/guards.js";
import { checkRequestInput } from "./input.js";

/** How a route authenticates. Default: `/api/v2/*` user, `/internal/v1/tasks/{id}/*` task, else none. */
export type RouteAuth = "user" | "task" | "none";

declare module "fastify" {
  interface FastifyContextConfig {
    auth?: RouteAuth;
  }
  interface FastifyRequest {
    /** Set on task-session routes (`/internal/v1/tasks/{taskId}/...`). */
    task?: TaskPrincipal;
  }
}

/**
 * Another way to authenticate a user request (e.g. a browser session cookie). Tried in order
 * when the request carries no API token; returns null to pass.
 */
export type RequestAuthenticator = (req: FastifyRequest) => Promise<Principal | null>;

export interface ApiServerDeps {
  logger: Logger;
  authenticator: TokenAuthenticator;
  authenticators?: RequestAuthenticator[];
  tasks: TaskService;
  /** Request body limit in bytes (default `API_BODY_LIMIT`, from the config limit; larger get 413). */
  bodyLimit?: number;
  /** Serve HTTPS with this PEM certificate and key (`DROVER_TLS_CERT`/`DROVER_TLS_KEY`). */
  https?: { cert: string; key: string };
}

/** The code the API answers a 4xx of the HTTP layer (fastify: body parsing, URL) with. */
function httpLayerCode(status: number, fastifyCode: string | undefined): ErrorCode {
  if (status === 413) return "DROVER_ERR_BODY_TOO_LARGE";
  if (status === 414) return "DROVER_ERR_URL_TOO_LONG";
  if (status === 415) return "DROVER_ERR_MEDIA_TYPE";
  if (fastifyCode === "FST_ERR_VALIDATION" || fastifyCode?.startsWith("FST_ERR_CTP_")) {
    return "DROVER_ERR_VALIDATION";
  }
  return "DROVER_ERR_REQUEST";
}

function defaultAuth(url: string): RouteAuth {
  if (url.startsWith("/api/v2/")) return "user";
  if (url.startsWith("/api/v1.1/")) return "user";
  if (url.startsWith("/internal/v1/tasks/") && !url.startsWith("/internal/v1/tasks/claim")) {
    return "task";
  }
  return "none";
}

/**
 * The token of a request: `Circle-Token` header or `Authorization: Bearer`; on `/api/v1.1/` also
 * the `circle-token` query parameter, which CircleCI's v1.1 clients send.
 */
export function requestToken(req: FastifyRequest): string | undefined {
  const circle = req.headers["circle-token"];
  if (typeof circle === "string" && circle) return circle;
  const auth = req.headers.authorization;
  const m = auth ? /^Bearer\s+(\S+)$/i.exec(auth) : null;
  if (m?.[1]) return m[1];
  if (!req.url.startsWith("/api/v1.1/")) return undefined;
  const q = (req.query as Record<string, unknown> | undefined)?.["circle-token"];
  return typeof q === "string" && q ? q : undefined;
}

/** `/api/v2/{project|insights}/gh%2Forg%2Frepo/...` (a slug sent as one encoded segment). */
const ENCODED_SLUG = /^(\/api\/v2\/(?:project|insights)\/)([^/?]*%2[Ff][^/?]*)/;

/** Decodes the `/` of a project slug that a client sent URL-encoded, as CircleCI accepts it. */
export function rewriteSlugUrl(url: string): string {
  return url.replace(
    ENCODED_SLUG,
    (_m, head: string, slug: string) => head + slug.replace(/%2[Ff]/g, "/"),
  );
}

/**
 * The API server without routes: request ids, body limit, JSON errors in CircleCI's shape
 * (`{message}` plus the stable `code` of every `DroverError`, `errors: [{field, message}]` for
 * 400s, and `request_id` for 5xx, which are logged as our faults), the auth hook that
 * sets `request.principal` or `request.task`, and the input checks of `./input.ts`. Route modules are registered on it with
 * `registerXRoutes(app, deps)`.
 */
export function createApiServer(deps: ApiServerDeps): FastifyInstance {
  const app = Fastify({
    ...(deps.https ? { https: deps.https } : {}),
    loggerInstance: deps.logger.child({ unit: "api" }),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.bodyLimit ?? API_BODY_LIMIT,
    genReqId: (req) => {
      const given = req.headers["x-request-id"];
      return typeof given === "string" && /^[\w-]{1,128}$/.test(given) ? given : randomUUID();
    },
    routerOptions: { ignoreTrailingSlash: true },
    rewriteUrl: (req) => rewriteSlugUrl(req.url ?? "/"),
    // Errors fastify raises before routing (a malformed percent-encoding in the path): our shape.
    frameworkErrors: (err, _req, reply: FastifyReply) => {
      void reply.code(400).send({
        message: `the request URL cannot be read: ${err.message}`,
        code: "DROVER_ERR_REQUEST",
      });
    },
  }) as unknown as FastifyInstance;

  // An empty body sent as JSON is no body (CircleCI accepts it; some clients send the header on
  // every call, DELETE included). Anything else goes to fastify's own JSON parser.
  const json = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (req, body, done) => {
    const text = body.toString();
    if (text === "") {
      done(null, undefined);
      return;
    }
    json(req, text, done);
  });

  // Security headers on every answer; a page that sets its own CSP keeps it. No CORS headers are
  // ever sent: other origins cannot read answers (CORS is closed).
  app.addHook("onSend", async (req, reply, payload) => {
    void reply.header("x-content-type-options", "nosniff");
    void reply.header("x-frame-options", "DENY");
    void reply.header("referrer-policy", "no-referrer");
    void reply.header("cross-origin-opener-policy", "same-origin");
    if (!reply.hasHeader("content-security-policy")) {
      void reply.header("content-security-policy", "default-src 'none'; frame-ancestors 'none'");
    }
    if (req.protocol === "https") {
      void reply.header("strict-transport-security", "max-age=31536000; includeSubDomains");
    }
    return payload;
  });

  app.addHook("onRequest", async (req, reply) => {
    void reply.header("x-request-id", req.id);
    const auth = req.routeOptions.config.auth ?? defaultAuth(req.url);
    if (auth === "user") {
      const token = requestToken(req);
      let principal = token ? await deps.authenticator.authenticate(token) : null;
      if (!token) {
        for (const auth of deps.authenticators ?? []) {
          principal = await auth(req);
          if (principal) break;
        }
      }
      if (!principal) {
        throw new ControlPlaneError(
          "DROVER_ERR_UNAUTHENTICATED",
          token ? "Invalid token provided." : "You must log in first.",
        );
      }
      req.principal = principal;
    } else if (auth === "task") {
      const taskId =
        (req.params as { taskId?: string } | undefined)?.taskId ?? req.url.split("/")[4] ?? "";
      const token = requestToken(req);
      const task = token ? await deps.tasks.authenticate(taskId, token) : null;
      if (!task) {
        throw new ControlPlaneError(
          "DROVER_ERR_TASK_SESSION",
          "task session is invalid or the task is final",
        );
      }
      req.task = task;
    }
  });

  app.addHook("preValidation", checkRequestInput);

  app.addHook("onResponse", async (req, reply) => {
    req.log.debug(
      {
        reqId: req.id,
        method: req.method,
        url: req.url.replace(/([?&]circle-token=)[^&]*/i, "$1[redacted]"),
        status: reply.statusCode,
        ms: reply.elapsedTime,
      },
      "request",
    );
  });

  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({
      message: `Not found: ${req.method} ${req.url.split("?")[0]}`,
      code: "DROVER_ERR_NOT_FOUND",
    });
  });

  app.setErrorHandler((err: unknown, req, reply) => {
    if (err instanceof DroverError) {
      // 5xx: our infrastructure failed (logged with its cause chain); 4xx: the caller's input.
      if (err.fault === "infrastructure") req.log.error({ err }, err.message);
      return reply.code(err.statusCode).send({
        message: err.message,
        code: err.code,
        ...(err.fields.length ? { errors: err.fields } : {}),
        ...(err.fault === "infrastructure" ? { request_id: req.id } : {}),
      });
    }
    const e = err as { statusCode?: number; code?: string; message?: string };
    if (typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) {
      const code = httpLayerCode(e.statusCode, e.code);
      const message =
        code === "DROVER_ERR_BODY_TOO_LARGE"
          ? `Request body is larger than the limit of ${req.routeOptions.bodyLimit ?? app.initialConfig.bodyLimit} bytes.`
          : (e.message ?? "Bad request");
      return reply.code(statusOf(code)).send({
        message,
        code,
        ...(code === "DROVER_ERR_VALIDATION" ? { errors: [{ field: "body", message }] } : {}),
      });
    }
    req.log.error({ err }, "request failed");
    return reply
      .code(500)
      .send({ message: "Internal server error", code: "DROVER_ERR_INTERNAL", request_id: req.id });
  });

  return app;
}

/** Parses `value` with a zod schema; a failure is a 400 listing every offending field. */
export function parse<S extends z.ZodType>(schema: S, value: unknown, where = "body"): z.infer<S> {
  const result = schema.safeParse(value ?? (where === "body" ? {} : value));
  if (result.success) return result.data;
  const fields: FieldIssue[] = result.error.issues.map((i) => ({
    field: i.path.length ? i.path.map(String).join(".") : where,
    message: i.message,
  }));
  throw invalid(
    `Invalid ${where}: ${fields.map((f) => `${f.field}: ${f.message}`).join("; ")}`,
    fields,
  );
}
