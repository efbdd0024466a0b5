import { randomUUID } from "node:crypto";
import type { Queryable } from "../db/types.js";
import { DroverError } from "../errors/index.js";
import {
  INSTANCE_SCOPE,
  isAuditAction,
  type AuditEntity,
  type AuditEvent,
  type AuditEventInput,
} from "./events.js";

/** Error of the audit log; statuses in `ERROR_CODES`. */
export class AuditError extends DroverError<
  "DROVER_ERR_AUDIT_INVALID" | "DROVER_ERR_AUDIT_PAGE_TOKEN" | "DROVER_ERR_AUDIT_FORBIDDEN"
> {}

const SECRET_KEY = /^(value|values|password|secret|secrets|token|plaintext)$/i;

function checkEntity(e: AuditEntity | undefined, field: string): void {
  if (!e || typeof e.id !== "string" || typeof e.type !== "string" || typeof e.name !== "string") {
    throw new AuditError("DROVER_ERR_AUDIT_INVALID", `${field} must be {id, type, name} strings`);
  }
}

function checkNoSecrets(obj: Record<string, unknown>, path: string): void {
  for (const [k, v] of Object.entries(obj)) {
    if (SECRET_KEY.test(k)) {
      throw new AuditError(
        "DROVER_ERR_AUDIT_INVALID",
        `${path}.${k}: audit events never carry secret values`,
      );
    }
    if (v && typeof v === "object" && !Array.isArray(v)) {
      checkNoSecrets(v as Record<string, unknown>, `${path}.${k}`);
    }
  }
}

const COLUMNS = `id, version, action, actor, target, scope, payload, metadata, success, request_id,
  to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS occurred_at, seq`;

interface Row {
  id: string;
  version: number;
  action: string;
  actor: unknown;
  target: unknown;
  scope: unknown;
  payload: unknown;
  metadata: unknown;
  success: boolean;
  request_id: string | null;
  occurred_at: string;
  seq: string | number;
}

const json = <T>(v: unknown): T => (typeof v === "string" ? (JSON.parse(v) as T) : (v as T));

function toEvent(r: Row): AuditEvent {
  return {
    id: r.id,
    version: 1,
    action: r.action,
    actor: json(r.actor),
    target: json(r.target),
    scope: json(r.scope),
    payload: json(r.payload),
    metadata: json(r.metadata),
    success: r.success,
    occurred_at: r.occurred_at,
    request: { id: r.request_id },
  };
}

/** Checks one event and returns its INSERT parameters (10 per event). */
function paramsOf(event: AuditEventInput): unknown[] {
  if (!isAuditAction(event.action)) {
    throw new AuditError(
      "DROVER_ERR_AUDIT_INVALID",
      `unknown audit action '${String(event.action)}'`,
    );
  }
  checkEntity(event.actor, "actor");
  checkEntity(event.target, "target");
  const scope = event.scope ?? INSTANCE_SCOPE;
  checkEntity(scope, "scope");
  const payload = event.payload ?? {};
  const metadata = event.metadata ?? {};
  checkNoSecrets(payload, "payload");
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== "string") {
      throw new AuditError("DROVER_ERR_AUDIT_INVALID", `metadata.${k} must be a string`);
    }
  }
  checkNoSecrets(metadata, "metadata");
  return [
    randomUUID(),
    event.action,
    JSON.stringify(pick(event.actor)),
    event.actor.id,
    JSON.stringify(pick(event.target)),
    JSON.stringify(pick(scope)),
    JSON.stringify(payload),
    JSON.stringify(metadata),
    event.success ?? true,
    event.requestId ?? null,
  ];
}

const INSERT = `INSERT INTO audit_events
  (id, action, actor, actor_id, target, scope, payload, metadata, success, request_id) VALUES`;

const valuesAt = (b: number): string =>
  `($${b + 1}, $${b + 2}, $${b + 3}::jsonb, $${b + 4}, $${b + 5}::jsonb, $${b + 6}::jsonb, ` +
  `$${b + 7}::jsonb, $${b + 8}::jsonb, $${b + 9}, $${b + 10})`;

/**
 * Records one event with `tx`, the caller's transaction: it commits with the action it records
 * and vanishes if that action rolls back. The table refuses UPDATE, DELETE and TRUNCATE.
 */
export async function recordAudit(tx: Queryable, event: AuditEventInput): Promise<AuditEvent> {
  const { rows } = await tx.query<Row>(
    `${INSERT} ${valuesAt(0)} RETURNING ${COLUMNS}`,
    paramsOf(event),
  );
  return toEvent(rows[0]!);
}

/**
 * Records several events with one INSERT in the caller's transaction (hot paths such as the
 * engine queueing jobs). Same checks and guarantees as `recordAudit`; nothing when empty.
 */
