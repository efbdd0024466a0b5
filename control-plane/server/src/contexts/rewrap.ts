import type { Database } from "../db/types.js";
import { ciphertextVersion, type SecretStore } from "../secrets/types.js";

interface Table {
  name: "project_env_vars" | "context_env_vars";
  key: "project_id" | "context_id";
}

const TABLES: Table[] = [
  { name: "project_env_vars", key: "project_id" },
  { name: "context_env_vars", key: "context_id" },
];

/**
 * After `store.rotate()`: re-encrypts every stored env var and context value whose ciphertext is
 * older than the key's latest version, `batch` rows at a time, through `store.rewrap` (plaintext
 * never leaves the store). A row changed meanwhile (its ciphertext no longer the one read) is left
 * for the next run. Idempotent; returns how many values were rewrapped.
 */
export async function rewrapStoredSecrets(
  deps: { db: Database; store: SecretStore },
  batch = 200,
): Promise<number> {
  const latest = (await deps.store.keyInfo()).latestVersion;
  let total = 0;
  for (const t of TABLES) {
    let after = { id: "00000000-0000-0000-0000-000000000000", name: "" };
    for (;;) {
      const { rows } = await deps.db.query<{ id: string; name: string; ciphertext: string }>(
        `SELECT ${t.key} AS id, name, ciphertext FROM ${t.name}
          WHERE (${t.key}, name) > ($1::uuid, $2) ORDER BY ${t.key}, name LIMIT $3`,
        [after.id, after.name, batch],
      );
      if (rows.length === 0) break;
      after = { id: rows[rows.length - 1]!.id, name: rows[rows.length - 1]!.name };
      const stale = rows.filter((r) => (ciphertextVersion(r.ciphertext) ?? latest) < latest);
      if (stale.length > 0) {
        const fresh = await deps.store.rewrap(stale.map((r) => r.ciphertext));
        await deps.db.transaction(async (tx) => {
          for (const [i, r] of stale.entries()) {
            const { rowCount } = await tx.query(
              `UPDATE ${t.name} SET ciphertext = $4
                WHERE ${t.key} = $1 AND name = $2 AND ciphertext = $3`,
              [r.id, r.name, r.ciphertext, fresh[i]],
            );
            total += rowCount;
          }
        });
      }
      if (rows.length < batch) break;
    }
  }
  return total;
}
