import type { FastifyRequest } from "fastify";
import { actorOf } from "../../audit/entities.js";
import type { AuditContext } from "../../audit/events.js";
import { principalOf } from "../server.js";

/** The audit context of an authenticated API request: its user and its request id. */
export const auditOf = (req: FastifyRequest): AuditContext => ({
  actor: actorOf(principalOf(req)),
  requestId: req.id,
});

/** The audit context of an unauthenticated request (webhooks): `system` acting for `source`. */
export const systemAuditOf = (req: FastifyRequest, source: string): AuditContext => ({
  actor: { id: source, type: "system", name: source },
  requestId: req.id,
});
