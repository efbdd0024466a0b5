import type { Queryable } from "../db/types.js";
import { SYSTEM_ACTOR, type AuditEntity } from "./events.js";

/** The actor of an API request (a principal) or of the system (null). */
export function actorOf(p: { userId: string; login: string } | null | undefined): AuditEntity {
  return p ? { id: p.userId, type: "user", name: p.login } : SYSTEM_ACTOR;
}

export const projectEntity = (p: { id: string; slug: string }): AuditEntity => ({
  id: p.id,
  type: "project",
  name: p.slug,
});

export const jobEntity = (j: { id: string; name: string }): AuditEntity => ({
  id: j.id,
  type: "job",
  name: j.name,
});

export const scheduleEntity = (s: { id: string; name: string }): AuditEntity => ({
  id: s.id,
  type: "schedule",
  name: s.name,
});

/** The organization scope of an event, `{id, type: "organization", name: "<vcs>/<org>"}`. */
export async function orgScope(q: Queryable, orgId: string): Promise<AuditEntity> {
  const { rows } = await q.query<{ vcs: string; name: string }>(
    "SELECT vcs, name FROM organizations WHERE id = $1",
    [orgId],
  );
  return { id: orgId, type: "organization", name: rows[0] ? `${rows[0].vcs}/${rows[0].name}` : "" };
}
