import type { Database } from "../db/types.js";
import { userByTokenHash } from "../model/users.js";
import type { Role } from "../model/records.js";
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

/** Resolves API tokens (`Circle-Token` or `Authorization: Bearer`) to principals. */
export class TokenAuthenticator {
  constructor(private readonly db: Database) {}

  async authenticate(token: string): Promise<Principal | null> {
    const found = await userByTokenHash(this.db, hashToken(token));
    if (!found) return null;
    return {
      userId: found.user.id,
      login: found.user.login,
      name: found.user.name,
      role: found.user.role,
      projectIds: new Set(found.projectIds),
    };
  }
}
