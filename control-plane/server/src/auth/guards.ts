import type { FastifyRequest } from "fastify";
import { DroverError } from "../errors/index.js";
import type { Principal } from "./principal.js";

declare module "fastify" {
  interface FastifyRequest {
    /** Set by the API server's auth hook on user-authenticated routes. */
    principal?: Principal;
  }
}

/** Codes an admin-only route may refuse with (403). */
export type ForbiddenCode =
  | "DROVER_ERR_FORBIDDEN"
  | "DROVER_ERR_AUDIT_FORBIDDEN"
  | "DROVER_ERR_USERS_FORBIDDEN"
  | "DROVER_ERR_CONTEXTS_FORBIDDEN";

/** The principal of a user-authenticated request; 401 when there is none. */
export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new DroverError("DROVER_ERR_UNAUTHENTICATED", "You must log in first.");
  return req.principal;
}

/**
 * The one admin guard: the request's principal when it is an admin, else a 403 with `code`
 * (default `DROVER_ERR_FORBIDDEN`; areas keep their own stable codes).
 */
export function requireAdmin(
  req: FastifyRequest,
  deny: { code?: ForbiddenCode; message?: string } = {},
): Principal {
  const p = principalOf(req);
  if (p.role !== "admin") {
    throw new DroverError(
      deny.code ?? "DROVER_ERR_FORBIDDEN",
      deny.message ?? "Only admins may do this.",
    );
  }
  return p;
}
