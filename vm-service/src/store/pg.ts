/** A `SqlDatabase` on PostgreSQL (`pg`), for vm-service running on its own. */
import pg from "pg";
import type { SqlDatabase, SqlQueryable } from "./sql.js";

export interface PostgresSqlOptions {
  connectionString: string;
  /** A schema to work in (tests isolate themselves with one); created when missing. */
  schema?: string;
}

export class PostgresSql implements SqlDatabase {
  private readonly pool: pg.Pool;
  private readonly ready: Promise<void>;

  constructor(opts: PostgresSqlOptions) {
    const schema = opts.schema;
    if (schema && !/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`bad schema name ${schema}`);
    this.pool = new pg.Pool({
      connectionString: opts.connectionString,
      max: 10,
      // A burst of leases after a quiet minute should not pay for new connections.
      idleTimeoutMillis: 60_000,
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
    });
    // A server restart ends idle connections; the pool drops them (unhandled, it ends the process).
    this.pool.on("error", () => undefined);
    this.ready = schema
      ? this.pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`).then(() => undefined)
      : Promise.resolve();
  }

  async query<T>(sql: string, params?: unknown[]): Promise<{ rows: T[]; rowCount: number }> {
    await this.ready;
    const r = await this.pool.query(sql, params);
    return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 };
  }

  async transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T> {
    await this.ready;
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      const tx: SqlQueryable = {
        query: async <R>(sql: string, params?: unknown[]) => {
          const r = await client.query(sql, params);
          return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
        },
      };
      const out = await fn(tx);
      await client.query("COMMIT");
      return out;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
