/**
 * The database: one SQL dialect (PostgreSQL) behind two implementations, PGlite (embedded default,
 * data under `.drover/`) and PostgreSQL via `pg` (`DATABASE_URL`). Both pass one shared suite.
 *
 * Parameters are positional (`$1`, `$2`). A `transaction` callback gets a `Queryable` bound to one
 * connection; it commits when the callback resolves and rolls back when it throws. Migrations
 * (`db/migrations/NNN_name.sql`, applied in order, each once) run before the database is handed out.
 */
export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<T>>;
}

export interface Database extends Queryable {
  readonly kind: "pglite" | "postgres";
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
