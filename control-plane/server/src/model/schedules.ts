import type { Queryable } from "../db/types.js";
import { ControlPlaneError } from "./errors.js";
import { z } from "zod";
import {
  cursorInteger,
  decodePageToken,
  encodePageToken,
  type Page,
  PAGE_SIZE,
} from "./pagination.js";
import type { Schedule } from "./records.js";
import { toSchedule } from "./rows.js";

const OFFSET_CURSOR = z.object({ o: cursorInteger }).strict();

export async function insertSchedule(
  q: Queryable,
  s: Omit<Schedule, "createdAt" | "updatedAt">,
): Promise<Schedule> {
  const { rows } = await q.query(
    `INSERT INTO schedules (id, project_id, name, description, timetable, parameters, attribution, actor_id, next_run_at)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8, $9)
     ON CONFLICT (project_id, name) DO NOTHING RETURNING *`,
    [
      s.id,
      s.projectId,
      s.name,
      s.description,
      JSON.stringify(s.timetable),
      JSON.stringify(s.parameters),
      s.attribution,
      s.actorId,
      s.nextRunAt,
    ],
  );
  if (!rows[0])
    throw new ControlPlaneError("DROVER_ERR_CONFLICT", `a schedule named ${s.name} exists`);
  return toSchedule(rows[0]);
}

export async function getSchedule(q: Queryable, id: string): Promise<Schedule | null> {
  const { rows } = await q.query("SELECT * FROM schedules WHERE id = $1", [id]);
  return rows[0] ? toSchedule(rows[0]) : null;
}

export async function updateSchedule(q: Queryable, s: Schedule): Promise<Schedule> {
  const { rows } = await q.query(
    `UPDATE schedules SET name = $2, description = $3, timetable = $4::jsonb, parameters = $5::jsonb,
            attribution = $6, actor_id = $7, next_run_at = $8, updated_at = now()
      WHERE id = $1 RETURNING *`,
    [
      s.id,
      s.name,
      s.description,
      JSON.stringify(s.timetable),
      JSON.stringify(s.parameters),
      s.attribution,
      s.actorId,
      s.nextRunAt,
    ],
  );
  return toSchedule(rows[0] ?? {});
}

export async function deleteSchedule(q: Queryable, id: string): Promise<boolean> {
  return (await q.query("DELETE FROM schedules WHERE id = $1", [id])).rowCount > 0;
}

export async function listSchedules(
  q: Queryable,
  projectId: string,
  pageToken?: string,
): Promise<Page<Schedule>> {
  const offset = decodePageToken(pageToken, OFFSET_CURSOR)?.o ?? 0;
  const { rows } = await q.query(
    "SELECT * FROM schedules WHERE project_id = $1 ORDER BY created_at, id OFFSET $2 LIMIT $3",
    [projectId, offset, PAGE_SIZE + 1],
  );
  return {
    items: rows.slice(0, PAGE_SIZE).map(toSchedule),
    nextPageToken: rows.length > PAGE_SIZE ? encodePageToken({ o: offset + PAGE_SIZE }) : null,
  };
}
