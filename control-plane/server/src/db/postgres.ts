import pg from "pg";
import type { Database, Queryable, QueryResult } from "./types.js";

export interface PostgresOptions {
  connectionString: string;
  /** Schema to put first on the search path (tests isolate themselves this way). */
  schema?: string;
  maxConnections?: number;
}

// Return bigint/numeric as JS numbers where they fit; timestamps stay Date like PGlite's.
pg.types.setTypeParser(20, (v) => Number(v));

/** PostgreSQL through a `pg` pool. */
export class PostgresDatabase implements Database {
  readonly kind = "postgres" as const;
  private readonly pool: pg.Pool;

  constructor(options: PostgresOptions) {
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.maxConnections ?? 10,
      ...(options.schema ? { options: `-c search_path=${options.schema},public` } : {}),
    });
    // An idle connection the server ends (a restart) is dropped by the pool; unhandled, its
    // 'error' event would end the process. The next query opens a new connection.
    this.pool.on("error", () => undefined);
  }

  async query<T = Record<string, unknown>>(
    sql: string,
    params?: unknown[],
  ): Promise<QueryResult<T>> {
    const result = await this.pool.query(sql, params);
    return { rows: result.rows as T[], rowCount: result.rowCount ?? result.rows.length };
  }

  /** Runs several `;`-separated statements (migrations). */
  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      const result = await fn({
        query: async <R>(sql: string, params?: unknown[]) => {
          const r = await client.query(sql, params);
          return { rows: r.rows as R[], rowCount: r.rowCount ?? r.rows.length };
        },
      });
      await client.query("COMMIT");
      return result;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
