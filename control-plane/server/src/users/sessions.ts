import { randomBytes, randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Database, Queryable } from "../db/types.js";
import { recordAudit } from "../audit/log.js";
import { DroverError } from "../errors/index.js";
import { hashToken } from "../auth/tokens.js";
import type { AuditEntity } from "../audit/events.js";
import {
  DEFAULT_SCRYPT,
  hashPassword,
  needsRehash,
  passwordProblem,
  verifyPassword,
  type ScryptParams,
} from "./passwords.js";

export const SESSION_COOKIE = "drover_session";
const LOGIN = /^[A-Za-z0-9_.-]{1,64}$/;

/** Error of users and sessions; statuses in `ERROR_CODES`. */
export class UsersError extends DroverError<
  "DROVER_ERR_USERS_INVALID" | "DROVER_ERR_USERS_CONFLICT" | "DROVER_ERR_USERS_FORBIDDEN"
> {}

/** The user behind a session, shaped like the API's principal. */
export interface SessionUser {
  userId: string;
  login: string;
  name: string;
  role: "admin" | "member";
  projectIds: ReadonlySet<string>;
}

export interface RequestMeta {
  requestId?: string | undefined;
  ip?: string | undefined;
  userAgent?: string | undefined;
}

/**
 * Local users' passwords and browser sessions. A session token is 256 random bits, stored only as
 * its sha256, carried in an HttpOnly, Secure, SameSite=Lax cookie; it expires after `ttlMs`
 * (default 12 h) and on logout. Logins (successful and refused) and logouts are audited.
 */
export class SessionService {
  private readonly ttlMs: number;
  private readonly scrypt: ScryptParams;
  private dummy: Promise<string> | undefined;
  private readonly log: Logger | undefined;

  constructor(
    private readonly deps: {
      db: Database;
      logger?: Logger;
      ttlMs?: number;
      scrypt?: ScryptParams;
    },
  ) {
    this.ttlMs = deps.ttlMs ?? 12 * 3600_000;
    this.scrypt = deps.scrypt ?? DEFAULT_SCRYPT;
    this.log = deps.logger?.child({ unit: "sessions" });
  }

  get ttlSeconds(): number {
    return Math.floor(this.ttlMs / 1000);
  }

  /** Sets (or replaces) a user's password. */
  async setPassword(q: Queryable, userId: string, password: string): Promise<void> {
    const problem = passwordProblem(password);
    if (problem) throw new UsersError("DROVER_ERR_USERS_INVALID", problem);
    const hash = await hashPassword(password, this.scrypt);
    await q.query(
      `INSERT INTO user_passwords (user_id, hash) VALUES ($1, $2)
       ON CONFLICT (user_id) DO UPDATE SET hash = EXCLUDED.hash, updated_at = now()`,
      [userId, hash],
    );
  }

  /** Creates a local user with a password, recording `user.create`. */
  async createLocalUser(
    actor: AuditEntity,
    input: { login: unknown; name?: unknown; role?: unknown; password: unknown },
    meta: RequestMeta = {},
  ): Promise<{ id: string; login: string; name: string; role: "admin" | "member" }> {
    if (typeof input.login !== "string" || !LOGIN.test(input.login)) {
      throw new UsersError(
        "DROVER_ERR_USERS_INVALID",
        "login: 1-64 letters, digits, '.', '_' or '-'",
      );
    }
    const role = input.role ?? "member";
    if (role !== "admin" && role !== "member") {
      throw new UsersError("DROVER_ERR_USERS_INVALID", "role: admin or member");
    }
    const name =
      typeof input.name === "string" && input.name !== "" ? input.name.slice(0, 200) : input.login;
    const problem = passwordProblem(input.password);
    if (problem) throw new UsersError("DROVER_ERR_USERS_INVALID", problem);
    const hash = await hashPassword(input.password as string, this.scrypt);
    const login = input.login;
    return this.deps.db.transaction(async (tx) => {
      const id = randomUUID();
      const { rows } = await tx.query(
        `INSERT INTO users (id, login, name, role) VALUES ($1, $2, $3, $4)
         ON CONFLICT (login) DO NOTHING RETURNING id`,
        [id, login, name, role],
      );
      if (!rows[0]) throw new UsersError("DROVER_ERR_USERS_CONFLICT", `user ${login} exists`);
      await tx.query("INSERT INTO user_passwords (user_id, hash) VALUES ($1, $2)", [id, hash]);
      await recordAudit(tx, {
        action: "user.create",
        actor,
        target: { id, type: "user", name: login },
        payload: { user: { login, name, role } },
        requestId: meta.requestId ?? null,
      });
      return { id, login, name, role };
    });
  }

