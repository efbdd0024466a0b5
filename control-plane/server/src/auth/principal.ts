import type { Database } from "../db/types.js";
import { touchApiToken, userByTokenHash } from "../model/users.js";
import type { Role } from "../model/records.js";
import { UsersError } from "../users/errors.js";
import { hashToken } from "./tokens.js";

/** Who a request acts as: the user behind its API token. */
export interface Principal {
  userId: string;
  login: string;
  name: string;
  role: Role;
  /** Projects the user is a member of (admins see every project regardless). */
  projectIds: ReadonlySet<string>;
}

/** True when the principal may see the project. */
export function canSeeProject(p: Principal, projectId: string): boolean {
  return p.role === "admin" || p.projectIds.has(projectId);
}

/**
 * Resolves API tokens (`Circle-Token` or `Authorization: Bearer`) to principals, reading the
 * database on every call (no cache), so a revoked token or a removed user stops at once.
 */
export class TokenAuthenticator {
  private readonly now: () => Date;

  constructor(
    private readonly db: Database,
    opts: { now?: () => Date } = {},
  ) {
    this.now = opts.now ?? (() => new Date());
  }

  /**
   * The principal of a live token; null for an unknown or revoked one. An expired token throws
   * `DROVER_ERR_USERS_TOKEN_EXPIRED` (401) so its holder learns why.
   */
  async authenticate(token: string): Promise<Principal | null> {
    const found = await userByTokenHash(this.db, hashToken(token));
    if (!found) return null;
    const now = this.now();
    const expiresAt = found.token.expiresAt;
    if (expiresAt && expiresAt.getTime() <= now.getTime()) {
      throw new UsersError(
        "DROVER_ERR_USERS_TOKEN_EXPIRED",
        `This API token expired at ${expiresAt.toISOString()}; create a new one.`,
      );
    }
    const lastUsed = found.token.lastUsedAt?.getTime() ?? 0;
    if (now.getTime() - lastUsed >= 60_000) await touchApiToken(this.db, found.token.id, now);
    return {
      userId: found.user.id,
      login: found.user.login,
      name: found.user.name,
      role: found.user.role,
      projectIds: new Set(found.projectIds),
    };
  }
}
