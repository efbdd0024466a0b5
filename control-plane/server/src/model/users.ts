import { randomUUID } from "node:crypto";
import type { Queryable } from "../db/types.js";
import { ControlPlaneError } from "./errors.js";
import type { Role, SshKey, User } from "./records.js";
import { toSshKey, toUser } from "./rows.js";

export async function createUser(
  q: Queryable,
  input: { login: string; name?: string; role: Role },
): Promise<User> {
  const { rows } = await q.query(
    `INSERT INTO users (id, login, name, role) VALUES ($1, $2, $3, $4)
     ON CONFLICT (login) DO NOTHING RETURNING *`,
    [randomUUID(), input.login, input.name ?? input.login, input.role],
  );
  if (!rows[0]) throw new ControlPlaneError("DROVER_ERR_CONFLICT", `user ${input.login} exists`);
  return toUser(rows[0]);
}

export async function getUser(q: Queryable, id: string): Promise<User | null> {
  const { rows } = await q.query("SELECT * FROM users WHERE id = $1", [id]);
  return rows[0] ? toUser(rows[0]) : null;
}

export async function getUserByLogin(q: Queryable, login: string): Promise<User | null> {
  const { rows } = await q.query("SELECT * FROM users WHERE login = $1", [login]);
  return rows[0] ? toUser(rows[0]) : null;
}

export async function countUsers(q: Queryable): Promise<number> {
  const { rows } = await q.query<{ n: number }>("SELECT count(*)::int AS n FROM users");
  return Number(rows[0]?.n ?? 0);
}

/** Stores a token by its hash only. */
export async function insertApiToken(
  q: Queryable,
  userId: string,
  tokenHash: string,
  label: string,
): Promise<string> {
  const id = randomUUID();
  await q.query("INSERT INTO api_tokens (id, user_id, token_hash, label) VALUES ($1, $2, $3, $4)", [
    id,
    userId,
    tokenHash,
    label,
  ]);
  return id;
}

/** The user of a live token, with project memberships; null for unknown or revoked tokens. */
export async function userByTokenHash(
  q: Queryable,
  tokenHash: string,
): Promise<{ user: User; projectIds: string[] } | null> {
  const { rows } = await q.query(
    `SELECT u.*, COALESCE(
        (SELECT array_agg(pm.project_id::text) FROM project_members pm WHERE pm.user_id = u.id),
        '{}') AS project_ids
       FROM api_tokens t JOIN users u ON u.id = t.user_id
      WHERE t.token_hash = $1 AND t.revoked_at IS NULL`,
    [tokenHash],
  );
  const row = rows[0];
  if (!row) return null;
  return { user: toUser(row), projectIds: (row.project_ids as string[] | null) ?? [] };
}

export async function addMembership(
  q: Queryable,
  projectId: string,
  userId: string,
): Promise<void> {
  await q.query(
    "INSERT INTO project_members (project_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    [projectId, userId],
  );
}

export async function listSshKeys(q: Queryable, userId: string): Promise<SshKey[]> {
  const { rows } = await q.query(
    "SELECT * FROM ssh_keys WHERE user_id = $1 ORDER BY created_at, id",
    [userId],
  );
  return rows.map(toSshKey);
}

export async function addSshKey(
  q: Queryable,
  input: { userId: string; title: string; publicKey: string; fingerprint: string },
): Promise<SshKey> {
  const { rows } = await q.query(
    `INSERT INTO ssh_keys (id, user_id, title, public_key, fingerprint) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (user_id, fingerprint) DO NOTHING RETURNING *`,
    [randomUUID(), input.userId, input.title, input.publicKey, input.fingerprint],
  );
  if (!rows[0]) {
    throw new ControlPlaneError("DROVER_ERR_CONFLICT", `key ${input.fingerprint} is registered`);
  }
  return toSshKey(rows[0]);
}

/** Deletes by id or fingerprint; the deleted key, or null if the user has no such key. */
export async function deleteSshKey(
  q: Queryable,
  userId: string,
  idOrFingerprint: string,
): Promise<SshKey | null> {
  const { rows } = await q.query(
    "DELETE FROM ssh_keys WHERE user_id = $1 AND (id::text = $2 OR fingerprint = $2) RETURNING *",
    [userId, idOrFingerprint],
  );
  return rows[0] ? toSshKey(rows[0]) : null;
}
