import { Readable } from "node:stream";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { requireAdmin } from "../auth/guards.js";
import type { Database } from "../db/types.js";
import { auditCsv } from "./csv.js";
import { AuditError, queryAudit, streamAudit, type AuditFilter } from "./log.js";

const adminsOnly = (req: FastifyRequest): void => {
  requireAdmin(req, {
    code: "DROVER_ERR_AUDIT_FORBIDDEN",
    message: "Only admins may read the audit log.",
  });
};

type Query = Record<string, string | string[] | undefined>;

function time(q: Query, names: string[]): Date | undefined {
  for (const n of names) {
    const v = q[n];
    if (typeof v === "string" && v !== "") {
      const d = new Date(v);
      if (Number.isNaN(d.getTime())) {
        throw new AuditError("DROVER_ERR_AUDIT_INVALID", `${n}: not an ISO-8601 time`);
      }
      return d;
    }
  }
  return undefined;
}

function filterOf(q: Query): AuditFilter {
  const raw = q.action;
  const actions = (Array.isArray(raw) ? raw : raw ? [raw] : [])
    .flatMap((a) => a.split(","))
    .filter(Boolean);
  const actor = q["actor-id"];
  return {
    start: time(q, ["start", "start-time", "from"]),
    end: time(q, ["end", "end-time", "to"]),
    actions,
    actorId: typeof actor === "string" && actor !== "" ? actor : undefined,
  };
}

/**
 * `GET /api/v2/admin/audit-log` (filters `start`, `end`, `action` (repeatable or comma-separated),
 * `actor-id`; `limit`, `order`, `page-token`) and `GET /api/v2/admin/audit-log.csv` (same filters,
 * the whole range streamed oldest first). Admins only.
 */
export function registerAuditRoutes(app: FastifyInstance, deps: { db: Database }): void {
  app.get<{ Querystring: Query }>("/api/v2/admin/audit-log", async (req) => {
    adminsOnly(req);
    const q = req.query;
    const limit = typeof q.limit === "string" ? Number(q.limit) : undefined;
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 1000)) {
      throw new AuditError("DROVER_ERR_AUDIT_INVALID", "limit: an integer from 1 to 1000");
    }
    const order = q.order;
    if (order !== undefined && order !== "asc" && order !== "desc") {
      throw new AuditError("DROVER_ERR_AUDIT_INVALID", "order: asc or desc");
    }
    const page = await queryAudit(deps.db, {
      ...filterOf(q),
      limit,
      order,
      pageToken: typeof q["page-token"] === "string" ? q["page-token"] : undefined,
    });
    return { items: page.items, next_page_token: page.nextPageToken };
  });

  app.get<{ Querystring: Query }>("/api/v2/admin/audit-log.csv", async (req, reply) => {
    adminsOnly(req);
    const filter = filterOf(req.query);
    const stamp = new Date()
      .toISOString()
      .replaceAll(":", "")
      .replace(/\.\d+Z$/, "Z");
    return reply
      .header("content-type", "text/csv; charset=utf-8; header=present")
      .header("content-disposition", `attachment; filename="drover-audit-log-${stamp}.csv"`)
      .header("cache-control", "no-store")
      .send(Readable.from(auditCsv(streamAudit(deps.db, filter))));
  });
}
