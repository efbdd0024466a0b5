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

/** A personal API token as listed (never the token itself, only known at creation). */
export interface ApiToken {
  id: string;
  userId: string;
  label: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  /** Null: never expires. */
  expiresAt: Date | null;
}

const toApiToken = (r: Record<string, unknown>): ApiToken => ({
  id: String(r.id),
  userId: String(r.user_id),
  label: String(r.label ?? ""),
  createdAt: new Date(r.created_at as string),
  lastUsedAt: r.last_used_at ? new Date(r.last_used_at as string) : null,
  expiresAt: r.expires_at ? new Date(r.expires_at as string) : null,
});

/** Stores a token by its hash only; returns its id. */
export async function insertApiToken(
  q: Queryable,
  userId: string,
  tokenHash: string,
  label: string,
  expiresAt: Date | null = null,
): Promise<string> {
  const id = randomUUID();
  await q.query(
    "INSERT INTO api_tokens (id, user_id, token_hash, label, expires_at) VALUES ($1, $2, $3, $4, $5)",
    [id, userId, tokenHash, label, expiresAt?.toISOString() ?? null],
  );
  return id;
}

/**
 * The user of an unrevoked token, with project memberships and the token (whose `expiresAt` the
 * caller checks); null for unknown or revoked tokens and removed users (their tokens go with them).
 */
export async function userByTokenHash(
  q: Queryable,
  tokenHash: string,
): Promise<{ user: User; projectIds: string[]; token: ApiToken } | null> {
  const { rows } = await q.query(
    `SELECT u.*, COALESCE(
        (SELECT array_agg(pm.project_id::text) FROM project_members pm WHERE pm.user_id = u.id),
        '{}') AS project_ids,
        t.id AS token_id, t.label AS token_label, t.created_at AS token_created_at,
        t.last_used_at, t.expires_at
       FROM api_tokens t JOIN users u ON u.id = t.user_id
      WHERE t.token_hash = $1 AND t.revoked_at IS NULL`,
    [tokenHash],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    user: toUser(row),
    projectIds: (row.project_ids as string[] | null) ?? [],
    token: toApiToken({
      ...row,
      id: row.token_id,
      user_id: row.id,
      label: row.token_label,
      created_at: row.token_created_at,
    }),
  };
}

/** Records a token's use at `at` unless it was recorded less than a minute before. */
export async function touchApiToken(q: Queryable, id: string, at: Date): Promise<void> {
  await q.query(
    `UPDATE api_tokens SET last_used_at = $2
      WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2::timestamptz - interval '1 minute')`,
    [id, at.toISOString()],
  );
}

/** A user's unrevoked tokens (expired ones included), oldest first. */
export async function listApiTokens(q: Queryable, userId: string): Promise<ApiToken[]> {
  const { rows } = await q.query(
    "SELECT * FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at, id",
    [userId],
  );
  return rows.map(toApiToken);
}

/**
 * Revokes an unrevoked token (of `ownerId` only, unless null); the token and its owner's login,
 * or null when there is no such token.
 */
export async function revokeApiToken(
  q: Queryable,
  id: string,
  ownerId: string | null,
  at: Date,
): Promise<(ApiToken & { login: string }) | null> {
  const { rows } = await q.query(
    `UPDATE api_tokens t SET revoked_at = $3 FROM users u
      WHERE t.id::text = $1 AND t.revoked_at IS NULL AND ($2::uuid IS NULL OR t.user_id = $2::uuid)
        AND u.id = t.user_id
      RETURNING t.*, u.login`,
    [id, ownerId, at.toISOString()],
  );
  const row = rows[0];
  return row ? { ...toApiToken(row), login: String(row.login) } : null;
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
