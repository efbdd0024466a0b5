import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { DatabaseError } from "./errors.js";
import type { Database } from "./types.js";

/** `src/db/migrations`, both from `src/db` (tests) and `dist/db` (built). */
export const MIGRATIONS_DIR = fileURLToPath(new URL("../../src/db/migrations/", import.meta.url));

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const FILE = /^(\d{3})_([a-z0-9_]+)\.sql$/;

/** Reads `NNN_name.sql` files in version order; a duplicate version is an error. */
export async function loadMigrations(dir: string = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".sql")).sort();
  const seen = new Map<number, string>();
  const migrations: Migration[] = [];
  for (const file of files) {
    const m = FILE.exec(file);
    if (!m) {
      throw new DatabaseError(
        "DROVER_ERR_DB_MIGRATION",
        `migration file name ${file} is not NNN_name.sql`,
      );
    }
    const version = Number(m[1]);
    const other = seen.get(version);
    if (other) {
      throw new DatabaseError(
        "DROVER_ERR_DB_MIGRATION",
        `migrations ${other} and ${file} share version ${version}`,
      );
    }
    seen.set(version, file);
    migrations.push({ version, name: m[2] ?? file, sql: await readFile(`${dir}/${file}`, "utf8") });
  }
  return migrations;
}

// Any constant works; it only has to be the same for every instance.
const MIGRATION_LOCK = 720_431_337;

/**
 * Applies every migration not yet applied, each in its own transaction, in version order. An
 * advisory lock makes concurrent instances on one PostgreSQL wait for each other.
 */
export async function migrate(db: Database, migrations?: Migration[]): Promise<number[]> {
  const all = migrations ?? (await loadMigrations());
  return db.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
    await tx.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         version integer PRIMARY KEY,
         name text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const done = new Set(
      (await tx.query<{ version: number }>("SELECT version FROM schema_migrations")).rows.map(
        (r) => r.version,
      ),
    );
    const applied: number[] = [];
    for (const m of all) {
      if (done.has(m.version)) continue;
      try {
        for (const statement of splitStatements(m.sql)) await tx.query(statement);
      } catch (err) {
        throw new DatabaseError(
          "DROVER_ERR_DB_MIGRATION",
          `migration ${m.version}_${m.name} failed: ${err instanceof Error ? err.message : String(err)}`,
          { cause: err },
        );
      }
      await tx.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [
        m.version,
        m.name,
      ]);
      applied.push(m.version);
    }
    return applied;
  });
}

/**
 * Splits a migration into statements on `;` at line ends, keeping `$$`-quoted bodies whole
 * (extended-protocol queries take one statement at a time).
 */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let current = "";
  let inDollar = false;
  for (const line of sql.split("\n")) {
    const trimmed = line.trim();
    if (!inDollar && (trimmed.startsWith("--") || trimmed === "")) continue;
    if ((line.match(/\$\$/g)?.length ?? 0) % 2 === 1) inDollar = !inDollar;
    current += line + "\n";
    if (!inDollar && trimmed.endsWith(";")) {
      out.push(current.trim());
      current = "";
    }
  }
  if (current.trim()) out.push(current.trim());
  return out;
}