export async function recordAuditBatch(
  tx: Queryable,
  events: readonly AuditEventInput[],
): Promise<void> {
  if (events.length === 0) return;
  const params: unknown[] = [];
  const values: string[] = [];
  for (const e of events) {
    values.push(valuesAt(params.length));
    params.push(...paramsOf(e));
  }
  await tx.query(`${INSERT} ${values.join(", ")}`, params);
}

const pick = (e: AuditEntity): AuditEntity => ({ id: e.id, type: e.type, name: e.name });

export interface AuditFilter {
  /** Inclusive lower bound on `occurred_at`. */
  start?: Date | undefined;
  /** Exclusive upper bound on `occurred_at`. */
  end?: Date | undefined;
  actions?: readonly string[] | undefined;
  actorId?: string | undefined;
}

export interface AuditPageRequest extends AuditFilter {
  /** 1..1000, default 100. */
  limit?: number | undefined;
  pageToken?: string | undefined;
  /** Default `desc` (newest first). */
  order?: "asc" | "desc" | undefined;
}

export interface AuditPage {
  items: AuditEvent[];
  nextPageToken: string | null;
}

function where(filter: AuditFilter, params: unknown[]): string[] {
  const clauses: string[] = [];
  if (filter.start) {
    params.push(filter.start.toISOString());
    clauses.push(`occurred_at >= $${params.length}::timestamptz`);
  }
  if (filter.end) {
    params.push(filter.end.toISOString());
    clauses.push(`occurred_at < $${params.length}::timestamptz`);
  }
  if (filter.actions && filter.actions.length > 0) {
    params.push([...filter.actions]);
    clauses.push(`action = ANY($${params.length}::text[])`);
  }
  if (filter.actorId) {
    params.push(filter.actorId);
    clauses.push(`actor_id = $${params.length}`);
  }
  return clauses;
}

/** PostgreSQL's largest bigint: a sequence number past it cannot have been issued. */
const BIGINT_MAX = 9_223_372_036_854_775_807n;

function decodeToken(token: string | undefined, order: "asc" | "desc"): string | null {
  if (!token) return null;
  try {
    const v = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as {
      s?: unknown;
      o?: unknown;
    };
    if (
      typeof v.s === "string" &&
      /^[0-9]{1,19}$/.test(v.s) &&
      BigInt(v.s) <= BIGINT_MAX &&
      v.o === order
    ) {
      return v.s;
    }
  } catch {
    // fall through
  }
  throw new AuditError(
    "DROVER_ERR_AUDIT_PAGE_TOKEN",
    "page-token is not a token this query issued",
  );
}

const encodeToken = (seq: string, order: "asc" | "desc"): string =>
  Buffer.from(JSON.stringify({ s: seq, o: order })).toString("base64url");

/** One page of events matching the filter, by keyset on the log's sequence (stable under inserts). */
export async function queryAudit(q: Queryable, req: AuditPageRequest): Promise<AuditPage> {
  const order = req.order ?? "desc";
  const limit = Math.min(Math.max(Math.trunc(req.limit ?? 100), 1), 1000);
  const params: unknown[] = [];
  const clauses = where(req, params);
  const after = decodeToken(req.pageToken, order);
  if (after !== null) {
    params.push(after);
    clauses.push(`seq ${order === "asc" ? ">" : "<"} $${params.length}::bigint`);
  }
  params.push(limit + 1);
  const { rows } = await q.query<Row>(
    `SELECT ${COLUMNS} FROM audit_events
      ${clauses.length ? `WHERE ${clauses.join(" AND ")}` : ""}
      ORDER BY seq ${order} LIMIT $${params.length}`,
    params,
  );
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  return {
    items: page.map(toEvent),
    nextPageToken: more ? encodeToken(String(page[page.length - 1]!.seq), order) : null,
  };
}

/**
 * Every matching event, oldest first, fetched `batch` rows at a time by keyset: memory stays
 * bounded however many rows match, and a slow consumer slows the queries down (pull-based).
 */
export async function* streamAudit(
  q: Queryable,
  filter: AuditFilter,
  batch = 500,
): AsyncGenerator<AuditEvent> {
  let after = "0";
  for (;;) {
    const params: unknown[] = [];
    const clauses = where(filter, params);
    params.push(after);
    clauses.push(`seq > $${params.length}::bigint`);
    params.push(batch);
    const { rows } = await q.query<Row>(
      `SELECT ${COLUMNS} FROM audit_events WHERE ${clauses.join(" AND ")}
        ORDER BY seq ASC LIMIT $${params.length}`,
      params,
    );
    for (const r of rows) yield toEvent(r);
    if (rows.length < batch) return;
    after = String(rows[rows.length - 1]!.seq);
  }
}
