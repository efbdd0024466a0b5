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

/** A context's restrictions by type (ids); no restriction of a type means that type allows all. */
export interface Restrictions {
  projects: string[];
  groups: string[];
}

/** Who would use a context: a job (its project and user) or a user (every project they are in). */
export type Subject =
  | { kind: "job"; projectId: string; userId: string | null }
  | { kind: "user"; projectIds: readonly string[]; userId: string };

export async function loadRestrictions(q: Queryable, contextId: string): Promise<Restrictions> {
  const { rows } = await q.query<{ restriction_type: string; restriction_value: string }>(
    "SELECT restriction_type, restriction_value FROM context_restrictions WHERE context_id = $1",
    [contextId],
  );
  const of = (type: string) =>
    rows.filter((r) => r.restriction_type === type).map((r) => r.restriction_value);
  return { projects: of("project"), groups: of("group") };
}

export const isRestricted = (r: Restrictions): boolean =>
  r.projects.length > 0 || r.groups.length > 0;

/**
 * Why `subject` may not use a context with these restrictions, or null when it may (the rule of
 * `README.md`). Within one restriction type any match allows; across types all must allow. A job
 * matches a project restriction with its project, a user with any project they are a member of.
 */
export async function restrictionDenial(
  q: Queryable,
  restrictions: Restrictions,
  subject: Subject,
): Promise<string | null> {
  const { projects, groups } = restrictions;
  if (projects.length > 0) {
    const mine = subject.kind === "job" ? [subject.projectId] : subject.projectIds;
    if (!mine.some((p) => projects.includes(p))) {
      return subject.kind === "job"
        ? "the project is not among the context's allowed projects"
        : "you are not a member of any of the context's allowed projects";
    }
  }
  if (groups.length > 0) {
    if (!subject.userId) return "the context is restricted to user groups and the job has no user";
    const member = await q.query(
      "SELECT 1 FROM user_group_members WHERE user_id = $1 AND group_id = ANY($2::uuid[]) LIMIT 1",
      [subject.userId, groups],
    );
    if (member.rows.length === 0) {
      return subject.kind === "job"
        ? "the user is not in any of the context's allowed groups"
        : "you are not in any of the context's allowed groups";
    }
  }
  return null;
}
