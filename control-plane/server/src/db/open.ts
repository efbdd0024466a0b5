import { mkdir } from "node:fs/promises";
import { z } from "zod";
import { migrate } from "./migrate.js";
import { PgliteDatabase } from "./pglite.js";
import { PostgresDatabase } from "./postgres.js";
import type { Database } from "./types.js";

export const databaseConfigSchema = z.object({
  /** PostgreSQL connection string; unset means embedded PGlite. */
  url: z.string().url().optional(),
  /** PGlite data directory; unset with no url means in memory. */
  dataDir: z.string().optional(),
  /** PostgreSQL schema to use (tests isolate themselves with one). */
  schema: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/)
    .optional(),
});
export type DatabaseConfig = z.infer<typeof databaseConfigSchema>;

/** Opens the configured database and brings its schema up to date. */
export async function openDatabase(config: DatabaseConfig): Promise<Database> {
  let db: Database;
  if (config.url) {
    const pgdb = new PostgresDatabase({
      connectionString: config.url,
      ...(config.schema ? { schema: config.schema } : {}),
    });
    if (config.schema) await pgdb.query(`CREATE SCHEMA IF NOT EXISTS ${config.schema}`);
    db = pgdb;
  } else {
    if (config.dataDir) await mkdir(config.dataDir, { recursive: true });
    db = await PgliteDatabase.open(config.dataDir);
  }
  try {
    await migrate(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  return db;
}
