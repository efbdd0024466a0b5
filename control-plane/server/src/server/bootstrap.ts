import type { Database } from "../db/types.js";
import { API_TOKEN_PREFIX, generateToken, hashToken } from "../auth/tokens.js";
import { countUsers, createUser, insertApiToken } from "../model/users.js";

const BOOTSTRAP_LOCK = 720_431_338;

/** On an empty database: creates the `admin` user and returns its token (shown once); else null. */
export async function bootstrapAdmin(db: Database): Promise<string | null> {
  return db.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock($1)", [BOOTSTRAP_LOCK]);
    if ((await countUsers(tx)) > 0) return null;
    const user = await createUser(tx, { login: "admin", name: "Administrator", role: "admin" });
    const token = generateToken(API_TOKEN_PREFIX);
    await insertApiToken(tx, user.id, hashToken(token), "bootstrap");
    return token;
  });
}