  /**
   * Checks the password and opens a session. Unknown users cost the same scrypt work as known
   * ones. A refusal is audited (`success: false`) and returns null.
   */
  async login(
    login: string,
    password: string,
    meta: RequestMeta = {},
  ): Promise<{ token: string; user: SessionUser; expiresAt: Date } | null> {
    const db = this.deps.db;
    const { rows } = await db.query<{
      id: string;
      login: string;
      name: string;
      role: "admin" | "member";
      hash: string | null;
    }>(
      `SELECT u.id, u.login, u.name, u.role, p.hash FROM users u
         LEFT JOIN user_passwords p ON p.user_id = u.id WHERE u.login = $1`,
      [login],
    );
    const row = rows[0];
    this.dummy ??= hashPassword(randomBytes(16).toString("hex"), this.scrypt);
    const ok =
      typeof password === "string" &&
      (await verifyPassword(password, row?.hash ?? (await this.dummy))) &&
      Boolean(row?.hash);
    const actor: AuditEntity = row
      ? { id: row.id, type: "user", name: row.login }
      : { id: `unknown:${login.slice(0, 64)}`, type: "user", name: login.slice(0, 64) };
    if (!ok || !row) {
      await recordAudit(db, {
        action: "user.logged_in",
        actor,
        target: actor,
        success: false,
        payload: { reason: "invalid login or password" },
        metadata: metaOf(meta),
        requestId: meta.requestId ?? null,
      });
      this.log?.info({ login: actor.name }, "login refused");
      return null;
    }
    const token = randomBytes(32).toString("base64url");
    const expiresAt = new Date(Date.now() + this.ttlMs);
    await db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO user_sessions (id, user_id, token_hash, expires_at, ip, user_agent)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [
          randomUUID(),
          row.id,
          hashToken(token),
          expiresAt.toISOString(),
          meta.ip ?? null,
          meta.userAgent?.slice(0, 512) ?? null,
        ],
      );
      if (needsRehash(row.hash!, this.scrypt)) await this.setPassword(tx, row.id, password);
      await recordAudit(tx, {
        action: "user.logged_in",
        actor,
        target: actor,
        metadata: metaOf(meta),
        requestId: meta.requestId ?? null,
      });
    });
    const user = await this.authenticate(token);
    if (!user) throw new Error("session vanished right after login");
    return { token, user, expiresAt };
  }

  /** Ends the session; records `user.logged_out`. False when it was unknown or already over. */
  async logout(token: string, meta: RequestMeta = {}): Promise<boolean> {
    return this.deps.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ user_id: string; login: string }>(
        `UPDATE user_sessions s SET revoked_at = now() FROM users u
          WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now() AND u.id = s.user_id
          RETURNING s.user_id, u.login`,
        [hashToken(token)],
      );
      const row = rows[0];
      if (!row) return false;
      const actor: AuditEntity = { id: row.user_id, type: "user", name: row.login };
      await recordAudit(tx, {
        action: "user.logged_out",
        actor,
        target: actor,
        metadata: metaOf(meta),
        requestId: meta.requestId ?? null,
      });
      return true;
    });
  }

  /** The user of a live session, or null. */
  async authenticate(token: string): Promise<SessionUser | null> {
    if (!token) return null;
    const { rows } = await this.deps.db.query<{
      id: string;
      login: string;
      name: string;
      role: "admin" | "member";
      project_ids: string[] | null;
    }>(
      `UPDATE user_sessions s SET last_seen_at = now() FROM users u
        WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now() AND u.id = s.user_id
        RETURNING u.id, u.login, u.name, u.role,
          (SELECT array_agg(pm.project_id::text) FROM project_members pm WHERE pm.user_id = u.id) AS project_ids`,
      [hashToken(token)],
    );
    const r = rows[0];
    if (!r) return null;
    return {
      userId: r.id,
      login: r.login,
      name: r.name,
      role: r.role,
      projectIds: new Set(r.project_ids ?? []),
    };
  }
}

function metaOf(meta: RequestMeta): Record<string, string> {
  const out: Record<string, string> = {};
  if (meta.ip) out.ip = meta.ip;
  if (meta.userAgent) out.user_agent = meta.userAgent.slice(0, 512);
  return out;
}

/** `Set-Cookie` value of a session: HttpOnly, Secure, SameSite=Lax, whole site, `maxAge` seconds. */
export function sessionCookie(token: string, maxAgeSeconds: number): string {
  return `${SESSION_COOKIE}=${token}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; Secure; SameSite=Lax`;
}

/** `Set-Cookie` value that deletes the session cookie. */
export function clearSessionCookie(): string {
  return `${SESSION_COOKIE}=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax`;
}

/** The session token from a `Cookie` header, if any. */
export function readSessionCookie(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) {
      const v = part.slice(eq + 1).trim();
      return /^[A-Za-z0-9_-]{1,128}$/.test(v) ? v : undefined;
    }
  }
  return undefined;
}
