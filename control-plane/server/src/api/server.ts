import { randomUUID } from "node:crypto";
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from "fastify";
import type { Logger } from "pino";
import type { z } from "zod";
import type { Principal, TokenAuthenticator } from "../auth/principal.js";
import type { TaskPrincipal, TaskService } from "../engine/task-service.js";
import { ControlPlaneError, invalid, type FieldIssue } from "../model/errors.js";
import { checkRequestInput } from "./input.js";

/** How a route authenticates. Default: `/api/v2/*` user, `/internal/v1/tasks/{id}/*` task, else none. */
export type RouteAuth = "user" | "task" | "none";

declare module "fastify" {
  interface FastifyContextConfig {
    auth?: RouteAuth;
  }
  interface FastifyRequest {
    /** Set on user-authenticated routes. */
    principal?: Principal;
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
  /** Request body limit in bytes (default 1 MiB; larger bodies get 413). */
  bodyLimit?: number;
}

const STATUS: Record<ControlPlaneError["code"], number> = {
  DROVER_ERR_NOT_FOUND: 404,
  DROVER_ERR_VALIDATION: 400,
  DROVER_ERR_CONFLICT: 409,
  DROVER_ERR_UNAUTHENTICATED: 401,
  DROVER_ERR_FORBIDDEN: 403,
  DROVER_ERR_TASK_TOKEN: 401,
  DROVER_ERR_TASK_SESSION: 401,
  DROVER_ERR_GIT_FETCH: 502,
  DROVER_ERR_CONFIG_MISSING: 400,
  DROVER_ERR_WEBHOOK_SIGNATURE: 401,
  DROVER_ERR_INVALID_STATE: 409,
  DROVER_ERR_OUTPUT_UNAVAILABLE: 503,
};

function defaultAuth(url: string): RouteAuth {
  if (url.startsWith("/api/v2/")) return "user";
  if (url.startsWith("/internal/v1/tasks/") && !url.startsWith("/internal/v1/tasks/claim")) {
    return "task";
  }
  return "none";
}

/** The token of a request: `Circle-Token` header or `Authorization: Bearer`. */
export function requestToken(req: FastifyRequest): string | undefined {
  const circle = req.headers["circle-token"];
  if (typeof circle === "string" && circle) return circle;
  const auth = req.headers.authorization;
  const m = auth ? /^Bearer\s+(\S+)$/i.exec(auth) : null;
  return m?.[1];
}

/**
 * The API server without routes: request ids, body limit, JSON errors in CircleCI's shape
 * (`{message}` plus `code` and, for 400s, `errors: [{field, message}]`), the auth hook that
 * sets `request.principal` or `request.task`, and the input checks of `./input.ts`. Route modules are registered on it with
 * `registerXRoutes(app, deps)`.
 */
export function createApiServer(deps: ApiServerDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger.child({ unit: "api" }),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.bodyLimit ?? 1024 * 1024,
    genReqId: (req) => {
      const given = req.headers["x-request-id"];
      return typeof given === "string" && /^[\w-]{1,128}$/.test(given) ? given : randomUUID();
    },
    routerOptions: { ignoreTrailingSlash: true },
  }) as unknown as FastifyInstance;

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
        url: req.url,
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
    if (err instanceof ControlPlaneError) {
      const status = STATUS[err.code];
      if (status >= 500) req.log.warn({ err }, err.message);
      return reply.code(status).send({
        message: err.message,
        code: err.code,
        ...(err.fields.length ? { errors: err.fields } : {}),
      });
    }
    const e = err as { statusCode?: number; code?: string; message?: string };
    if (e.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      return reply
        .code(413)
        .send({ message: "Request body is larger than 1 MB.", code: "DROVER_ERR_BODY_TOO_LARGE" });
    }
    if (typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) {
      return reply.code(e.statusCode).send({
        message: e.message ?? "Bad request",
        code: e.statusCode === 400 ? "DROVER_ERR_VALIDATION" : (e.code ?? "DROVER_ERR_REQUEST"),
        ...(e.statusCode === 400
          ? { errors: [{ field: "body", message: e.message ?? "invalid" }] }
          : {}),
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

/** The principal of a user-authenticated route (the hook guarantees it). */
export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal)
    throw new ControlPlaneError("DROVER_ERR_UNAUTHENTICATED", "You must log in first.");
  return req.principal;
}

/** 403 unless the principal is an admin. */
export function requireAdmin(req: FastifyRequest): Principal {
  const p = principalOf(req);
  if (p.role !== "admin")
    throw new ControlPlaneError("DROVER_ERR_FORBIDDEN", "Only admins may do this.");
  return p;
}
