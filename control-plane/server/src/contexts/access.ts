import type { Queryable } from "../db/types.js";

/**
 * Who acts: the fields of the API's principal that env vars and contexts need (structurally the
 * control plane's `Principal`).
 */
export interface Actor {
  userId: string;
  login: string;
  role: "admin" | "member";
  projectIds: ReadonlySet<string>;
}

/** The actor and the HTTP request id, for audit records. */
export interface CallContext {
  actor: Actor;
  requestId?: string | undefined;
}

export const canSeeProject = (a: Actor, projectId: string): boolean =>
  a.role === "admin" || a.projectIds.has(projectId);

/** True when the actor is an admin or a member of a project of the organization. */
export async function canSeeOrg(q: Queryable, a: Actor, orgId: string): Promise<boolean> {
  if (a.role === "admin") return true;
  if (a.projectIds.size === 0) return false;
  const { rows } = await q.query(
    "SELECT 1 FROM projects WHERE org_id = $1 AND id = ANY($2::uuid[]) LIMIT 1",
    [orgId, [...a.projectIds]],
  );
  return rows.length > 0;
}

/**
 * Why a job of `projectId` run by `userId` may not use the context, or null when it may. Within
 * one restriction type any match allows; across types all must allow. With `projectId` undefined
 * only group restrictions are checked (editing a restricted context).
 */
export async function restrictionDenial(
  q: Queryable,
  contextId: string,
  subject: { projectId?: string | undefined; userId: string | null },
): Promise<string | null> {
  const { rows } = await q.query<{ restriction_type: string; restriction_value: string }>(
    "SELECT restriction_type, restriction_value FROM context_restrictions WHERE context_id = $1",
    [contextId],
  );
  const projects = rows
    .filter((r) => r.restriction_type === "project")
    .map((r) => r.restriction_value);
  const groups = rows.filter((r) => r.restriction_type === "group").map((r) => r.restriction_value);
  if (
    subject.projectId !== undefined &&
    projects.length > 0 &&
    !projects.includes(subject.projectId)
  ) {
    return "the project is not among the context's allowed projects";
  }
  if (groups.length > 0) {
    if (!subject.userId) return "the context is restricted to user groups and the job has no user";
    const member = await q.query(
      "SELECT 1 FROM user_group_members WHERE user_id = $1 AND group_id = ANY($2::uuid[]) LIMIT 1",
      [subject.userId, groups],
    );
    if (member.rows.length === 0) return "the user is not in any of the context's allowed groups";
  }
  return null;
}
