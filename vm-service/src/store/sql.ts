/**
 * The SQL database vm-service keeps its machines in: the control plane's own (PGlite or
 * PostgreSQL) when composed into `drover up`, or PostgreSQL (`DATABASE_URL`) when it runs alone.
 * One dialect (PostgreSQL), positional parameters; a `transaction` callback commits when it resolves.
 */
export interface SqlQueryable {
  query<T = Record<string, unknown>>(
    sql: string,
    params?: unknown[],
  ): Promise<{ rows: T[]; rowCount: number }>;
}

export interface SqlDatabase extends SqlQueryable {
  transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T>;
}
