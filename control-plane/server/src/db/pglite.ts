import { PGlite } from "@electric-sql/pglite";
import type { Database, Queryable, QueryResult } from "./types.js";

/** Embedded PostgreSQL (WASM). One connection: statements and transactions are serialized. */
export class PgliteDatabase implements Database {
  readonly kind = "pglite" as const;

  private constructor(private readonly db: PGlite) {}

  /** Opens (creating if needed) a database in `dataDir`, or in memory when it is undefined. */
  static async open(dataDir?: string): Promise<PgliteDatabase> {
    const db = dataDir ? await PGlite.create(dataDir) : await PGlite.create();
    return new PgliteDatabase(db);
  }

  async query<T = Record<string, unknown>>(
    sql: string,
    params?: unknown[],
  ): Promise<QueryResult<T>> {
    const result = await this.db.query<T>(sql, params);
    return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
  }

  /** Runs several `;`-separated statements (migrations). */
  async exec(sql: string): Promise<void> {
    await this.db.exec(sql);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) =>
      fn({
        query: async <R>(sql: string, params?: unknown[]) => {
          const result = await tx.query<R>(sql, params);
          return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
        },
      }),
    );
  }

  async close(): Promise<void> {
    if (!this.db.closed) await this.db.close();
  }
}
