import { orgScope } from "../audit/entities.js";
import type { AuditContext } from "../audit/events.js";
import { recordAudit } from "../audit/log.js";
import type { Database, Queryable } from "../db/types.js";
import { notFound } from "../model/errors.js";
import { UsersError } from "./errors.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A user as admins list them, with the slugs of the projects they are a member of. */
export interface UserSummary {
  id: string;
  login: string;
  name: string;
  role: "admin" | "member";
  created_at: string;
  projects: string[];
}

/** Every user, by login. */
export async function listUsers(q: Queryable): Promise<UserSummary[]> {
  const { rows } = await q.query<{
    id: string;
    login: string;
    name: string;
    role: "admin" | "member";
    created_at: Date | string;
    projects: string[] | null;
  }>(
    `SELECT u.id, u.login, u.name, u.role, u.created_at,
        (SELECT array_agg(p.slug ORDER BY p.slug) FROM project_members pm
           JOIN projects p ON p.id = pm.project_id WHERE pm.user_id = u.id) AS projects
       FROM users u ORDER BY u.login`,
  );
  return rows.map((r) => ({
    id: r.id,
    login: r.login,
    name: r.name,
    role: r.role,
    created_at: new Date(r.created_at).toISOString(),
    projects: r.projects ?? [],
  }));
}

/** A user by id (a UUID) or else by login, locked for the rest of the transaction. */
async function lockUser(
  tx: Queryable,
  idOrLogin: string,
): Promise<{ id: string; login: string; role: "admin" | "member" }> {
  const { rows } = await tx.query<{ id: string; login: string; role: "admin" | "member" }>(
    UUID.test(idOrLogin)
      ? "SELECT id, login, role FROM users WHERE id = $1 FOR UPDATE"
      : "SELECT id, login, role FROM users WHERE login = $1 FOR UPDATE",
    [idOrLogin],
  );
  if (!rows[0]) throw notFound("user");
  return rows[0];
}

/**
 * Removes a user (by id or login) with everything that is theirs alone: API tokens, sessions,
 * password, SSH keys, project and group memberships (all `ON DELETE CASCADE`); pipelines and jobs
 * keep their history with the actor cleared. Since tokens and sessions are looked up on every
 * request, they stop working when this commits. The last admin cannot be removed. Records
 * `user.delete`.
 */
export async function removeUser(
  db: Database,
  idOrLogin: string,
  audit: AuditContext,
): Promise<{ id: string; login: string }> {
  return db.transaction(async (tx) => {
    // Admins locked in one order: two admins removing each other cannot both succeed.
    const { rows: admins } = await tx.query<{ id: string }>(
      "SELECT id FROM users WHERE role = 'admin' ORDER BY id FOR UPDATE",
    );
    const user = await lockUser(tx, idOrLogin);
    if (user.role === "admin" && admins.length <= 1) {
      throw new UsersError(
        "DROVER_ERR_USERS_CONFLICT",
        `${user.login} is the last admin; make another admin first.`,
      );
    }
    await tx.query("DELETE FROM users WHERE id = $1", [user.id]);
    await recordAudit(tx, {
      ...audit,
      action: "user.delete",
      target: { id: user.id, type: "user", name: user.login },
      payload: { login: user.login, role: user.role },
    });
    return { id: user.id, login: user.login };
  });
}

/** Removes a user (by id or login) from a project; records `project.member.remove`. */
export async function removeMembership(
  db: Database,
  idOrLogin: string,
  slug: string,
  audit: AuditContext,
): Promise<void> {
  await db.transaction(async (tx) => {
    const user = await lockUser(tx, idOrLogin);
    const { rows } = await tx.query<{ id: string; org_id: string }>(
      `DELETE FROM project_members pm USING projects p
        WHERE pm.project_id = p.id AND p.slug = $1 AND pm.user_id = $2
        RETURNING p.id, p.org_id`,
      [slug, user.id],
    );
    const project = rows[0];
    if (!project) throw notFound("membership");
    await recordAudit(tx, {
      ...audit,
      action: "project.member.remove",
      target: { id: user.id, type: "user", name: user.login },
      scope: await orgScope(tx, project.org_id),
      payload: { project: slug, project_id: project.id },
    });
  });
}
