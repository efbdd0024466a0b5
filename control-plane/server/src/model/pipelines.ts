import { PG_INTEGER_MAX } from "../db/limits.js";
import type { Queryable } from "../db/types.js";
import { z } from "zod";
import {
  cursorInteger,
  decodePageToken,
  encodePageToken,
  type Page,
  PAGE_SIZE,
} from "./pagination.js";
import type { Pipeline, PipelineError, PipelineState, PipelineVcs } from "./records.js";
import { toPipeline } from "./rows.js";

/** A project's pipelines: before this number. */
const NUMBER_CURSOR = z.object({ n: cursorInteger }).strict();
/** Recent pipelines: before this (created_at, id). */
const RECENT_CURSOR = z.object({ t: z.string().datetime(), i: z.string().uuid() }).strict();

export interface NewPipeline {
  id: string;
  projectId: string;
  number: number;
  state: PipelineState;
  triggerType: string;
  triggerActorId: string | null;
  triggerParameters: Record<string, unknown>;
  vcs: PipelineVcs;
  scheduleId?: string | null;
  parameters?: Record<string, unknown>;
  configSource?: string | null;
  configCompiled?: string | null;
  errors?: PipelineError[];
}

export async function insertPipeline(q: Queryable, p: NewPipeline): Promise<Pipeline> {
  const { rows } = await q.query(
    `INSERT INTO pipelines (id, project_id, number, state, trigger_type, trigger_actor_id,
                            trigger_parameters, vcs, schedule_id, parameters, config_source,
                            config_compiled, errors)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING *`,
    [
      p.id,
      p.projectId,
      p.number,
      p.state,
      p.triggerType,
      p.triggerActorId,
      JSON.stringify(p.triggerParameters),
      JSON.stringify(p.vcs),
      p.scheduleId ?? null,
      JSON.stringify(p.parameters ?? {}),
      p.configSource ?? null,
      p.configCompiled ?? null,
      JSON.stringify(p.errors ?? []),
    ],
  );
  return toPipeline(rows[0] ?? {});
}

export async function getPipeline(q: Queryable, id: string): Promise<Pipeline | null> {
  const { rows } = await q.query("SELECT * FROM pipelines WHERE id = $1", [id]);
  return rows[0] ? toPipeline(rows[0]) : null;
}

export async function getPipelineByNumber(
  q: Queryable,
  projectId: string,
  number: number,
): Promise<Pipeline | null> {
  const { rows } = await q.query("SELECT * FROM pipelines WHERE project_id = $1 AND number = $2", [
    projectId,
    number,
  ]);
  return rows[0] ? toPipeline(rows[0]) : null;
}

/** Newest first, keyset-paginated on the pipeline number; optionally one actor's (`mine`). */
export async function listPipelines(
  q: Queryable,
  projectId: string,
  opts: { branch?: string; actorId?: string; pageToken?: string; pageSize?: number },
): Promise<Page<Pipeline>> {
  const size = opts.pageSize ?? PAGE_SIZE;
  const before = decodePageToken(opts.pageToken, NUMBER_CURSOR)?.n ?? PG_INTEGER_MAX;
  const { rows } = await q.query(
    `SELECT * FROM pipelines WHERE project_id = $1 AND number < $2
        AND ($3::text IS NULL OR vcs->>'branch' = $3)
        AND ($5::uuid IS NULL OR trigger_actor_id = $5)
      ORDER BY number DESC LIMIT $4`,
    [projectId, before, opts.branch ?? null, size + 1, opts.actorId ?? null],
  );
  const items = rows.slice(0, size).map(toPipeline);
  const last = items[items.length - 1];
  return {
    items,
    nextPageToken: rows.length > size && last ? encodePageToken({ n: last.number }) : null,
  };
}

/** Pipelines across projects, newest first: the visible ones, optionally of one org or actor. */
export async function listRecentPipelines(
  q: Queryable,
  opts: {
    /** null: every project (admins). */
    projectIds: string[] | null;
    orgSlug?: string;
    actorId?: string;
    pageToken?: string;
    pageSize?: number;
  },
): Promise<Page<Pipeline>> {
  const size = opts.pageSize ?? PAGE_SIZE;
  const cursor = decodePageToken(opts.pageToken, RECENT_CURSOR);
  const { rows } = await q.query(
    `SELECT p.* FROM pipelines p JOIN projects pr ON pr.id = p.project_id
      WHERE ($1::uuid[] IS NULL OR p.project_id = ANY($1::uuid[]))
        AND ($2::text IS NULL OR pr.slug LIKE $2 || '/%')
        AND ($3::uuid IS NULL OR p.trigger_actor_id = $3)
        AND ($4::timestamptz IS NULL OR (p.created_at, p.id) < ($4::timestamptz, $5::uuid))
      ORDER BY p.created_at DESC, p.id DESC LIMIT $6`,
    [
      opts.projectIds,
      opts.orgSlug ?? null,
      opts.actorId ?? null,
      cursor?.t ?? null,
      cursor?.i ?? null,
      size + 1,
    ],
  );
  const items = rows.slice(0, size).map(toPipeline);
  const last = items[items.length - 1];
  return {
    items,
    nextPageToken:
      rows.length > size && last
        ? encodePageToken({ t: last.createdAt.toISOString(), i: last.id })
        : null,
  };
}
